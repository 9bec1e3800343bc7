/// The AVX-512 build's specializations (the 6×32 tile on `SIMD16<Float>`), compiled here for AVX2, so that
/// any machine can test what CLLMKernelsAVX512 compiles: the same generic source through the same
/// optimizer, only for another instruction set. Tests call these; the model never does.
enum WideTile {
    /// Keeps these specializations their own symbols (see `Gemm.multiply(_:build:…)`).
    private enum Build {}

    static func multiply(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool, b: UnsafePointer<Float>, ldb: Int,
        transB: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>?,
        residual: UnsafePointer<Float>?, epilogue: Gemm.Epilogue, columnSums: UnsafeMutablePointer<Float>? = nil
    ) {
        Gemm.multiply(
            SIMD16<Float>.self, build: Build.self, m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b, ldb: ldb,
            transB: transB, c: c, ldc: ldc, accumulate: accumulate, bias: bias, residual: residual,
            epilogue: epilogue, columnSums: columnSums)
    }

    static func attentionForward(
        out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        shape: Attention.Shape
    ) {
        Attention.forward(SIMD16<Float>.self, build: Build.self, out: out, probs: probs, qkv: qkv, shape: shape)
    }

    static func attentionBackward(
        dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        probs: UnsafePointer<Float>, shape: Attention.Shape
    ) {
        Attention.backward(SIMD16<Float>.self, build: Build.self, dqkv: dqkv, dout: dout, qkv: qkv, probs: probs, shape: shape)
    }
}
