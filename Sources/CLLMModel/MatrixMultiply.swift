#if canImport(Glibc)
import Glibc
#endif
import CLLMKernels
import CLLMKernelsAVX512

/// The GEMM every layer calls: the AVX-512 build of `Gemm` where the processor and the kernel support it,
/// else the AVX2 build. Both give the same bits (`Gemm`'s contract), so the choice changes speed only.
///
/// Chosen once per process. `CLLM_GEMM=avx2` forces the AVX2 build (for comparisons); `CLLM_GEMM=avx512`
/// asks for AVX-512, which `CPUFeatures.missingFeatures` refuses on a CPU without it.
public enum MatrixMultiply {
    /// Which build of the GEMM runs.
    public enum Build: String, Sendable {
        case avx2, avx512
        /// The register tile, for reports.
        public var tile: String { self == .avx512 ? "6×32, SIMD16" : "6×16, SIMD8" }
    }

    /// The environment variable that overrides the choice.
    public static let override = "CLLM_GEMM"

    /// The build this process uses.
    public static let build: Build = {
        let requested = getenv(override).map { String(cString: $0) }
        if requested == Build.avx2.rawValue { return .avx2 }
        return CPUFeatures.hasAVX512 ? .avx512 : .avx2
    }()

    /// `C[m×n] = (accumulate ? C : bias) + op(A) · op(B)`: see `Gemm.multiply` for every argument.
    @inline(__always)
    public static func multiply(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil, epilogue: Gemm.Epilogue = .none,
        aGeluTanh: UnsafePointer<Float>? = nil
    ) {
        switch build {
        case .avx512:
            GemmAVX512.multiply(
                m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b, ldb: ldb, transB: transB, c: c, ldc: ldc,
                accumulate: accumulate, bias: bias, residual: residual, epilogue: epilogue, aGeluTanh: aGeluTanh)
        case .avx2:
            Gemm.multiply(
                m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b, ldb: ldb, transB: transB, c: c, ldc: ldc,
                accumulate: accumulate, bias: bias, residual: residual, epilogue: epilogue, aGeluTanh: aGeluTanh)
        }
    }
}
