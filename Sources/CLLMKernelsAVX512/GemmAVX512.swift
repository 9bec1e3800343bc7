import CLLMKernels

/// The GEMM built for AVX-512: `Gemm`'s generic implementation specialized on `SIMD16<Float>` (a 6×32
/// register tile of twelve 512-bit accumulators) and compiled, in this module alone, for x86-64-v4.
///
/// Every instruction here may be an AVX-512 one, so only `KernelBuild` calls in, after checking that the
/// CPU and the kernel support AVX-512. The bits are those of the AVX2 build: each element of C is the same
/// FMA chain over k, and epilogues run the AVX2 module's own code.
public enum GemmAVX512 {
    /// `Gemm.multiply` on the AVX-512 tile; the arguments mean the same.
    public static func multiply(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, epilogue: Gemm.Epilogue,
        columnSums: UnsafeMutablePointer<Float>? = nil, next: UnsafeBufferPointer<Float>? = nil
    ) {
        Gemm.multiply(
            SIMD16<Float>.self, build: AVX512Build.self, m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b,
            ldb: ldb, transB: transB, c: c, ldc: ldc, accumulate: accumulate, bias: bias, residual: residual,
            epilogue: epilogue, columnSums: columnSums, next: next)
    }

    /// Keeps this module's specialization its own symbol (see `Gemm.multiply(_:build:…)`).
    private enum AVX512Build {}
}
