/// Causal multi-head self-attention on a packed qkv activation, forward and backward.
///
/// `qkv` is [B·T, 3C] (q, k, v each C wide; head h owns columns h·hs ..< (h+1)·hs of each), as GPT-2's
/// `c_attn` produces it. Each (batch, head) is a handful of small matrix products, which run through the
/// same GEMM as the linear layers, in row blocks of `block` so that most of the masked upper triangle is
/// never computed. Masked probabilities are exact zeros, so the part of the triangle that is computed adds
/// nothing to any sum: the result is the same to the bit whatever the block size.
public enum Attention {
    public struct Shape: Sendable {
        public let batch, time, channels, heads: Int
        public init(batch: Int, time: Int, channels: Int, heads: Int) {
            self.batch = batch; self.time = time; self.channels = channels; self.heads = heads
        }
        var headSize: Int { channels / heads }
    }

    /// Query rows per GEMM call.
    static let block = 32

    /// Writes the attention output [B·T, C] and the probabilities [B, H, T, T] (zero above the diagonal).
    public static func forward(
        out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        shape: Shape
    ) {
        let T = shape.time, C = shape.channels, H = shape.heads, hs = shape.headSize
        let C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        for b in 0..<shape.batch {
            let base = qkv + b * T * C3
            for h in 0..<H {
                let q = base + h * hs, k = base + C + h * hs, v = base + 2 * C + h * hs
                let p = probs + (b * H + h) * T * T
                var r0 = 0
                while r0 < T {
                    // Rows r0..<r1 see keys 0..<r1 only.
                    let r1 = min(T, r0 + block), rows = r1 - r0
                    // S = Q·Kᵀ, then row-wise causal softmax in place.
                    Gemm.multiply(
                        m: rows, n: r1, k: hs, a: q + r0 * C3, lda: C3, b: k, ldb: C3, transB: true,
                        c: p + r0 * T, ldc: T, accumulate: false)
                    for t in r0..<r1 { softmaxRow(p + t * T, n: t + 1, width: T, scale: scale) }
                    // O = P·V
                    Gemm.multiply(
                        m: rows, n: hs, k: r1, a: p + r0 * T, lda: T, b: v, ldb: C3,
                        c: out + (b * T + r0) * C + h * hs, ldc: C, accumulate: false)
                    r0 = r1
                }
            }
        }
    }

    /// Writes the gradient of qkv into `dqkv` (every element overwritten) from the gradient of the output.
    public static func backward(
        dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        probs: UnsafePointer<Float>, shape: Shape
    ) {
        let T = shape.time, C = shape.channels, H = shape.heads, hs = shape.headSize
        let C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        let dS = UnsafeMutablePointer<Float>.allocate(capacity: T * T)
        defer { dS.deallocate() }
        for b in 0..<shape.batch {
            let base = qkv + b * T * C3, dbase = dqkv + b * T * C3
            let dO = dout + b * T * C
            for h in 0..<H {
                let q = base + h * hs, k = base + C + h * hs, v = base + 2 * C + h * hs
                let dq = dbase + h * hs, dk = dbase + C + h * hs, dv = dbase + 2 * C + h * hs
                let dOh = dO + h * hs
                let p = probs + (b * H + h) * T * T
                var r0 = 0
                while r0 < T {
                    let r1 = min(T, r0 + block), rows = r1 - r0
                    // dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale (zero above the diagonal).
                    Gemm.multiply(
                        m: rows, n: r1, k: hs, a: dOh + r0 * C, lda: C, b: v, ldb: C3, transB: true,
                        c: dS + r0 * T, ldc: T, accumulate: false)
                    for t in r0..<r1 { softmaxBackwardRow(dS + t * T, p: p + t * T, n: t + 1, width: T, scale: scale) }
                    // dQ = dS·K over keys 0..<r1.
                    Gemm.multiply(
                        m: rows, n: hs, k: r1, a: dS + r0 * T, lda: T, b: k, ldb: C3, c: dq + r0 * C3, ldc: C3,
                        accumulate: false)
                    r0 = r1
                }
                r0 = 0
                while r0 < T {
                    // Keys r0..<r1 are seen by queries r0..<T only: dK = dSᵀ·Q; dV = Pᵀ·dO.
                    let r1 = min(T, r0 + block), rows = r1 - r0
                    Gemm.multiply(
                        m: rows, n: hs, k: T - r0, a: dS + r0 * T + r0, lda: T, transA: true, b: q + r0 * C3, ldb: C3,
                        c: dk + r0 * C3, ldc: C3, accumulate: false)
                    Gemm.multiply(
                        m: rows, n: hs, k: T - r0, a: p + r0 * T + r0, lda: T, transA: true, b: dOh + r0 * C, ldb: C,
                        c: dv + r0 * C3, ldc: C3, accumulate: false)
                    r0 = r1
                }
            }
        }
    }

    /// row[s] = softmax(scale·row)[s] for s < n; zero for n ≤ s < width.
    @inline(__always)
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, n: Int, width: Int, scale: Float) {
        var mx = -Float.infinity
        let n8 = n & ~7
        var s = 0
        if n8 > 0 {
            var m8 = load8(row)
            s = 8
            while s < n8 { m8 = max8(m8, load8(row + s)); s += 8 }
            for i in 0..<8 { mx = max(mx, m8[i]) }
        }
        while s < n { mx = max(mx, row[s]); s += 1 }
        let sv = Vec8(repeating: scale), mv = Vec8(repeating: mx * scale)
        var acc = Vec8()
        s = 0
        while s < n8 {
            let e = exp8(load8(row + s) * sv - mv)
            store8(e, row + s)
            acc += e
            s += 8
        }
        var sum = acc.sum()
        while s < n { let e = exp1(row[s] * scale - mx * scale); row[s] = e; sum += e; s += 1 }
        let iv = Vec8(repeating: 1 / sum), inv = 1 / sum
        s = 0
        while s < n8 { store8(load8(row + s) * iv, row + s); s += 8 }
        while s < n { row[s] *= inv; s += 1 }
        if width > n { (row + n).update(repeating: 0, count: width - n) }
    }

    /// dS[s] = p[s]·(dP[s] − Σ p·dP)·scale for s < n, in place of dP; zero for n ≤ s < width.
    @inline(__always)
    static func softmaxBackwardRow(
        _ row: UnsafeMutablePointer<Float>, p: UnsafePointer<Float>, n: Int, width: Int, scale: Float
    ) {
        let n8 = n & ~7
        var acc = Vec8()
        var s = 0
        while s < n8 { acc = acc.addingProduct(load8(p + s), load8(row + s)); s += 8 }
        var dot = acc.sum()
        while s < n { dot += p[s] * row[s]; s += 1 }
        let dv = Vec8(repeating: dot), sv = Vec8(repeating: scale)
        s = 0
        while s < n8 { store8(load8(p + s) * (load8(row + s) - dv) * sv, row + s); s += 8 }
        while s < n { row[s] = p[s] * (row[s] - dot) * scale; s += 1 }
        if width > n { (row + n).update(repeating: 0, count: width - n) }
    }
}
