import Testing
@testable import CLLMModel

@Suite("AdamW")
struct AdamWTests {
    @Test("one step matches hand-computed values, with decay on 2-D tensors only")
    func oneStep() throws {
        // vocab 2, context 1, width 8: wte [2, 8] decays; ln biases do not.
        let cfg = ModelConfig(vocabSize: 2, contextLength: 1, layers: 1, heads: 1, width: 8)
        let layout = ParameterLayout(cfg)
        let p = FloatBuffer(count: layout.count), g = FloatBuffer(count: layout.count)
        for i in 0..<layout.count { p[i] = 0.5; g[i] = 0.2 }
        let opt = AdamW(layout: layout)
        var h = Hyperparameters()
        h.beta1 = 0.9; h.beta2 = 0.99; h.epsilon = 1e-8; h.weightDecay = 0.1
        let u = opt.nextUpdate(hyperparameters: h, learningRate: 0.01, gradientScale: 0.5)
        opt.apply(u, parameters: p.pointer, gradients: g.pointer, range: 0..<layout.count)
        // By hand: g' = 0.1; m = 0.01; v = 1e-4; m̂ = 0.1; v̂ = 0.01; update = m̂/(√v̂ + eps) = 0.1/0.1 ≈ 1.
        // decayed: 0.5·(1 − 0.01·0.1) − 0.01·1 = 0.4895; not decayed: 0.5 − 0.01 = 0.49.
        let wte = try #require(layout.tensor(named: "transformer.wte.weight"))
        let bias = try #require(layout.tensor(named: "transformer.h.0.ln_1.bias"))
        #expect(abs(p[wte.offset] - 0.4895) < 1e-6)
        #expect(abs(p[bias.offset] - 0.49) < 1e-6)
        #expect(abs(opt.firstMoment[0] - 0.01) < 1e-8)
        #expect(abs(opt.secondMoment[0] - 1e-4) < 1e-10)
    }

    @Test("any sharding of the update gives the same bits")
    func sharding() {
        let cfg = ModelConfig(vocabSize: 13, contextLength: 5, layers: 2, heads: 2, width: 8)
        let layout = ParameterLayout(cfg)
        var rng = RandomSource(seed: 1)
        let p1 = FloatBuffer(count: layout.count), p2 = FloatBuffer(count: layout.count), g = FloatBuffer(count: layout.count)
        for i in 0..<layout.count { p1[i] = Float(rng.nextNormal()); p2[i] = p1[i]; g[i] = Float(rng.nextNormal()) }
        let a = AdamW(layout: layout), b = AdamW(layout: layout)
        let h = Hyperparameters()
        for _ in 0..<3 {
            a.apply(a.nextUpdate(hyperparameters: h, learningRate: 1e-3, gradientScale: 0.7), parameters: p1.pointer, gradients: g.pointer, range: 0..<layout.count)
            var start = 0
            let u = b.nextUpdate(hyperparameters: h, learningRate: 1e-3, gradientScale: 0.7)
            while start < layout.count {
                let end = min(layout.count, start + 37)
                b.apply(u, parameters: p2.pointer, gradients: g.pointer, range: start..<end)
                start = end
            }
            a.step += 1; b.step += 1
        }
        #expect(p1.array == p2.array)
        #expect(a.secondMoment.array == b.secondMoment.array)
    }

    @Test("clip scale follows clip_grad_norm_")
    func clip() {
        #expect(AdamW.clipScale(norm: 0.5, clip: 1) == 1)
        #expect(abs(AdamW.clipScale(norm: 4, clip: 1) - 0.25) < 1e-6)
        #expect(AdamW.clipScale(norm: 4, clip: 0) == 1)
    }

    @Test("learning-rate schedule: warm-up, cosine, floor")
    func schedule() {
        var h = Hyperparameters()
        h.steps = 2000; h.warmupSteps = 100; h.learningRate = 1e-3; h.minLearningRate = 1e-4
        #expect(abs(h.learningRate(at: 0) - 1e-3 / 101) < 1e-12)
        #expect(abs(h.learningRate(at: 100) - 1e-3) < 1e-12)
        #expect(abs(h.learningRate(at: 1050) - 5.5e-4) < 1e-9)
        #expect(abs(h.learningRate(at: 2000) - 1e-4) < 1e-12)
        #expect(h.learningRate(at: 2500) == 1e-4)
    }
}
