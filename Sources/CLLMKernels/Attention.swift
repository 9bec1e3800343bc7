/// Causal multi-head self-attention on a packed qkv activation, forward and backward.
///
/// `qkv` is [B·T, 3C] (q, k, v each C wide; head h owns columns h·hs ..< (h+1)·hs of each), as GPT-2's
/// `c_attn` produces it. Scores are computed only for s ≤ t. Keys (and values in the backward) of one
/// (batch, head) are first transposed into a small scratch so that eight scores come out of one FMA chain
/// over the head dimension, with no horizontal sums.
public enum Attention {
    public struct Shape: Sendable {
        public let batch, time, channels, heads: Int
        public init(batch: Int, time: Int, channels: Int, heads: Int) {
            self.batch = batch; self.time = time; self.channels = channels; self.heads = heads
        }
        var headSize: Int { channels / heads }
        var paddedTime: Int { (time + 7) & ~7 }
    }

    /// Writes the attention output [B·T, C] and the probabilities [B, H, T, T] (row t valid for s ≤ t).
    public static func forward(
        out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        shape: Shape
    ) {
        let T = shape.time, C = shape.channels, H = shape.heads, hs = shape.headSize, Tp = shape.paddedTime
        let C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        let kt = UnsafeMutablePointer<Float>.allocate(capacity: hs * Tp)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: Tp)
        defer { kt.deallocate(); row.deallocate() }
        kt.initialize(repeating: 0, count: hs * Tp)
        out.update(repeating: 0, count: shape.batch * T * C)
        for b in 0..<shape.batch {
            let base = qkv + b * T * C3
            for h in 0..<H {
                transpose(into: kt, from: base + C + h * hs, stride: C3, rows: T, cols: hs, ldOut: Tp)
                for t in 0..<T {
                    let q = base + t * C3 + h * hs
                    let n = t + 1
                    scoreRow(row, q: q, kt: kt, hs: hs, tp: Tp, n: n)
                    let p = probs + ((b * H + h) * T + t) * T
                    softmax(p, scores: row, n: n, scale: scale)
                    let o = out + (b * T + t) * C + h * hs
                    weightedSum(o, weights: UnsafePointer(p), n: n, rows: base + 2 * C + h * hs, stride: C3, width: hs)
                }
            }
        }
    }

    /// Writes the gradient of qkv into `dqkv` (overwriting it) from the gradient of the output.
    public static func backward(
        dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        probs: UnsafePointer<Float>, shape: Shape
    ) {
        let T = shape.time, C = shape.channels, H = shape.heads, hs = shape.headSize, Tp = shape.paddedTime
        let C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        let vt = UnsafeMutablePointer<Float>.allocate(capacity: hs * Tp)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: Tp)
        defer { vt.deallocate(); row.deallocate() }
        vt.initialize(repeating: 0, count: hs * Tp)
        dqkv.update(repeating: 0, count: shape.batch * T * C3)
        for b in 0..<shape.batch {
            let base = qkv + b * T * C3
            let dbase = dqkv + b * T * C3
            for h in 0..<H {
                transpose(into: vt, from: base + 2 * C + h * hs, stride: C3, rows: T, cols: hs, ldOut: Tp)
                for t in 0..<T {
                    let n = t + 1
                    let dO = dout + (b * T + t) * C + h * hs
                    let p = probs + ((b * H + h) * T + t) * T
                    // dP[s] = dO · v[s]
                    scoreRow(row, q: dO, kt: vt, hs: hs, tp: Tp, n: n)
                    var dot: Float = 0
                    for s in 0..<n { dot += p[s] * row[s] }
                    for s in 0..<n { row[s] = p[s] * (row[s] - dot) * scale }
                    // dq[t] = Σ_s dS[s]·k[s]
                    let dq = dbase + t * C3 + h * hs
                    weightedSum(dq, weights: UnsafePointer(row), n: n, rows: base + C + h * hs, stride: C3, width: hs)
                    // dk[s] += dS[s]·q[t]; dv[s] += P[s]·dO
                    let q = base + t * C3 + h * hs
                    for s in 0..<n {
                        axpy(dbase + s * C3 + C + h * hs, row[s], q, hs)
                        axpy(dbase + s * C3 + 2 * C + h * hs, p[s], dO, hs)
                    }
                }
            }
        }
    }

    /// out[d·ldOut + r] = src[r·stride + d]; columns r ≥ rows keep their zero padding.
    @inline(__always)
    static func transpose(
        into out: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>, stride: Int, rows: Int, cols: Int,
        ldOut: Int
    ) {
        for r in 0..<rows {
            let s = src + r * stride
            for d in 0..<cols { out[d * ldOut + r] = s[d] }
        }
    }

    /// row[s] = Σ_d q[d]·kt[d·tp + s] for s in chunks of 8 covering 0..<n.
    @inline(__always)
    static func scoreRow(
        _ row: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, kt: UnsafePointer<Float>, hs: Int, tp: Int, n: Int
    ) {
        var s = 0
        while s < n {
            var a0 = Vec8(), a1 = Vec8()
            var d = 0
            while d + 1 < hs {
                a0 = a0.addingProduct(Vec8(repeating: q[d]), load8(kt + d * tp + s))
                a1 = a1.addingProduct(Vec8(repeating: q[d + 1]), load8(kt + (d + 1) * tp + s))
                d += 2
            }
            if d < hs { a0 = a0.addingProduct(Vec8(repeating: q[d]), load8(kt + d * tp + s)) }
            store8(a0 + a1, row + s)
            s += 8
        }
    }

    /// p[s] = softmax(scale·scores)[s] for s < n.
    @inline(__always)
    static func softmax(_ p: UnsafeMutablePointer<Float>, scores: UnsafePointer<Float>, n: Int, scale: Float) {
        var mx = -Float.infinity
        for s in 0..<n { mx = max(mx, scores[s]) }
        let n8 = n & ~7
        let sv = Vec8(repeating: scale), mv = Vec8(repeating: mx * scale)
        var acc = Vec8()
        var s = 0
        while s < n8 {
            let e = exp8(load8(scores + s) * sv - mv)
            store8(e, p + s)
            acc += e
            s += 8
        }
        var sum = acc.sum()
        while s < n { let e = exp1(scores[s] * scale - mx * scale); p[s] = e; sum += e; s += 1 }
        let inv = 1 / sum
        let iv = Vec8(repeating: inv)
        s = 0
        while s < n8 { store8(load8(p + s) * iv, p + s); s += 8 }
        while s < n { p[s] *= inv; s += 1 }
    }

    /// out[d] += Σ_{s<n} weights[s]·rows[s·stride + d] for d < width.
    @inline(__always)
    static func weightedSum(
        _ out: UnsafeMutablePointer<Float>, weights: UnsafePointer<Float>, n: Int, rows: UnsafePointer<Float>,
        stride: Int, width: Int
    ) {
        var d = 0
        while d + 16 <= width {
            var a0 = load8(out + d), a1 = load8(out + d + 8)
            for s in 0..<n {
                let w = Vec8(repeating: weights[s])
                a0 = a0.addingProduct(w, load8(rows + s * stride + d))
                a1 = a1.addingProduct(w, load8(rows + s * stride + d + 8))
            }
            store8(a0, out + d); store8(a1, out + d + 8)
            d += 16
        }
        while d + 8 <= width {
            var a0 = load8(out + d)
            for s in 0..<n { a0 = a0.addingProduct(Vec8(repeating: weights[s]), load8(rows + s * stride + d)) }
            store8(a0, out + d)
            d += 8
        }
        while d < width {
            var a = out[d]
            for s in 0..<n { a += weights[s] * rows[s * stride + d] }
            out[d] = a
            d += 1
        }
    }

    /// y[i] += a·x[i].
    @inline(__always)
    static func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        let av = Vec8(repeating: a)
        var i = 0
        while i + 8 <= n { store8(load8(y + i).addingProduct(av, load8(x + i)), y + i); i += 8 }
        while i < n { y[i] += a * x[i]; i += 1 }
    }
}
