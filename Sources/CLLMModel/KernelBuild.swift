#if canImport(Glibc)
import Glibc
#endif
import CLLMKernels
import CLLMKernelsAVX512

/// Which build of the matrix kernels (the GEMM and attention's products) this process runs: the AVX-512
/// build (CLLMKernelsAVX512) where the processor and the OS support it, else the AVX2 build in
/// CLLMKernels. Both give the same bits (each element is the same FMA chain), so the choice changes speed
/// only. Every layer calls the kernels through here.
///
/// Chosen once per process. `CLLM_KERNELS=avx2` forces the AVX2 build (for comparisons on one machine);
/// `CLLM_KERNELS=avx512` insists on AVX-512, which `CPUFeatures.missingFeatures` refuses where it is absent.
public enum KernelBuild: String, Sendable {
    case avx2, avx512

    /// The environment variable that overrides the choice.
    public static let override = "CLLM_KERNELS"

    /// The value of `CLLM_KERNELS`, if set (`CPUFeatures.missingFeatures` refuses a wrong one).
    static let requested: String? = getenv(override).map { String(cString: $0) }

    /// The build this process uses.
    public static let current: KernelBuild = requested == KernelBuild.avx2.rawValue || !CPUFeatures.hasAVX512 ? .avx2 : .avx512

    /// Floats per vector of this build's register tile.
    public var vectorWidth: Int { self == .avx512 ? 16 : 8 }

    /// The register tile, for reports.
    public var tile: String { self == .avx512 ? "6×32 on SIMD16" : "6×16 on SIMD8" }

    /// `C[m×n] = (accumulate ? C : bias) + op(A) · op(B)`: see `Gemm.multiply` for every argument.
    @inline(__always)
    public static func multiply(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil, epilogue: Gemm.Epilogue = .none,
        columnSums: UnsafeMutablePointer<Float>? = nil, next: UnsafeBufferPointer<Float>? = nil
    ) {
        switch current {
        case .avx512:
            GemmAVX512.multiply(
                m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b, ldb: ldb, transB: transB, c: c, ldc: ldc,
                accumulate: accumulate, bias: bias, residual: residual, epilogue: epilogue, columnSums: columnSums, next: next)
        case .avx2:
            Gemm.multiply(
                m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b, ldb: ldb, transB: transB, c: c, ldc: ldc,
                accumulate: accumulate, bias: bias, residual: residual, epilogue: epilogue, columnSums: columnSums, next: next)
        }
    }

    /// `Attention.forward` on this build.
    @inline(__always)
    public static func attentionForward(
        out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        shape: Attention.Shape
    ) {
        switch current {
        case .avx512: AttentionAVX512.forward(out: out, probs: probs, qkv: qkv, shape: shape)
        case .avx2: Attention.forward(out: out, probs: probs, qkv: qkv, shape: shape)
        }
    }

    /// `Attention.backward` on this build.
    @inline(__always)
    public static func attentionBackward(
        dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        probs: UnsafePointer<Float>, shape: Attention.Shape
    ) {
        switch current {
        case .avx512: AttentionAVX512.backward(dqkv: dqkv, dout: dout, qkv: qkv, probs: probs, shape: shape)
        case .avx2: Attention.backward(dqkv: dqkv, dout: dout, qkv: qkv, probs: probs, shape: shape)
        }
    }
}
