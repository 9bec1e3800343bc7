/// GELU with GPT-2's tanh approximation (`gelu_new`): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
public enum Gelu {
    static let k0: Float = 0.797_884_56  // √(2/π)
    static let k1: Float = 0.044_715

    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        let n8 = count & ~7
        var i = 0
        while i < n8 {
            let v = load8(x + i)
            let u = Vec8(repeating: k0) * (v + Vec8(repeating: k1) * v * v * v)
            store8(0.5 * v * (1 + tanh8(u)), out + i)
            i += 8
        }
        while i < count {
            let v = x[i]
            out[i] = 0.5 * v * (1 + tanh1(k0 * (v + k1 * v * v * v)))
            i += 1
        }
    }

    /// Overwrites `dx` with d/dx applied to `dout` (they may alias).
    public static func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        let n8 = count & ~7
        var i = 0
        while i < n8 {
            let v = load8(x + i)
            let v2 = v * v
            let t = tanh8(Vec8(repeating: k0) * (v + Vec8(repeating: k1) * v2 * v))
            let du = Vec8(repeating: k0) * (1 + Vec8(repeating: 3 * k1) * v2)
            let g = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du
            store8(g * load8(dout + i), dx + i)
            i += 8
        }
        while i < count {
            let v = x[i]
            let t = tanh1(k0 * (v + k1 * v * v * v))
            let du = k0 * (1 + 3 * k1 * v * v)
            dx[i] = (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du) * dout[i]
            i += 1
        }
    }
}
