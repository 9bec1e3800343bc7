/// Row-wise sums and adds around the GEMMs: bias gradients, embedding gradients, squared norms.
public enum Elementwise {
    /// dbias[c] += Σ_r dy[r, c], rows in ascending order, read row after row (in storage order). The model's
    /// bias gradients are added inside the weight-gradient GEMM (`Gemm.multiply(…, columnSums:)`) with this
    /// arithmetic; this is that path's reference.
    public static func addColumnSums(_ dbias: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, rows: Int, cols: Int) {
        let c8 = cols & ~7
        for r in 0..<rows {
            let row = dy + r * cols
            var c = 0
            while c < c8 { store8(load8(dbias + c) + load8(row + c), dbias + c); c += 8 }
            while c < cols { dbias[c] += row[c]; c += 1 }
        }
    }

    /// y[i] += x[i].
    public static func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count { store8(load8(y + i) + load8(x + i), y + i); i += 8 }
        while i < count { y[i] += x[i]; i += 1 }
    }

    /// y[i] = a[i] + b[i].
    public static func add(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count { store8(load8(a + i) + load8(b + i), y + i); i += 8 }
        while i < count { y[i] = a[i] + b[i]; i += 1 }
    }

    /// out[i] = ((x₀[i] + x₁[i]) + x₂[i]) + … over `sources` in order (x₀ may be `out` itself), and returns
    /// Σ out[i]² with exactly `sumOfSquares(out, count:)`'s arithmetic.
    ///
    /// With one or two sources (a step of one or two spheres) each block of 4,096 floats (16 KiB) is summed
    /// and then squared while it sits in L1, instead of separate copy, add and square passes over the whole
    /// range. With more, every source is added over the whole range, one long stream each: reading 63 sources
    /// in runs of 16 KiB made the merge a fifth slower.
    public static func sumWithSquares(
        _ sources: UnsafeBufferPointer<UnsafePointer<Float>>, into out: UnsafeMutablePointer<Float>, count: Int
    ) -> Double {
        precondition(!sources.isEmpty, "a sum needs at least one source")
        let inPlace = sources[0] == UnsafePointer(out)
        let piece = sources.count <= 2 ? 4096 : max(count, 1)
        var total = 0.0
        var start = 0
        while start < count {
            let n = min(piece, count - start)
            let y = out + start
            if sources.count == 1 {
                if !inPlace { y.update(from: sources[0] + start, count: n) }
            } else if inPlace {
                add(y, sources[1] + start, count: n)
            } else {
                add(y, sources[0] + start, sources[1] + start, count: n)
            }
            for x in sources.dropFirst(2) { add(y, x + start, count: n) }
            // Whole blocks of 4,096 from the range's start: `sumOfSquares`'s own grouping.
            total += sumOfSquares(y, count: n)
            start += n
        }
        return total
    }

    /// Σ x[i]² accumulated in four vectors of eight float lanes per block of 4096, blocks summed in Double, in order:
    /// deterministic for a given count, and accurate enough for a clipping norm.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(count, start + 4096)
            // Four partial sums: one chain of multiply-adds waited on its own latency at every vector.
            var a0 = Vec8(), a1 = Vec8(), a2 = Vec8(), a3 = Vec8()
            var i = start
            while i + 32 <= end {
                let v0 = load8(x + i), v1 = load8(x + i + 8), v2 = load8(x + i + 16), v3 = load8(x + i + 24)
                a0 = a0.addingProduct(v0, v0); a1 = a1.addingProduct(v1, v1)
                a2 = a2.addingProduct(v2, v2); a3 = a3.addingProduct(v3, v3)
                i += 32
            }
            while i + 8 <= end { let v = load8(x + i); a0 = a0.addingProduct(v, v); i += 8 }
            var s = Double(((a0 + a1) + (a2 + a3)).sum())
            while i < end { s += Double(x[i] * x[i]); i += 1 }
            total += s
            start = end
        }
        return total
    }
}
