/// GELU with GPT-2's tanh approximation (`gelu_new`): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
public enum Gelu {
    static let k0: Float = 0.797_884_56  // √(2/π)
    static let k1: Float = 0.044_715

    /// Writes GELU(x) into `out` and, when given, tanh(u) into `tanhOut`, which the backward then uses
    /// instead of evaluating tanh again.
    public static func forward(
        out: UnsafeMutablePointer<Float>, tanhOut: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>, count: Int
    ) {
        let n8 = count & ~7
        var i = 0
        while i < n8 {
            let v = load8(x + i)
            let t = tanhOfArgument(v)
            if let tanhOut { store8(t, tanhOut + i) }
            store8(0.5 * v * (1 + t), out + i)
            i += 8
        }
        while i < count {
            let v = x[i]
            let t = tanhOfArgument(Vec8(repeating: v))[0]
            tanhOut?[i] = t
            out[i] = 0.5 * v * (1 + t)
            i += 1
        }
    }

    /// tanh(√(2/π)·(x + 0.044715·x³)), the one place this is evaluated (the GEMM epilogue uses it too).
    @inline(__always)
    public static func tanhOfArgument(_ v: Vec8) -> Vec8 {
        tanh8(Vec8(repeating: k0) * (v + Vec8(repeating: k1) * v * v * v))
    }

    /// GELU(x) again from x and the saved tanh, bit-identical to what `forward` wrote.
    public static func recompute(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, tanh: UnsafePointer<Float>, count: Int) {
        let n8 = count & ~7
        var i = 0
        while i < n8 { let v = load8(x + i); store8(0.5 * v * (1 + load8(tanh + i)), out + i); i += 8 }
        while i < count { out[i] = 0.5 * x[i] * (1 + tanh[i]); i += 1 }
    }

    /// GELU′(x) from x and the forward's tanh(u): 0.5·(1 + t) + 0.5·x·(1 − t²)·du/dx. The one place this is
    /// evaluated for whole vectors.
    @inline(__always)
    public static func derivative(_ v: Vec8, _ t: Vec8) -> Vec8 {
        let du = Vec8(repeating: k0) * (1 + Vec8(repeating: 3 * k1) * (v * v))
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du
    }

    /// Overwrites `dx` with d/dx applied to `dout` (they may alias), from x and the forward's tanh.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, tanh: UnsafePointer<Float>,
        count: Int
    ) {
        let n8 = count & ~7
        var i = 0
        while i < n8 {
            store8(derivative(load8(x + i), load8(tanh + i)) * load8(dout + i), dx + i)
            i += 8
        }
        while i < count {
            let v = x[i]
            let t = tanh[i]
            let du = k0 * (1 + 3 * k1 * v * v)
            dx[i] = (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du) * dout[i]
            i += 1
        }
    }
}
