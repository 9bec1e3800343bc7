import Testing
@testable import CLLMModel

/// Finite-difference checks of the backward pass: every tensor of the model, at tiny sizes, including a
/// width that is not a multiple of the SIMD width (so scalar tails are exercised too).
@Suite("Gradient check")
struct GradientCheckTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let config: ModelConfig
        let batch: Int
        let time: Int
        var testDescription: String { "C\(config.width) H\(config.heads) L\(config.layers) V\(config.vocabSize) B\(batch) T\(time)" }
    }

    static let cases = [
        Case(config: ModelConfig(vocabSize: 11, contextLength: 9, layers: 2, heads: 2, width: 16), batch: 2, time: 9),
        Case(config: ModelConfig(vocabSize: 7, contextLength: 6, layers: 1, heads: 3, width: 12), batch: 3, time: 5),
    ]

    /// Summed loss in Double, for finite differences.
    static func loss(_ params: FloatBuffer, _ layout: ParameterLayout, _ act: Activations) -> Double {
        GPT.forward(parameters: params.pointer, layout: layout, activations: act)
    }

    static func setUp(_ c: Case, seed: UInt64) -> (ParameterLayout, FloatBuffer, Activations) {
        let layout = ParameterLayout(c.config)
        let params = FloatBuffer(count: layout.count)
        Initialization.initialize(params.pointer, layout: layout, seed: seed)
        // Larger-than-default weights and non-trivial norms/biases make every path carry signal.
        var rng = RandomSource(seed: seed &+ 1)
        for i in 0..<layout.count { params[i] += Float(rng.nextNormal() * 0.3) }
        let act = Activations(config: c.config, batch: c.batch, time: c.time)
        for i in 0..<(c.batch * c.time) {
            act.inputs[i] = Int32(rng.next() % UInt64(c.config.vocabSize))
            act.labels[i] = Int32(rng.next() % UInt64(c.config.vocabSize))
        }
        return (layout, params, act)
    }

    @Test("each tensor's gradient matches central differences", arguments: cases)
    func everyTensor(_ c: Case) throws {
        let (layout, params, act) = Self.setUp(c, seed: 42)
        let grads = FloatBuffer(count: layout.count)
        GPT.forwardBackward(parameters: params.pointer, gradients: grads.pointer, layout: layout, activations: act, lossScale: 1)
        let h: Float = 1e-2
        var totalDiff = 0.0, totalRef = 0.0
        for tensor in layout.tensors {
            var diff2 = 0.0, ref2 = 0.0
            // Up to 24 entries per tensor, spread across it.
            let stride = max(1, tensor.count / 24)
            for j in Swift.stride(from: 0, to: tensor.count, by: stride) {
                let i = tensor.offset + j
                let saved = params[i]
                params[i] = saved + h
                let up = Self.loss(params, layout, act)
                params[i] = saved - h
                let down = Self.loss(params, layout, act)
                params[i] = saved
                let fd = (up - down) / (2 * Double(h))
                let an = Double(grads[i])
                diff2 += (an - fd) * (an - fd)
                ref2 += fd * fd
            }
            totalDiff += diff2
            totalRef += ref2
            let rel = diff2.squareRoot() / max(ref2.squareRoot(), 1e-3)
            #expect(rel < 2e-2, "\(tensor.name): relative error \(rel), |fd| = \(ref2.squareRoot())")
        }
        let rel = totalDiff.squareRoot() / totalRef.squareRoot()
        #expect(rel < 1e-2, "whole model relative error \(rel)")
    }

    @Test("gradients scale linearly with the loss scale")
    func lossScale() {
        let (layout, params, act) = Self.setUp(Self.cases[0], seed: 7)
        let g1 = FloatBuffer(count: layout.count), g4 = FloatBuffer(count: layout.count)
        GPT.forwardBackward(parameters: params.pointer, gradients: g1.pointer, layout: layout, activations: act, lossScale: 0.25)
        GPT.forwardBackward(parameters: params.pointer, gradients: g4.pointer, layout: layout, activations: act, lossScale: 1)
        var maxErr: Float = 0
        for i in 0..<layout.count { maxErr = max(maxErr, abs(g1[i] * 4 - g4[i])) }
        #expect(maxErr < 1e-5)
    }
}
