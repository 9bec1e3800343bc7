import CLLMKernels
import Testing
@testable import CLLMModel

@Suite("Model")
struct ModelTests {
    static let reference = ModelConfig(vocabSize: 65, contextLength: 64, layers: 4, heads: 4, width: 128)

    @Test("the reference config has the PyTorch peer's parameter count")
    func parameterCount() {
        #expect(ParameterLayout(Self.reference).count == 809_856)
    }

    @Test("layout names are Hugging Face GPT-2 names, contiguous, in order")
    func layoutNames() {
        let layout = ParameterLayout(Self.reference)
        #expect(layout.tensors.first?.name == "transformer.wte.weight")
        #expect(layout.tensors.last?.name == "transformer.ln_f.bias")
        #expect(layout.tensor(named: "transformer.h.3.mlp.c_fc.weight")?.shape == [128, 512])
        var offset = 0
        for t in layout.tensors {
            #expect(t.offset == offset)
            offset += t.count
        }
        #expect(offset == layout.count)
    }

    @Test("initialisation follows GPT-2: std 0.02, scaled residual projections, unit norms, zero biases")
    func initialisation() throws {
        let layout = ParameterLayout(Self.reference)
        let p = FloatBuffer(count: layout.count)
        Initialization.initialize(p.pointer, layout: layout, seed: 1)
        func std(_ name: String) throws -> Double {
            let t = try #require(layout.tensor(named: name))
            var s = 0.0
            for i in 0..<t.count { s += Double(p[t.offset + i]) * Double(p[t.offset + i]) }
            return (s / Double(t.count)).squareRoot()
        }
        #expect(abs(try std("transformer.h.0.mlp.c_fc.weight") - 0.02) < 0.001)
        #expect(abs(try std("transformer.h.0.mlp.c_proj.weight") - 0.02 / 8.0.squareRoot()) < 0.0005)
        let ln = try #require(layout.tensor(named: "transformer.h.1.ln_2.weight"))
        #expect((0..<ln.count).allSatisfy { p[ln.offset + $0] == 1 })
        let bias = try #require(layout.tensor(named: "transformer.h.1.attn.c_attn.bias"))
        #expect((0..<bias.count).allSatisfy { p[bias.offset + $0] == 0 })
    }

    @Test("initial loss is within 0.1 of ln(vocabulary)")
    func initialLoss() {
        let layout = ParameterLayout(Self.reference)
        let p = FloatBuffer(count: layout.count)
        Initialization.initialize(p.pointer, layout: layout, seed: 1337)
        let act = Activations(config: Self.reference, batch: 4, time: 64)
        var rng = RandomSource(seed: 3)
        for i in 0..<(4 * 64) {
            act.inputs[i] = Int32(rng.next() % 65)
            act.labels[i] = Int32(rng.next() % 65)
        }
        let loss = GPT.forward(parameters: p.pointer, layout: layout, activations: act) / Double(4 * 64)
        #expect(abs(loss - _log(65)) < 0.1, "loss \(loss)")
    }

    @Test("activation buffers are exactly what bytes(…) predicts")
    func activationBytes() {
        let c = ModelConfig(vocabSize: 65, contextLength: 64, layers: 2, heads: 4, width: 32)
        let a = Activations(config: c, batch: 3, time: 64)
        #expect(a.allocatedFloats * 4 + 2 * 3 * 64 * 4 == Activations.bytes(config: c, batch: 3, time: 64))
    }

    @Test("a stage profile times every stage of a pass and changes no bit of the gradient")
    func stageProfile() {
        let cfg = ModelConfig(vocabSize: 23, contextLength: 16, layers: 2, heads: 2, width: 32)
        let layout = ParameterLayout(cfg)
        let p = FloatBuffer(count: layout.count)
        Initialization.initialize(p.pointer, layout: layout, seed: 5)
        let rng = RandomSource(seed: 6)
        func pass(profile: StageProfile?) -> [Float] {
            let act = Activations(config: cfg, batch: 3, time: 16)
            act.profile = profile
            var r = rng
            for i in 0..<(3 * 16) {
                act.inputs[i] = Int32(r.next() % 23)
                act.labels[i] = Int32(r.next() % 23)
            }
            let g = FloatBuffer(count: layout.count)
            GPT.forwardBackward(parameters: p.pointer, gradients: g.pointer, layout: layout, activations: act, lossScale: 0.01)
            return g.array
        }
        let profile = StageProfile()
        let plain = pass(profile: nil)
        #expect(pass(profile: profile).elementsEqual(plain) { $0.bitPattern == $1.bitPattern })
        #expect(pass(profile: profile).elementsEqual(plain) { $0.bitPattern == $1.bitPattern })
        #expect(profile.times.passes == 2)
        let untimed = Stage.allCases.filter { profile.times[$0] == 0 }
        #expect(untimed.isEmpty, "stages never timed: \(untimed)")
        #expect(Set(Stage.allCases.map(\.label)).count == Stage.allCases.count)
    }

    @Test("kernel scratch: the largest call of a reference-config pass is the MLP's weight gradient, per build")
    func kernelScratch() {
        // fc dW: m 128, n 512, k 768 rows. AVX2: a panel of 32 strips × (256 × 16 + a 16-float pad), 16 row
        // tiles × (6 × 256 + a 16-float pad), a 6×16 tile and a 16-float bias strip; AVX-512: 16 strips 128
        // deep and 32 wide, a 6×32 tile and a 32-float strip.
        #expect(Gemm.scratchFloats(m: 128, n: 512, k: 768, vectorWidth: 8)
            == 32 * (256 * 16 + 16) + 16 * (6 * 256 + 16) + 6 * 16 + 16)
        #expect(Gemm.scratchFloats(m: 128, n: 512, k: 768, vectorWidth: 16)
            == 16 * (128 * 32 + 16) + 16 * (6 * 128 + 16) + 6 * 32 + 32)
        // Fewer rows than a pass is deep: the panel is only as deep as k.
        #expect(Gemm.scratchFloats(m: 128, n: 512, k: 100, vectorWidth: 8)
            == 32 * (100 * 16 + 16) + 16 * (6 * 100 + 16) + 6 * 16 + 16)
        let w = KernelBuild.current.vectorWidth
        #expect(GPT.kernelScratchBytes(config: Self.reference, batch: 12, time: 64)
            == 4 * Gemm.scratchFloats(m: 128, n: 512, k: 768, vectorWidth: w))
        let shape = Attention.Shape(batch: 12, time: 64, channels: 128, heads: 4)
        #expect(Attention.backwardScratchFloats(shape: shape, vectorWidth: 8) == 4 * (2048 + 3 * 2048) + 4096 + 384 + 96 + 384)
    }

    @Test("a single batch overfits to loss below 0.1")
    func overfit() {
        let cfg = ModelConfig(vocabSize: 16, contextLength: 16, layers: 2, heads: 2, width: 32)
        let layout = ParameterLayout(cfg)
        let p = FloatBuffer(count: layout.count), g = FloatBuffer(count: layout.count)
        Initialization.initialize(p.pointer, layout: layout, seed: 5)
        let act = Activations(config: cfg, batch: 2, time: 16)
        var rng = RandomSource(seed: 9)
        let seq = (0..<34).map { _ in Int32(rng.next() % 16) }
        for b in 0..<2 { for t in 0..<16 { act.inputs[b * 16 + t] = seq[b * 17 + t]; act.labels[b * 16 + t] = seq[b * 17 + t + 1] } }
        let opt = AdamW(layout: layout)
        var h = Hyperparameters()
        h.weightDecay = 0
        var loss = 0.0
        for _ in 0..<300 {
            loss = GPT.forwardBackward(parameters: p.pointer, gradients: g.pointer, layout: layout, activations: act, lossScale: 1.0 / 32) / 32
            let u = opt.nextUpdate(hyperparameters: h, learningRate: 3e-3, gradientScale: 1)
            opt.apply(u, parameters: p.pointer, gradients: g.pointer, range: 0..<layout.count)
            opt.step += 1
        }
        #expect(loss < 0.1, "final loss \(loss)")
    }
}
