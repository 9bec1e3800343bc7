import ArgumentParser
import CLLMKernels
import CLLMModel

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure cllm's own parts (for the peer comparison use Scripts/bench-vs-peer.sh).",
        subcommands: [Kernels.self, BenchMemory.self])

    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GFLOP/s of every GEMM shape one training step of a model runs, and the step's time split.")

        @OptionGroup var shape: ModelShapeOptions
        @Option(parsing: .unconditional, help: "Vocabulary size.") var vocab = 65
        @Flag(help: "Also time each GEMM shape cold: operands rotated over 64 MiB, as a training step meets them.")
        var cold = false

        /// The model's own checks, and a batch that fits: every shape below is allocated from these.
        func validate() throws {
            let (context, batchSize) = (shape.context, shape.batchSize)
            let config = ModelConfig(
                vocabSize: vocab, contextLength: context, layers: shape.layers, heads: shape.heads, width: shape.width)
            do { try config.validate() } catch { throw CLIError("bench kernels: \(error)") }
            guard batchSize >= 1 else { throw CLIError("bench kernels: --batch-size must be at least 1, got \(batchSize)") }
            guard batchSize <= (1 << 20) / context else {
                throw CLIError("bench kernels: --batch-size \(batchSize) × --context \(context) is more than the \(1 << 20) tokens a benchmark step may hold")
            }
        }

        func run() throws {
            try CLLM.checkCPU()
            let (layers, heads, width) = (shape.layers, shape.heads, shape.width)
            let (context, batchSize) = (shape.context, shape.batchSize)
            let n = batchSize * context, c = width, h = 4 * width, t = context
            // (label, m, n, k, transA, transB, calls per step)
            let shapes: [(String, Int, Int, Int, Bool, Bool, Int)] = [
                ("qkv forward", n, 3 * c, c, false, false, layers),
                ("attn proj forward", n, c, c, false, false, layers),
                ("fc forward", n, h, c, false, false, layers),
                ("fc proj forward", n, c, h, false, false, layers),
                ("qkv dW", c, 3 * c, n, true, false, layers),
                ("attn proj dW", c, c, n, true, false, layers),
                ("fc dW", c, h, n, true, false, layers),
                ("fc proj dW", h, c, n, true, false, layers),
                ("qkv dX", n, c, 3 * c, false, true, layers),
                ("attn proj dX", n, c, c, false, true, layers),
                ("fc dX", n, c, h, false, true, layers),
                ("fc proj dX", n, h, c, false, true, layers),
                ("logits", n, vocab, c, false, true, 1),
                ("logits dX", n, c, vocab, false, false, 1),
                ("logits dW", vocab, c, n, true, false, 1),
                // Attention's products run the register tile directly on packed operands; it is timed whole below.
            ]
            var total = 0.0, coldTotal = 0.0
            print("kernel build: \(KernelBuild.current.rawValue) (\(KernelBuild.current.tile) tile; \(KernelBuild.override)=avx2 forces AVX2)")
            print("shape                 m     n     k   GFLOP/s  ms/step" + (cold ? "   cold: GFLOP/s  ms/step" : ""))
            for (label, m, nn, k, ta, tb, calls) in shapes {
                let a = FloatBuffer(count: m * k), b = FloatBuffer(count: k * nn), out = FloatBuffer(count: m * nn)
                var rng = RandomSource(seed: 1)
                for i in 0..<a.count { a[i] = Float(rng.nextUnit()) }
                for i in 0..<b.count { b[i] = Float(rng.nextUnit()) }
                let flops = 2.0 * Double(m * nn * k)
                let reps = max(3, Int(5e8 / flops))
                let clock = ContinuousClock()
                // This shape's product on the given operands (warm: the same ones each time; cold: rotated).
                func product(_ a: FloatBuffer, _ b: FloatBuffer, _ c: FloatBuffer) {
                    KernelBuild.multiply(
                        m: m, n: nn, k: k, a: a.pointer, lda: ta ? m : k, transA: ta, b: b.pointer,
                        ldb: tb ? k : nn, transB: tb, c: c.pointer, ldc: nn, accumulate: false)
                }
                // Best of five rounds of ~10 ms: this machine has slow phases; the best round is the kernel's.
                var s = Double.infinity
                for _ in 0..<5 {
                    let start = clock.now
                    for _ in 0..<reps { product(a, b, out) }
                    let d = clock.now - start
                    s = min(s, d.seconds)
                }
                let gflops = flops * Double(reps) / s / 1e9
                let ms = s / Double(reps) * Double(calls) * 1000
                total += ms
                var coldColumn = ""
                if cold {
                    let copies = max(2, (64 << 20) / (4 * (m * k + k * nn + m * nn)))
                    let sets = (0..<copies).map { _ in
                        (FloatBuffer(count: m * k), FloatBuffer(count: k * nn), FloatBuffer(count: m * nn))
                    }
                    for (ca, cb, _) in sets { ca.pointer.update(from: a.pointer, count: a.count); cb.pointer.update(from: b.pointer, count: b.count) }
                    var sc = Double.infinity
                    for _ in 0..<3 {
                        let start = clock.now
                        for (ca, cb, co) in sets { product(ca, cb, co) }
                        sc = min(sc, (clock.now - start).seconds / Double(copies))
                    }
                    coldTotal += sc * Double(calls) * 1000
                    coldColumn = "         \(fmt(flops / sc / 1e9, 1).left(7))  \(fmt(sc * Double(calls) * 1000, 2).left(7))"
                }
                print("\(label.padding(18)) \(String(m).left(5)) \(String(nn).left(5)) \(String(k).left(5))  \(fmt(gflops, 1).left(7))  \(fmt(ms, 2).left(7))\(coldColumn)")
            }
            print("GEMM time per step (linear layers and head): \(fmt(total, 1)) ms" + (cold ? ", cold \(fmt(coldTotal, 1)) ms" : ""))
            // The other kernels of one step, at the same shapes.
            let qkv = FloatBuffer(count: n * 3 * c), att = FloatBuffer(count: n * c)
            let probs = FloatBuffer(count: batchSize * heads * t * t), dqkv = FloatBuffer(count: n * 3 * c)
            let hidden = FloatBuffer(count: n * h), act = FloatBuffer(count: n * h), slope = FloatBuffer(count: n * h)
            var rng = RandomSource(seed: 2)
            for i in 0..<qkv.count { qkv[i] = Float(rng.nextNormal()) }
            for i in 0..<hidden.count { hidden[i] = Float(rng.nextNormal()) }
            let attention = Attention.Shape(batch: batchSize, time: t, channels: c, heads: heads)
            func best(_ body: () -> Void) -> Double {
                let clock = ContinuousClock()
                var s = Double.infinity
                for _ in 0..<5 {
                    let start = clock.now
                    for _ in 0..<10 { body() }
                    let d = clock.now - start
                    s = min(s, d.seconds / 10)
                }
                return s * 1000
            }
            let af = best { KernelBuild.attentionForward(out: att.pointer, probs: probs.pointer, qkv: qkv.pointer, shape: attention) }
            let ab = best { KernelBuild.attentionBackward(dqkv: dqkv.pointer, dout: att.pointer, qkv: qkv.pointer, probs: probs.pointer, shape: attention) }
            let gf = best { Gelu.forward(out: act.pointer, derivative: slope.pointer, x: hidden.pointer, count: n * h) }
            let gb = best { Gelu.backward(dx: act.pointer, dout: act.pointer, derivative: slope.pointer, count: n * h) }
            print("attention forward \(fmt(af * Double(layers), 2)) ms/step, backward \(fmt(ab * Double(layers), 2)) ms/step (all layers)")
            print("GELU forward \(fmt(gf * Double(layers), 2)) ms/step, backward \(fmt(gb * Double(layers), 2)) ms/step")
            // AdamW reads four vectors of the parameters' size and writes three; in training they come from
            // memory (a step's activations evict them), so it is timed cold as well as warm.
            let count = ParameterLayout(ModelConfig(
                vocabSize: vocab, contextLength: context, layers: layers, heads: heads, width: width)).count
            let p = FloatBuffer(count: count), g = FloatBuffer(count: count)
            let m = FloatBuffer(count: count), v = FloatBuffer(count: count), evict = FloatBuffer(count: 16 << 20)
            for i in 0..<count { p[i] = Float(rng.nextNormal()); g[i] = Float(rng.nextNormal()) * 1e-3 }
            let step = AdamWKernel.Step(
                learningRate: 1e-3, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1, biasCorrection1: 0.1,
                biasCorrection2: 0.01, gradientScale: 1)
            func adamW() { AdamWKernel.update(params: p.pointer, grads: g.pointer, m: m.pointer, v: v.pointer, count: count, step: step) }
            let warm = best(adamW)
            let clock = ContinuousClock()
            var cold = Double.infinity
            for _ in 0..<5 {
                evict.pointer.update(repeating: 1, count: evict.count)  // 64 MB: more than the last-level cache
                let start = clock.now
                adamW()
                let d = clock.now - start
                cold = min(cold, d.seconds * 1000)
            }
            print("AdamW over \(count) parameters: \(fmt(warm, 2)) ms/step warm, \(fmt(cold, 2)) ms/step from memory")
        }
    }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    func left(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

extension Duration {
    /// The duration in seconds, as a Double (for timings printed in seconds or milliseconds).
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
