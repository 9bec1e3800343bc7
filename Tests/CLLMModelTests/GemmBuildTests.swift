import Foundation
import Testing
import CLLMKernels
import CLLMKernelsAVX512
@testable import CLLMModel

/// The AVX-512 build of the GEMM (a 6×32 tile on `SIMD16<Float>`, 128-deep passes over k) must give the
/// AVX2 build's bits in every mode, or a checkpoint would depend on the machine that trained it.
@Suite("GEMM builds")
struct GemmBuildTests {
    typealias Multiply = @Sendable (
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ transA: Bool, _ b: UnsafePointer<Float>,
        _ ldb: Int, _ transB: Bool, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool,
        _ bias: UnsafePointer<Float>?, _ residual: UnsafePointer<Float>?, _ epilogue: Gemm.Epilogue,
        _ aGeluTanh: UnsafePointer<Float>?
    ) -> Void

    /// The AVX2 build, compiled into CLLMKernels.
    static let avx2: Multiply = { m, n, k, a, lda, ta, b, ldb, tb, c, ldc, acc, bias, residual, epilogue, gelu in
        Gemm.multiply(m: m, n: n, k: k, a: a, lda: lda, transA: ta, b: b, ldb: ldb, transB: tb, c: c, ldc: ldc,
                      accumulate: acc, bias: bias, residual: residual, epilogue: epilogue, aGeluTanh: gelu)
    }
    /// The wide tile's logic on any CPU: the generic implementation on SIMD16, compiled for this machine.
    static let wideTile: Multiply = { m, n, k, a, lda, ta, b, ldb, tb, c, ldc, acc, bias, residual, epilogue, gelu in
        Gemm.multiply(SIMD16<Float>.self, build: WideTileBuild.self, m: m, n: n, k: k, a: a, lda: lda, transA: ta, b: b, ldb: ldb, transB: tb,
                      c: c, ldc: ldc, accumulate: acc, bias: bias, residual: residual, epilogue: epilogue,
                      aGeluTanh: gelu)
    }
    private enum WideTileBuild {}
    /// The AVX-512 machine code itself, which only an AVX-512 CPU can run.
    static let avx512: Multiply = { m, n, k, a, lda, ta, b, ldb, tb, c, ldc, acc, bias, residual, epilogue, gelu in
        GemmAVX512.multiply(m: m, n: n, k: k, a: a, lda: lda, transA: ta, b: b, ldb: ldb, transB: tb, c: c, ldc: ldc,
                            accumulate: acc, bias: bias, residual: residual, epilogue: epilogue, aGeluTanh: gelu)
    }

    /// Every mode of `multiply` on one shape, run by `multiply`; returns C, the GELU output and its tanh
    /// of each mode, concatenated.
    static func allModes(_ multiply: Multiply, m: Int, n: Int, k: Int) -> [Float] {
        let a = KernelTests.values(m * k, seed: 21), b = KernelTests.values(k * n, seed: 22)
        let bias = KernelTests.values(n, seed: 23), residual = KernelTests.values(m * n, seed: 24)
        let tanh = KernelTests.values(m * k, seed: 25)
        var results: [Float] = []
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { biasp in
            residual.withUnsafeBufferPointer { rp in tanh.withUnsafeBufferPointer { tp in
                for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                    let lda = transA ? m : k, ldb = transB ? k : n
                    var c = [Float](repeating: 0, count: m * n), g = c, t = c
                    c.withUnsafeMutableBufferPointer { cp in g.withUnsafeMutableBufferPointer { gp in
                        t.withUnsafeMutableBufferPointer { tcp in
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
                            multiply(m, n, k, ap.baseAddress!, lda, transA, bp.baseAddress!, ldb, transB, c, n, false,
                                     biasp.baseAddress!, nil, .gelu(out: gp.baseAddress!, tanh: tcp.baseAddress!), nil)
                            results += Array(cp) + Array(gp) + Array(tcp)
                            multiply(m, n, k, ap.baseAddress!, lda, transA, bp.baseAddress!, ldb, transB, c, n, false,
                                     nil, nil, .none, tp.baseAddress!)
                            results += Array(cp)
                        }
                    } }
                }
            } }
        } } }
        return results
    }

    static let shapes = [(1, 1, 1), (5, 7, 3), (6, 32, 128), (13, 33, 300), (97, 50, 257), (128, 65, 129), (200, 384, 64)]

    @Test("the wide tile gives the AVX2 tile's bits: transposes, bias, accumulation, residual, GELU both ways",
          arguments: shapes)
    func wideTileBits(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let narrow = Self.allModes(Self.avx2, m: m, n: n, k: k), wide = Self.allModes(Self.wideTile, m: m, n: n, k: k)
        #expect(narrow.count == wide.count)
        #expect(narrow.map(\.bitPattern) == wide.map(\.bitPattern), "m \(m) n \(n) k \(k)")
    }

    @Test("the AVX-512 machine code gives the AVX2 build's bits", .enabled(if: CPUFeatures.hasAVX512), arguments: shapes)
    func avx512Bits(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let narrow = Self.allModes(Self.avx2, m: m, n: n, k: k), wide = Self.allModes(Self.avx512, m: m, n: n, k: k)
        #expect(narrow.map(\.bitPattern) == wide.map(\.bitPattern), "m \(m) n \(n) k \(k)")
    }

    @Test("the process uses the AVX-512 build exactly where the CPU offers it, unless CLLM_GEMM says avx2")
    func choice() {
        let forced = getenv(MatrixMultiply.override).map { String(cString: $0) } == "avx2"
        #expect(MatrixMultiply.build == (CPUFeatures.hasAVX512 && !forced ? .avx512 : .avx2))
    }
}
