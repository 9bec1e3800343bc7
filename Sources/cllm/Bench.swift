import ArgumentParser
import CLLMKernels
import CLLMModel

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure cllm's own parts (for the peer comparison use Scripts/bench-vs-peer.sh).",
        subcommands: [Kernels.self])

    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GFLOP/s of every GEMM shape one training step of a model runs, and the step's time split.")

        @Option(help: "Transformer blocks.") var layers = 4
        @Option(help: "Attention heads.") var heads = 4
        @Option(help: "Embedding width.") var width = 128
        @Option(help: "Context length.") var context = 64
        @Option(help: "Sequences per step.") var batchSize = 12
        @Option(help: "Vocabulary size.") var vocab = 65

        func run() throws {
            try CLLM.checkCPU()
            let n = batchSize * context, c = width, h = 4 * width, t = context, hs = width / heads
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
                ("scores QKᵀ", t, t, hs, false, true, 2 * layers * batchSize * heads),
                ("P·V, dS·K", t, hs, t, false, false, 2 * layers * batchSize * heads),
                ("dSᵀ·Q, Pᵀ·dO", t, hs, t, true, false, 2 * layers * batchSize * heads),
            ]
            var total = 0.0
            print("shape                 m     n     k   GFLOP/s  ms/step")
            for (label, m, nn, k, ta, tb, calls) in shapes {
                let a = FloatBuffer(count: m * k), b = FloatBuffer(count: k * nn), out = FloatBuffer(count: m * nn)
                var rng = RandomSource(seed: 1)
                for i in 0..<a.count { a[i] = Float(rng.nextUnit()) }
                for i in 0..<b.count { b[i] = Float(rng.nextUnit()) }
                let flops = 2.0 * Double(m * nn * k)
                let reps = max(3, Int(3e8 / flops))
                let clock = ContinuousClock()
                let start = clock.now
                for _ in 0..<reps {
                    Gemm.multiply(
                        m: m, n: nn, k: k, a: a.pointer, lda: ta ? m : k, transA: ta, b: b.pointer, ldb: tb ? k : nn,
                        transB: tb, c: out.pointer, ldc: nn, accumulate: false)
                }
                let d = clock.now - start
                let s = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
                let gflops = flops * Double(reps) / s / 1e9
                let ms = s / Double(reps) * Double(calls) * 1000
                total += ms
                print("\(label.padding(18)) \(String(m).left(5)) \(String(nn).left(5)) \(String(k).left(5))  \(fmt(gflops, 1).left(7))  \(fmt(ms, 2).left(7))")
            }
            print("GEMM time per step: \(fmt(total, 1)) ms")
        }
    }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    func left(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
