/// LayerNorm over rows of width `c` (eps 1e-5, as GPT-2): y = (x − mean)·rstd·w + b.
///
/// The forward keeps each row's mean and reciprocal standard deviation for the backward, which then needs
/// only x, not the normalised values.
public enum LayerNorm {
    public static let epsilon: Float = 1e-5

    public static func forward(
        out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, rows: Int, c: Int
    ) {
        let c8 = c & ~7
        let invC = 1 / Float(c)
        for r in 0..<rows {
            let xr = x + r * c, yr = out + r * c
            // Four partial sums of each kind: one chain of adds along the row made this latency-bound.
            var a0 = Vec8(), a1 = Vec8(), a2 = Vec8(), a3 = Vec8()
            var i = 0
            while i + 32 <= c8 {
                a0 += load8(xr + i); a1 += load8(xr + i + 8); a2 += load8(xr + i + 16); a3 += load8(xr + i + 24)
                i += 32
            }
            while i < c8 { a0 += load8(xr + i); i += 8 }
            var s = ((a0 + a1) + (a2 + a3)).sum()
            while i < c { s += xr[i]; i += 1 }
            let m = s * invC
            let mv = Vec8(repeating: m)
            a0 = Vec8(); a1 = Vec8(); a2 = Vec8(); a3 = Vec8()
            i = 0
            while i + 32 <= c8 {
                let d0 = load8(xr + i) - mv, d1 = load8(xr + i + 8) - mv
                let d2 = load8(xr + i + 16) - mv, d3 = load8(xr + i + 24) - mv
                a0 = a0.addingProduct(d0, d0); a1 = a1.addingProduct(d1, d1)
                a2 = a2.addingProduct(d2, d2); a3 = a3.addingProduct(d3, d3)
                i += 32
            }
            while i < c8 { let d = load8(xr + i) - mv; a0 = a0.addingProduct(d, d); i += 8 }
            var v = ((a0 + a1) + (a2 + a3)).sum()
            while i < c { let d = xr[i] - m; v += d * d; i += 1 }
            let rs = 1 / (v * invC + epsilon).squareRoot()
            mean[r] = m
            rstd[r] = rs
            let rv = Vec8(repeating: rs)
            i = 0
            while i < c8 {
                let n = (load8(xr + i) - mv) * rv
                store8(n * load8(weight + i) + load8(bias + i), yr + i)
                i += 8
            }
            while i < c { yr[i] = (xr[i] - m) * rs * weight[i] + bias[i]; i += 1 }
        }
    }

    /// Adds the input gradient into `dx` and the parameter gradients into `dweight`/`dbias`.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, c: Int
    ) {
        let c8 = c & ~7
        let invC = 1 / Float(c)
        for r in 0..<rows {
            let xr = x + r * c, dyr = dout + r * c, dxr = dx + r * c
            let m = mean[r], rs = rstd[r]
            let mv = Vec8(repeating: m), rv = Vec8(repeating: rs)
            // Two partial sums of each kind, for the forward's reason.
            var a1 = Vec8(), a2 = Vec8(), b1 = Vec8(), b2 = Vec8()
            var i = 0
            while i + 16 <= c8 {
                let n0 = (load8(xr + i) - mv) * rv, n1 = (load8(xr + i + 8) - mv) * rv
                let dn0 = load8(weight + i) * load8(dyr + i), dn1 = load8(weight + i + 8) * load8(dyr + i + 8)
                a1 += dn0; b1 += dn1
                a2 = a2.addingProduct(dn0, n0); b2 = b2.addingProduct(dn1, n1)
                i += 16
            }
            while i < c8 {
                let n = (load8(xr + i) - mv) * rv
                let dn = load8(weight + i) * load8(dyr + i)
                a1 += dn
                a2 = a2.addingProduct(dn, n)
                i += 8
            }
            var s1 = (a1 + b1).sum(), s2 = (a2 + b2).sum()
            while i < c {
                let n = (xr[i] - m) * rs
                let dn = weight[i] * dyr[i]
                s1 += dn
                s2 += dn * n
                i += 1
            }
            let meanDn = Vec8(repeating: s1 * invC), meanDnN = Vec8(repeating: s2 * invC)
            i = 0
            while i < c8 {
                let n = (load8(xr + i) - mv) * rv
                let dy = load8(dyr + i)
                let dn = load8(weight + i) * dy
                store8(load8(dbias + i) + dy, dbias + i)
                store8(load8(dweight + i).addingProduct(n, dy), dweight + i)
                store8(load8(dxr + i) + (dn - meanDn - n * meanDnN) * rv, dxr + i)
                i += 8
            }
            while i < c {
                let n = (xr[i] - m) * rs
                let dy = dyr[i]
                let dn = weight[i] * dy
                dbias[i] += dy
                dweight[i] += n * dy
                dxr[i] += (dn - s1 * invC - n * s2 * invC) * rs
                i += 1
            }
        }
    }
}
