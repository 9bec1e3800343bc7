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
    ///
    /// Two passes per (batch, head): rows t give dS and dq (accumulated in registers over s); then columns
    /// s give dk and dv (accumulated in registers over t ≥ s), so no gradient row is read and written
    /// once per score.
    public static func backward(
        dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        probs: UnsafePointer<Float>, shape: Shape
    ) {
        let T = shape.time, C = shape.channels, H = shape.heads, hs = shape.headSize, Tp = shape.paddedTime
        let C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        let vt = UnsafeMutablePointer<Float>.allocate(capacity: hs * Tp)
        let dS = UnsafeMutablePointer<Float>.allocate(capacity: T * Tp)
        defer { vt.deallocate(); dS.deallocate() }
        vt.initialize(repeating: 0, count: hs * Tp)
        dS.initialize(repeating: 0, count: T * Tp)
        dqkv.update(repeating: 0, count: shape.batch * T * C3)
        for b in 0..<shape.batch {
            let base = qkv + b * T * C3
            let dbase = dqkv + b * T * C3
            for h in 0..<H {
                transpose(into: vt, from: base + 2 * C + h * hs, stride: C3, rows: T, cols: hs, ldOut: Tp)
                let pHead = probs + (b * H + h) * T * T
                for t in 0..<T {
                    let n = t + 1
                    let dO = dout + (b * T + t) * C + h * hs
                    let p = pHead + t * T
                    let row = dS + t * Tp
                    // dP[s] = dO · v[s]; dS[s] = P[s]·(dP[s] − Σ P·dP)·scale
                    scoreRow(row, q: dO, kt: vt, hs: hs, tp: Tp, n: n)
                    var dot: Float = 0
                    for s in 0..<n { dot += p[s] * row[s] }
                    for s in 0..<n { row[s] = p[s] * (row[s] - dot) * scale }
                    // dq[t] = Σ_s dS[s]·k[s]
                    weightedSum(dbase + t * C3 + h * hs, weights: UnsafePointer(row), n: n,
                                rows: base + C + h * hs, stride: C3, width: hs)
                }
                for s in 0..<T {
                    // dk[s] = Σ_{t≥s} dS[t][s]·q[t]; dv[s] = Σ_{t≥s} P[t][s]·dO[t]
                    columnSum(dbase + s * C3 + C + h * hs, weights: UnsafePointer(dS + s), weightStride: Tp,
                              from: s, to: T, rows: base + h * hs, stride: C3, width: hs)
                    columnSum(dbase + s * C3 + 2 * C + h * hs, weights: pHead + s, weightStride: T,
                              from: s, to: T, rows: dout + b * T * C + h * hs, stride: C, width: hs)
                }
            }
        }
    }

    /// out[d] += Σ_{t in from..<to} weights[t·weightStride]·rows[t·stride + d] for d < width.
    @inline(__always)
    static func columnSum(
        _ out: UnsafeMutablePointer<Float>, weights: UnsafePointer<Float>, weightStride: Int, from: Int, to: Int,
        rows: UnsafePointer<Float>, stride: Int, width: Int
    ) {
        var d = 0
        while d + 16 <= width {
            var a0 = load8(out + d), a1 = load8(out + d + 8)
            for t in from..<to {
                let w = Vec8(repeating: weights[t * weightStride])
                a0 = a0.addingProduct(w, load8(rows + t * stride + d))
                a1 = a1.addingProduct(w, load8(rows + t * stride + d + 8))
            }
            store8(a0, out + d); store8(a1, out + d + 8)
            d += 16
        }
        while d + 8 <= width {
            var a0 = load8(out + d)
            for t in from..<to { a0 = a0.addingProduct(Vec8(repeating: weights[t * weightStride]), load8(rows + t * stride + d)) }
            store8(a0, out + d)
            d += 8
        }
        while d < width {
            var a = out[d]
            for t in from..<to { a += weights[t * weightStride] * rows[t * stride + d] }
            out[d] = a
            d += 1
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
}
