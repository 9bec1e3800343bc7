import CLLMKernels

/// Attention built for AVX-512: `Attention`'s generic implementation on 32-wide strips (`SIMD16<Float>`),
/// compiled in this module for skylake-avx512. Only `KernelBuild` calls in, on a CPU that has AVX-512. The
/// bits are the AVX2 build's: each product element is the same FMA chain, and the softmax rows run the
/// AVX2 module's own code.
public enum AttentionAVX512 {
    /// `Attention.forward` on the AVX-512 tile.
    public static func forward(
        out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        shape: Attention.Shape
    ) {
        Attention.forward(SIMD16<Float>.self, build: AVX512Build.self, out: out, probs: probs, qkv: qkv, shape: shape)
    }

    /// `Attention.backward` on the AVX-512 tile.
    public static func backward(
        dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        probs: UnsafePointer<Float>, shape: Attention.Shape
    ) {
        Attention.backward(
            SIMD16<Float>.self, build: AVX512Build.self, dqkv: dqkv, dout: dout, qkv: qkv, probs: probs, shape: shape)
    }

    /// Keeps this module's specializations their own symbols (see `Gemm.multiply(_:build:…)`).
    private enum AVX512Build {}
}
