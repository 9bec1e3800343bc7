/// Softmax cross-entropy over logits rows, with the gradient written in place of the logits.
public enum CrossEntropy {
    /// Per-row losses (natural log) of `rows` rows of `vocab` logits (row stride `ld` ≥ vocab).
    /// Returns the sum of the losses in Double, in row order.
    @discardableResult
    public static func forward(
        losses: UnsafeMutablePointer<Float>?, logits: UnsafePointer<Float>, ld: Int,
        targets: UnsafePointer<Int32>, rows: Int, vocab: Int
    ) -> Double {
        var total = 0.0
        for r in 0..<rows {
            let row = logits + r * ld
            let lse = logSumExp(row, vocab)
            let loss = lse - row[Int(targets[r])]
            losses?[r] = loss
            total += Double(loss)
        }
        return total
    }

    /// Replaces each logits row by (softmax − onehot(target))·scale and zeroes its padding columns.
    /// `scale` is 1/(global token count), so gradients summed over spheres equal the full batch's.
    public static func backwardInPlace(
        logits: UnsafeMutablePointer<Float>, ld: Int, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
        scale: Float
    ) {
        for r in 0..<rows {
            let row = logits + r * ld
            let lse = logSumExp(UnsafePointer(row), vocab)
            let v8 = vocab & ~7
            let lv = Vec8(repeating: lse), sv = Vec8(repeating: scale)
            var i = 0
            while i < v8 { store8(exp8(load8(row + i) - lv) * sv, row + i); i += 8 }
            while i < vocab { row[i] = exp1(row[i] - lse) * scale; i += 1 }
            row[Int(targets[r])] -= scale
            if ld > vocab { (row + vocab).update(repeating: 0, count: ld - vocab) }
        }
    }

    @inline(__always)
    static func logSumExp(_ row: UnsafePointer<Float>, _ vocab: Int) -> Float {
        let v8 = vocab & ~7
        var mx = -Float.infinity
        var i = 0
        if v8 > 0 {
            var m8 = load8(row)
            i = 8
            while i < v8 { m8 = max8(m8, load8(row + i)); i += 8 }
            mx = m8.max()
        }
        while i < vocab { mx = max(mx, row[i]); i += 1 }
        let mv = Vec8(repeating: mx)
        var acc = Vec8()
        i = 0
        while i < v8 { acc += exp8(load8(row + i) - mv); i += 8 }
        var s = acc.sum()
        while i < vocab { s += exp1(row[i] - mx); i += 1 }
        return mx + _logf(s)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _logf(_ x: Float) -> Float { Glibc.logf(x) }
@inline(__always) func _sqrt(_ x: Double) -> Double { Glibc.sqrt(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _logf(_ x: Float) -> Float { Darwin.logf(x) }
@inline(__always) func _sqrt(_ x: Double) -> Double { Darwin.sqrt(x) }
#endif
