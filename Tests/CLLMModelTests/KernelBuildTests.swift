import Foundation
import Testing
@testable import CLLMKernels
import CLLMKernelsAVX512
@testable import CLLMModel

/// The AVX-512 build of the kernels (a 6×32 tile on `SIMD16<Float>`, 128-deep passes over k, 32-wide
/// attention strips) must give the AVX2 build's bits in every mode, or a checkpoint would depend on the
/// machine that trained it. The wide tile's logic is checked on every CPU (the generic implementation on
/// SIMD16, compiled for this machine); the AVX-512 machine code itself where the CPU has AVX-512.
@Suite("Kernel builds")
struct KernelBuildTests {
    typealias Multiply = @Sendable (
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ transA: Bool, _ b: UnsafePointer<Float>,
        _ ldb: Int, _ transB: Bool, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool,
        _ bias: UnsafePointer<Float>?, _ residual: UnsafePointer<Float>?, _ epilogue: Gemm.Epilogue,
        _ columnSums: UnsafeMutablePointer<Float>?
    ) -> Void

    /// The AVX2 build, compiled into CLLMKernels.
    static let avx2: Multiply = { m, n, k, a, lda, ta, b, ldb, tb, c, ldc, acc, bias, residual, epilogue, sums in
        Gemm.multiply(m: m, n: n, k: k, a: a, lda: lda, transA: ta, b: b, ldb: ldb, transB: tb, c: c, ldc: ldc,
                      accumulate: acc, bias: bias, residual: residual, epilogue: epilogue, columnSums: sums)
    }
    /// The wide tile on any CPU: CLLMKernelsAVX512's specialization, compiled for this machine.
    static let wideTile: Multiply = { m, n, k, a, lda, ta, b, ldb, tb, c, ldc, acc, bias, residual, epilogue, sums in
        WideTile.multiply(m: m, n: n, k: k, a: a, lda: lda, transA: ta, b: b, ldb: ldb, transB: tb, c: c, ldc: ldc,
                          accumulate: acc, bias: bias, residual: residual, epilogue: epilogue, columnSums: sums)
    }
    /// The AVX-512 machine code itself, which only an AVX-512 CPU can run.
    static let avx512: Multiply = { m, n, k, a, lda, ta, b, ldb, tb, c, ldc, acc, bias, residual, epilogue, sums in
        GemmAVX512.multiply(m: m, n: n, k: k, a: a, lda: lda, transA: ta, b: b, ldb: ldb, transB: tb, c: c, ldc: ldc,
                            accumulate: acc, bias: bias, residual: residual, epilogue: epilogue, columnSums: sums)
    }

    /// Every mode of `multiply` on one shape, run by `multiply`; returns C (or, with the GELU epilogue, GELU's
    /// output and derivative) of each mode, concatenated.
    static func allModes(_ multiply: Multiply, m: Int, n: Int, k: Int) -> [Float] {
        let a = KernelTests.values(m * k, seed: 21), b = KernelTests.values(k * n, seed: 22)
        let bias = KernelTests.values(n, seed: 23), residual = KernelTests.values(m * n, seed: 24)
        var results: [Float] = []
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { biasp in
            residual.withUnsafeBufferPointer { rp in
                for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                    let lda = transA ? m : k, ldb = transB ? k : n
                    var c = [Float](repeating: 0, count: m * n), g = c, d = c
                    c.withUnsafeMutableBufferPointer { cp in g.withUnsafeMutableBufferPointer { gp in
                        d.withUnsafeMutableBufferPointer { dp in
                            let c = cp.baseAddress!
                            multiply(m, n, k, ap.baseAddress!, lda, transA, bp.baseAddress!, ldb, transB, c, n, false,
                                     biasp.baseAddress!, nil, .none, nil)
                            results += Array(cp)
                            multiply(m, n, k, ap.baseAddress!, lda, transA, bp.baseAddress!, ldb, transB, c, n, true,
                                     nil, nil, .none, nil)
                            results += Array(cp)
                            multiply(m, n, k, ap.baseAddress!, lda, transA, bp.baseAddress!, ldb, transB, c, n, false,
                                     biasp.baseAddress!, rp.baseAddress!, .none, nil)
                            results += Array(cp)
                            multiply(m, n, k, ap.baseAddress!, lda, transA, bp.baseAddress!, ldb, transB, gp.baseAddress!, n,
                                     false, biasp.baseAddress!, nil, .gelu(derivative: dp.baseAddress!), nil)
                            results += Array(gp) + Array(dp)
                            if !transB {
                                // Column sums of B added while it is packed (the bias gradients' path).
                                var sums = Array(bias)
                                multiply(m, n, k, ap.baseAddress!, lda, transA, bp.baseAddress!, ldb, transB, c, n, false,
                                         nil, nil, .none, &sums)
                                results += Array(cp) + sums
                            }
                        }
                    } }
                }
            }
        } } }
        return results
    }

    static let shapes = [(1, 1, 1), (5, 7, 3), (6, 32, 128), (13, 33, 300), (97, 50, 257), (128, 65, 129), (200, 384, 64)]

    @Test("the wide tile gives the AVX2 tile's bits: transposes, bias, accumulation, residual, GELU epilogue, column sums",
          arguments: shapes)
    func wideTileBits(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let narrow = Self.allModes(Self.avx2, m: m, n: n, k: k), wide = Self.allModes(Self.wideTile, m: m, n: n, k: k)
        #expect(narrow.count == wide.count)
        #expect(firstBitDifference(narrow, wide) == nil, "m \(m) n \(n) k \(k)")
    }

    @Test("the AVX-512 machine code gives the AVX2 build's bits", .enabled(if: CPUFeatures.hasAVX512), arguments: shapes)
    func avx512Bits(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let narrow = Self.allModes(Self.avx2, m: m, n: n, k: k), wide = Self.allModes(Self.avx512, m: m, n: n, k: k)
        #expect(firstBitDifference(narrow, wide) == nil, "m \(m) n \(n) k \(k)")
    }

    /// Attention forward and backward through `forward` and `backward` on one shape: output, probabilities
    /// and the qkv gradient, concatenated.
    static func attention(
        T: Int, C: Int, H: Int,
        forward: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Float>, Attention.Shape) -> Void,
        backward: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                   Attention.Shape) -> Void
    ) -> [Float] {
        let batch = 2, s = Attention.Shape(batch: batch, time: T, channels: C, heads: H)
        let qkv = KernelTests.values(batch * T * 3 * C, seed: 26), dout = KernelTests.values(batch * T * C, seed: 27)
        var out = [Float](repeating: .nan, count: batch * T * C), probs = [Float](repeating: .nan, count: batch * H * T * T)
        var dqkv = [Float](repeating: .nan, count: batch * T * 3 * C)
        qkv.withUnsafeBufferPointer { q in dout.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { o in probs.withUnsafeMutableBufferPointer { p in
                dqkv.withUnsafeMutableBufferPointer { dq in
                    forward(o.baseAddress!, p.baseAddress!, q.baseAddress!, s)
                    backward(dq.baseAddress!, d.baseAddress!, q.baseAddress!, UnsafePointer(p.baseAddress!), s)
                }
            } }
        } }
        return out + probs + dqkv
    }

    static let attentionShapes = [(64, 128, 4), (13, 24, 2), (7, 40, 2), (33, 16, 1), (40, 96, 1)]

    /// The AVX2 build's attention on one shape.
    static func narrowAttention(T: Int, C: Int, H: Int) -> [Float] {
        attention(
            T: T, C: C, H: H, forward: { Attention.forward(out: $0, probs: $1, qkv: $2, shape: $3) },
            backward: { Attention.backward(dqkv: $0, dout: $1, qkv: $2, probs: $3, shape: $4) })
    }

    @Test("wide attention strips give the AVX2 build's bits, ragged tiles and strips included",
          arguments: attentionShapes)
    func wideAttentionBits(shape: (Int, Int, Int)) {
        let (T, C, H) = shape
        let narrow = Self.narrowAttention(T: T, C: C, H: H)
        let wide = Self.attention(
            T: T, C: C, H: H, forward: { WideTile.attentionForward(out: $0, probs: $1, qkv: $2, shape: $3) },
            backward: { WideTile.attentionBackward(dqkv: $0, dout: $1, qkv: $2, probs: $3, shape: $4) })
        #expect(!narrow.contains { $0.isNaN })
        #expect(firstBitDifference(narrow, wide) == nil, "T \(T) C \(C) H \(H)")
    }

    @Test("AVX-512 attention gives the AVX2 build's bits", .enabled(if: CPUFeatures.hasAVX512), arguments: attentionShapes)
    func avx512AttentionBits(shape: (Int, Int, Int)) {
        let (T, C, H) = shape
        let wide = Self.attention(
            T: T, C: C, H: H, forward: { AttentionAVX512.forward(out: $0, probs: $1, qkv: $2, shape: $3) },
            backward: { AttentionAVX512.backward(dqkv: $0, dout: $1, qkv: $2, probs: $3, shape: $4) })
        #expect(firstBitDifference(Self.narrowAttention(T: T, C: C, H: H), wide) == nil, "T \(T) C \(C) H \(H)")
    }

    @Test("the process uses the AVX-512 build exactly where the CPU offers it, unless CLLM_KERNELS says avx2")
    func choice() {
        let forced = getenv(KernelBuild.override).map { String(cString: $0) } == "avx2"
        #expect(KernelBuild.current == (CPUFeatures.hasAVX512 && !forced ? .avx512 : .avx2))
    }

    /// Object files of the AVX-512 module built beside this test binary, when readelf can read them.
    static let avx512Objects: [String] = {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/readelf"),
              let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return [] }
        // The test binary lives in (or inside a bundle in) the build folder that also holds CLLMKernelsAVX512.build.
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<4 {
            let objects = dir.appendingPathComponent("CLLMKernelsAVX512.build")
            if let names = try? FileManager.default.contentsOfDirectory(atPath: objects.path) {
                return names.filter { $0.hasSuffix(".o") }.sorted().map { objects.appendingPathComponent($0).path }
            }
            dir.deleteLastPathComponent()
        }
        return []
    }()

    @Test("every weak function in the AVX-512 module carries that module's private build type",
          .enabled(if: !avx512Objects.isEmpty))
    func avx512WeakSymbolsAreDistinct() throws {
        // Swift emits specializations as weak symbols and the linker keeps one copy per name: a weak function
        // of the AVX-512 module named like one of CLLMKernels could make an AVX2 CPU run AVX-512 code.
        var weak: [String] = []
        for object in Self.avx512Objects {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/readelf")
            p.arguments = ["-sW", object]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "readelf failed on \(object)")
            for line in text.split(separator: "\n") {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                if f.count >= 8 && f[3] == "FUNC" && f[4] == "WEAK" { weak.append(String(f[7])) }
            }
        }
        #expect(!weak.isEmpty, "no weak functions found: the specializations moved, update this test")
        let shared = weak.filter { !$0.contains("Build33_") }
        #expect(shared.isEmpty, "weak functions without the module's private build type: \(shared)")
    }
}
