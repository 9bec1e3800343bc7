/// GELU with GPT-2's tanh approximation (`gelu_new`): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
///
/// The forward pass keeps what the backward pass needs, GELU's output (the next layer's input) and its
/// derivative at x, and not x itself: the backward then neither rebuilds GELU nor evaluates tanh again.
public enum Gelu {
    static let k0: Float = 0.797_884_56  // √(2/π)
    /// √(2/π)·0.044715 and three times it: u = x·(k0 + k1·x²), u′ = k0 + k3·x².
    static let k1: Float = 0.035_677_408_136
    static let k3: Float = 0.107_032_224_409

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
    ///
    /// Written around h = (1 + t)/2, t = tanh(u), u = √(2/π)·(x + 0.044715·x³): GELU = x·h and, since
    /// (1 − t²)/2 = h·(1 − t), GELU′ = h + x·u′·(1 − t²)/2 = h·(1 + x·u′·(1 − t)). With u and u′ as one
    /// multiply-add each in x², that is a dozen vector operations around tanh instead of twenty-odd: the
    /// fc GEMM's epilogue evaluates this for every hidden unit of every token.
    @inline(__always)
    public static func valueAndDerivative(_ v: Vec8) -> (value: Vec8, derivative: Vec8) {
        let v2 = v * v
        let t = tanh8(v * Vec8(repeating: k0).addingProduct(Vec8(repeating: k1), v2))
        let h = Vec8(repeating: 0.5).addingProduct(Vec8(repeating: 0.5), t)
        let du = Vec8(repeating: k0).addingProduct(Vec8(repeating: k3), v2)
        return (v * h, h * Vec8(repeating: 1).addingProduct(v * du, 1 - t))
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
