/// Row-wise sums and adds around the GEMMs: bias gradients, embedding gradients, squared norms.
public enum Elementwise {
    /// dbias[c] += Σ_r dy[r, c], rows in ascending order, read row after row (in storage order).
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

    /// Σ x[i]² accumulated in eight float lanes per block of 4096, blocks summed in Double, in order:
    /// deterministic for a given count, and accurate enough for a clipping norm.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(count, start + 4096)
            var a = Vec8()
            var i = start
            while i + 8 <= end { let v = load8(x + i); a = a.addingProduct(v, v); i += 8 }
            var s = Double(a.sum())
            while i < end { s += Double(x[i] * x[i]); i += 1 }
            total += s
            start = end
        }
        return total
    }
}
