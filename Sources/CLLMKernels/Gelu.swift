/// GELU with GPT-2's tanh approximation (`gelu_new`): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
///
/// The forward pass keeps what the backward pass needs, GELU's output (the next layer's input) and its
/// derivative at x, and not x itself: the backward then neither rebuilds GELU nor evaluates tanh again.
public enum Gelu {
    static let k0: Float = 0.797_884_56  // √(2/π)
    static let k1: Float = 0.044_715

    /// Writes GELU(x) into `out` and, when given, GELU′(x) into `derivative`. The fc GEMM's epilogue computes
    /// the same values tile by tile (`Gemm.Epilogue.gelu`); this is its reference, and what it does for k = 0.
    public static func forward(
        out: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>, count: Int
    ) {
        let n8 = count & ~7
        var i = 0
        while i < n8 {
            let (g, d) = valueAndDerivative(load8(x + i))
            if let derivative { store8(d, derivative + i) }
            store8(g, out + i)
            i += 8
        }
        while i < count {
            // One lane of the same vector code, so a tail value has the bits a full vector would give it.
            let (g, d) = valueAndDerivative(Vec8(repeating: x[i]))
            derivative?[i] = d[0]
            out[i] = g[0]
            i += 1
        }
    }

    /// GELU(x) and GELU′(x) for eight lanes: the one place both are evaluated (`forward` and the GEMM
    /// epilogue), so every path gives the same bits.
    @inline(__always)
    public static func valueAndDerivative(_ v: Vec8) -> (value: Vec8, derivative: Vec8) {
        let t = tanhOfArgument(v)
        return (0.5 * v * (1 + t), derivative(v, t))
    }

    /// tanh(√(2/π)·(x + 0.044715·x³)).
    @inline(__always)
    public static func tanhOfArgument(_ v: Vec8) -> Vec8 {
        tanh8(Vec8(repeating: k0) * (v + Vec8(repeating: k1) * v * v * v))
    }

    /// GELU′(x) from x and t = `tanhOfArgument(x)`: 0.5·(1 + t) + 0.5·x·(1 − t²)·du/dx.
    @inline(__always)
    public static func derivative(_ v: Vec8, _ t: Vec8) -> Vec8 {
        let du = Vec8(repeating: k0) * (1 + Vec8(repeating: 3 * k1) * (v * v))
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du
    }

    /// dx = GELU′(x) ⊙ dout from the derivative the forward pass kept (`dx` may alias `dout`).
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, derivative: UnsafePointer<Float>, count: Int
    ) {
        let n8 = count & ~7
        var i = 0
        while i < n8 { store8(load8(derivative + i) * load8(dout + i), dx + i); i += 8 }
        while i < count { dx[i] = derivative[i] * dout[i]; i += 1 }
    }
}
