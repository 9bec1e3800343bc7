import CLLMCacheHints

/// Causal multi-head self-attention on a packed qkv activation, forward and backward.
///
/// `qkv` is [B·T, 3C] (q, k, v each C wide; head h owns columns h·hs ..< (h+1)·hs of each), as GPT-2's
/// `c_attn` produces it. Each (batch, head) is a handful of small matrix products. They run on the GEMM's
/// 6×16 register tile directly: the operands each (batch, head) reads many times are packed once into
/// 16-wide strips, and each row tile of six queries computes only the key strips its causal window
/// reaches. Masked probabilities are exact zeros, so a strip that runs past the diagonal adds nothing to
/// any sum: every result is one FMA chain in ascending order, the same bits as a plain GEMM would give,
/// whatever the strip width. Like `Gemm`, the implementation is generic over the vector (16-wide strips on
/// `SIMD8<Float>` here, 32-wide in CLLMKernelsAVX512); the softmax rows are compiled here only.
public enum Attention {
    public struct Shape: Sendable {
        public let batch, time, channels, heads: Int
        public init(batch: Int, time: Int, channels: Int, heads: Int) {
            self.batch = batch; self.time = time; self.channels = channels; self.heads = heads
        }
        @usableFromInline var headSize: Int { channels / heads }
    }

    /// Names this module's specializations (see `Gemm.multiply(_:build:…)`).
    private enum AVX2Build {}

    /// Floats of the scratch `forward` allocates on strips of two `vectorWidth`-wide vectors: every head's
    /// Kᵀ and V strips of one sequence, a C tile and a ragged row tile.
    /// Not inlinable: compiled once, here, never into the AVX-512 module (see `multiply(_:build:…)`).
    public static func forwardScratchFloats(shape: Shape, vectorWidth: Int) -> Int {
        let nr = 2 * vectorWidth, T = shape.time, hs = shape.headSize
        let keyStrips = (T + nr - 1) / nr, headStrips = (hs + nr - 1) / nr
        return shape.heads * (keyStrips * hs * nr + headStrips * T * nr) + Gemm.mr * nr + Gemm.mr * max(T, hs)
    }

    /// Floats of the scratch `backward` allocates: every head's Vᵀ, K, Q and dO strips of one sequence, dS,
    /// a transposed row tile, a C tile and a ragged row tile.
    /// Not inlinable: compiled once, here, never into the AVX-512 module (see `multiply(_:build:…)`).
    public static func backwardScratchFloats(shape: Shape, vectorWidth: Int) -> Int {
        let nr = 2 * vectorWidth, T = shape.time, hs = shape.headSize
        let keyStrips = (T + nr - 1) / nr, headStrips = (hs + nr - 1) / nr
        return shape.heads * (keyStrips * hs * nr + 3 * headStrips * T * nr) + T * T + Gemm.mr * T + Gemm.mr * nr
            + Gemm.mr * max(T, hs)
    }

    /// Writes the attention output [B·T, C] and the probabilities [B, H, T, T] (zero above the diagonal).
    public static func forward(
        out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        shape: Shape
    ) {
        forward(SIMD8<Float>.self, build: AVX2Build.self, out: out, probs: probs, qkv: qkv, shape: shape)
    }

    /// Writes the gradient of qkv into `dqkv` (every element overwritten) from the gradient of the output.
    public static func backward(
        dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        probs: UnsafePointer<Float>, shape: Shape
    ) {
        backward(SIMD8<Float>.self, build: AVX2Build.self, dqkv: dqkv, dout: dout, qkv: qkv, probs: probs, shape: shape)
    }

    /// `forward` on strips two `V` vectors wide; `build` as in `Gemm.multiply(_:build:…)`.
    @inlinable
    public static func forward<V: SIMD, Build>(
        _: V.Type, build: Build.Type, out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
        qkv: UnsafePointer<Float>, shape: Shape
    ) where V.Scalar == Float {
        let mr = Gemm.mr, nr = 2 * V.scalarCount
        let T = shape.time, C = shape.channels, H = shape.heads, hs = shape.headSize
        let C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        let keyStrips = (T + nr - 1) / nr, headStrips = (hs + nr - 1) / nr
        // Kᵀ in key strips (hs rows of 16 keys each), V in head-column strips (T rows of 16), a C tile, and
        // room for a ragged row tile of A.
        // Every head's operands of one sequence are packed in one pass over its rows, which streams them
        // from memory in order (they were written long before, by the qkv GEMM).
        let ktCount = keyStrips * hs * nr, vCount = headStrips * T * nr
        let scratch = UnsafeMutablePointer<Float>.allocate(
            capacity: forwardScratchFloats(shape: shape, vectorWidth: V.scalarCount))
        defer { scratch.deallocate() }
        let kTs = scratch, vPs = kTs + H * ktCount, tile = vPs + H * vCount, ragged = tile + mr * nr
        for b in 0..<shape.batch {
            let base = qkv + b * T * C3
            packTransposed(base + C, ld: C3, rows: T, heads: H, cols: hs, strip: nr, into: kTs)
            packRows(V.self, base + 2 * C, ld: C3, rows: T, heads: H, cols: hs, into: vPs)
            for h in 0..<H {
                let q = base + h * hs
                let kT = kTs + h * ktCount, vP = vPs + h * vCount
                let p = probs + (b * H + h) * T * T
                // S = Q·Kᵀ, the causal softmax in place, O = P·V.
                causalRowTiles(
                    V.self, build: Build.self, a: q, lda: C3, keys: kT, scores: p, values: vP, c: out + b * T * C + h * hs, ldc: C,
                    time: T, headSize: hs, tile: tile, ragged: ragged
                ) { rows in softmaxRows(p, rows: rows, width: T, scale: scale) }
            }
        }
    }

    /// `backward` on strips two `V` vectors wide; `build` as in `Gemm.multiply(_:build:…)`.
    @inlinable
    public static func backward<V: SIMD, Build>(
        _: V.Type, build: Build.Type, dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>, shape: Shape
    ) where V.Scalar == Float {
        let mr = Gemm.mr, nr = 2 * V.scalarCount
        let T = shape.time, C = shape.channels, H = shape.heads, hs = shape.headSize
        let C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        let keyStrips = (T + nr - 1) / nr, headStrips = (hs + nr - 1) / nr
        // Vᵀ in key strips; K, Q and dO in head-column strips; dS; a transposed row tile; a C tile.
        let vtCount = keyStrips * hs * nr, stripCount = headStrips * T * nr
        let scratch = UnsafeMutablePointer<Float>.allocate(
            capacity: backwardScratchFloats(shape: shape, vectorWidth: V.scalarCount))
        defer { scratch.deallocate() }
        let vTs = scratch, kPs = vTs + H * vtCount, qPs = kPs + H * stripCount, dOPs = qPs + H * stripCount
        let dS = dOPs + H * stripCount, aT = dS + T * T, tile = aT + mr * T, ragged = tile + mr * nr
        let tiles = (T + mr - 1) / mr
        for b in 0..<shape.batch {
            let base = qkv + b * T * C3, dbase = dqkv + b * T * C3
            let dO = dout + b * T * C
            packTransposed(base + 2 * C, ld: C3, rows: T, heads: H, cols: hs, strip: nr, into: vTs)
            packRows(V.self, base + C, ld: C3, rows: T, heads: H, cols: hs, into: kPs)
            packRows(V.self, base, ld: C3, rows: T, heads: H, cols: hs, into: qPs)
            packRows(V.self, dO, ld: C, rows: T, heads: H, cols: hs, into: dOPs)
            for h in 0..<H {
                let dq = dbase + h * hs, dk = dbase + C + h * hs, dv = dbase + 2 * C + h * hs
                let dOh = dO + h * hs
                let vT = vTs + h * vtCount, kP = kPs + h * stripCount, qP = qPs + h * stripCount
                let dOP = dOPs + h * stripCount
                let p = probs + (b * H + h) * T * T
                // dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale (zero above the diagonal); dQ = dS·K.
                causalRowTiles(
                    V.self, build: Build.self, a: dOh, lda: C, keys: vT, scores: dS, values: kP, c: dq, ldc: C3, time: T, headSize: hs,
                    tile: tile, ragged: ragged
                ) { rows in softmaxBackwardRows(dS, p: p, rows: rows, width: T, scale: scale) }
                // Keys j0..<j0+6 are seen by queries j0..<T only: dK = dSᵀ·Q and dV = Pᵀ·dO over those queries.
                var j0 = 0
                while j0 < T {
                    let rows = min(mr, T - j0), depth = T - j0
                    if b + 1 < shape.batch {
                        // The next sequence's qkv rows, dO rows and probabilities were written a whole pass ago:
                        // ask for them a slice at a time, spread over this sequence's heads and tiles.
                        let part = h * tiles + j0 / mr, parts = H * tiles
                        prefetchPart(base + T * C3, count: T * C3, part: part, of: parts)
                        prefetchPart(dO + T * C, count: T * C, part: part, of: parts)
                        prefetchPart(probs + (b + 1) * H * T * T, count: H * T * T, part: part, of: parts)
                    }
                    // Six adjacent columns of dS and P, read down their rows in place (both in L1); a ragged
                    // last tile is copied, since its six reads would run past the matrix.
                    let (sA, sK) = columnTile(UnsafePointer(dS) + j0 * T + j0, ld: T, cols: rows, depth: depth, scratch: aT)
                    product(V.self, build: Build.self, sA, rowStride: 1, kStride: sK, depth: depth, rows: rows, strips: qP + j0 * nr,
                            stripStride: T * nr, c: dk + j0 * C3, ldc: C3, width: hs, tile: tile)
                    let (pA, pK) = columnTile(p + j0 * T + j0, ld: T, cols: rows, depth: depth, scratch: aT)
                    product(V.self, build: Build.self, pA, rowStride: 1, kStride: pK, depth: depth, rows: rows, strips: dOP + j0 * nr,
                            stripStride: T * nr, c: dv + j0 * C3, ldc: C3, width: hs, tile: tile)
                    j0 += rows
                }
            }
        }
    }

    /// For each row tile of six queries: S = A·`keys` (strips `hs` deep) over the key strips the tile's causal
    /// window reaches, into `scores` (T × T); `rows` on the tile's rows; then C = S·`values` (strips T deep)
    /// over keys 0..<seen. Forward: Q·Kᵀ, softmax, P·V; backward: dO·Vᵀ, softmax's backward, dS·K.
    /// The optimizer may outline this as a specialization of its own; `build` keeps that symbol the calling
    /// module's (see `Gemm.multiply(_:build:…)`).
    @inlinable @inline(__always)
    static func causalRowTiles<V: SIMD, Build>(
        _: V.Type, build: Build.Type, a: UnsafePointer<Float>, lda: Int, keys: UnsafeMutablePointer<Float>,
        scores: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
        ldc: Int, time T: Int, headSize hs: Int, tile: UnsafeMutablePointer<Float>, ragged: UnsafeMutablePointer<Float>,
        rows tileRows: (Range<Int>) -> Void
    ) where V.Scalar == Float {
        let mr = Gemm.mr, nr = 2 * V.scalarCount
        var i0 = 0
        while i0 < T {
            let rows = min(mr, T - i0), seen = i0 + rows
            let (sa, sStride) = rowTile(a + i0 * lda, ld: lda, rows: rows, depth: hs, scratch: ragged)
            product(V.self, build: Build.self, sa, rowStride: sStride, kStride: 1, depth: hs, rows: rows, strips: keys, stripStride: hs * nr,
                    c: scores + i0 * T, ldc: T, width: min(T, (seen + nr - 1) / nr * nr), tile: tile)
            tileRows(i0..<seen)
            let (pa, pStride) = rowTile(UnsafePointer(scores + i0 * T), ld: T, rows: rows, depth: seen, scratch: ragged)
            product(V.self, build: Build.self, pa, rowStride: pStride, kStride: 1, depth: seen, rows: rows, strips: values, stripStride: T * nr,
                    c: c + i0 * ldc, ldc: ldc, width: hs, tile: tile)
            i0 += rows
        }
    }

    /// C's `rows` rows (≤ 6), `width` columns = A's rows (row i at step p: `a[i·rowStride + p·kStride]`) times
    /// consecutive packed strips of B (two `V` wide), each `depth` deep and `stripStride` floats after the
    /// previous one.
    @inlinable @inline(__always)
    static func product<V: SIMD, Build>(
        _: V.Type, build: Build.Type, _ a: UnsafePointer<Float>, rowStride: Int, kStride: Int, depth: Int, rows: Int,
        strips b: UnsafeMutablePointer<Float>, stripStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int, width: Int,
        tile: UnsafeMutablePointer<Float>
    ) where V.Scalar == Float {
        let nr = 2 * V.scalarCount
        var s = 0
        while s * nr < width {
            Gemm.kernel(V.self, build: Build.self, depth, a, rowStride: rowStride, kStride: kStride, UnsafePointer(b + s * stripStride), c + s * nr,
                        ldc, rows: rows, cols: min(nr, width - s * nr), load: false, bias: nil, tile: tile,
                        epilogue: .none, row: 0)
            s += 1
        }
    }

    /// Packs each head's rows × cols block of `src` (row stride `ld`, head h at columns h·cols…) transposed,
    /// in strips of `nr` rows: head h's strip s holds `out[(h·strips + s)·cols·nr + c·nr + j] = src[(nr·s + j)·ld
    /// + h·cols + c]`, zero past the last row. Rows are read once each, in order: eight at a time, transposed
    /// in registers in 8×8 blocks (`nr` is a multiple of 8), then any rest one by one.
    @inlinable @inline(__always)
    static func packTransposed(
        _ src: UnsafePointer<Float>, ld: Int, rows: Int, heads: Int, cols: Int, strip nr: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        let strips = (rows + nr - 1) / nr, cols8 = cols & ~7
        var r0 = 0
        while r0 + 8 <= rows {
            let s = r0 / nr, j = r0 % nr
            for r in (r0 + 8)..<min(r0 + 16, rows) { cllm_prefetch(src + r * ld, heads * cols * 4) }
            for h in 0..<heads {
                let o = out + (h * strips + s) * cols * nr + j, row = src + r0 * ld + h * cols
                var c = 0
                while c < cols8 { cllm_transpose8x8(row + c, ld, o + c * nr, nr); c += 8 }
                for c in cols8..<cols { for i in 0..<8 { o[c * nr + i] = row[i * ld + c] } }
            }
            r0 += 8
        }
        for r in r0..<strips * nr {
            let s = r / nr, j = r % nr
            if r + 4 < rows { cllm_prefetch(src + (r + 4) * ld, heads * cols * 4) }
            for h in 0..<heads {
                let o = out + (h * strips + s) * cols * nr + j
                if r < rows {
                    let row = src + r * ld + h * cols
                    for c in 0..<cols { o[c * nr] = row[c] }
                } else {
                    for c in 0..<cols { o[c * nr] = 0 }
                }
            }
        }
    }

    /// Packs each head's rows × cols block of `src` in strips of `nr` (two `V`) columns: head h's strip s holds
    /// `out[(h·strips + s)·rows·nr + r·nr + j] = src[r·ld + h·cols + nr·s + j]`, zero past the last column.
    @inlinable @inline(__always)
    static func packRows<V: SIMD>(
        _: V.Type, _ src: UnsafePointer<Float>, ld: Int, rows: Int, heads: Int, cols: Int,
        into out: UnsafeMutablePointer<Float>
    ) where V.Scalar == Float {
        let w = V.scalarCount, nr = 2 * w
        let strips = (cols + nr - 1) / nr
        for r in 0..<rows {
            // qkv and dO rows were written long before: ask for the row 4 ahead while this one is dealt out.
            if r + 4 < rows { cllm_prefetch(src + (r + 4) * ld, heads * cols * 4) }
            for h in 0..<heads {
                for s in 0..<strips {
                    let from = src + r * ld + h * cols + s * nr, to = out + (h * strips + s) * rows * nr + r * nr
                    let width = min(nr, cols - s * nr)
                    if width == nr {
                        Gemm.storeV(Gemm.loadV(V.self, from), to); Gemm.storeV(Gemm.loadV(V.self, from + w), to + w)
                    } else {
                        to.update(from: from, count: width)
                        (to + width).update(repeating: 0, count: nr - width)
                    }
                }
            }
        }
    }

    /// Prefetches slice `part` of `parts` equal slices of [p, p + count).
    @inlinable @inline(__always)
    static func prefetchPart(_ p: UnsafePointer<Float>, count: Int, part: Int, of parts: Int) {
        let lo = count * part / parts, hi = count * (part + 1) / parts
        cllm_prefetch(p + lo, (hi - lo) * 4)
    }

    /// Packs `cols` (< 6: a ragged last tile, see `columnTile`) adjacent columns of `depth` rows as the
    /// kernel's transposed A operand: `out[d·6 + c] = src[d·ld + c]`, zero for c ≥ cols.
    @inlinable @inline(__always)
    static func packColumns(_ src: UnsafePointer<Float>, ld: Int, cols: Int, depth: Int, into out: UnsafeMutablePointer<Float>) {
        let mr = Gemm.mr
        for d in 0..<depth {
            let row = src + d * ld, o = out + d * mr
            for c in 0..<mr { o[c] = c < cols ? row[c] : 0 }
        }
    }

    /// The transposed A operand of six adjacent columns (`depth` rows, stride `ld`) read in place, or, for
    /// fewer than six, packed by `packColumns`: the pointer and the step between rows of it.
    @inlinable @inline(__always)
    static func columnTile(
        _ src: UnsafePointer<Float>, ld: Int, cols: Int, depth: Int, scratch: UnsafeMutablePointer<Float>
    ) -> (UnsafePointer<Float>, Int) {
        if cols == Gemm.mr { return (src, ld) }
        packColumns(src, ld: ld, cols: cols, depth: depth, into: scratch)
        return (UnsafePointer(scratch), Gemm.mr)
    }

    /// The A operand of a row tile read in place, or, for a ragged last tile, copied with zero rows below
    /// so the kernel's six row reads stay inside the buffers.
    @inlinable @inline(__always)
    static func rowTile(
        _ a: UnsafePointer<Float>, ld: Int, rows: Int, depth: Int, scratch: UnsafeMutablePointer<Float>
    ) -> (UnsafePointer<Float>, Int) {
        let mr = Gemm.mr
        if rows == mr { return (a, ld) }
        for r in 0..<mr {
            if r < rows { (scratch + r * depth).update(from: a + r * ld, count: depth) } else {
                (scratch + r * depth).update(repeating: 0, count: depth)
            }
        }
        return (UnsafePointer(scratch), depth)
    }

    /// Row t of `scores` (row stride `width`, its first t + 1 values the causal window): softmax(scale·row)
    /// over the window, zero past it, for each t in `rows` (a row tile, at most eight rows). Compiled here
    /// only, so every build of the products around it gets these bits.
    ///
    /// Each row is a chain of dependent steps (its maximum, the exponentials and their sum, one division,
    /// the scaling), short on arithmetic. Each phase runs over all the tile's rows before the next starts,
    /// so the rows' chains overlap without relying on how far the core looks ahead (attention about 3%
    /// faster than row after row). Each row's arithmetic is the same as alone.
    @usableFromInline @inline(never)
    static func softmaxRows(_ scores: UnsafeMutablePointer<Float>, rows: Range<Int>, width: Int, scale: Float) {
        precondition(rows.count <= 8, "a row tile of at most eight rows")
        let sv = Vec8(repeating: scale)
        // The maximum without a branch per value (the scores are finite, so any order gives the same one):
        // whole chunks, the tail's chunk with the lanes past n masked when it lies inside the row, then
        // halves of the vector.
        var maxima = Vec8()
        for (k, t) in rows.enumerated() {
            let row = scores + t * width, n = t + 1, n8 = n & ~7
            var m8 = Vec8(repeating: -.infinity)
            var s = 0
            while s < n8 { m8 = max8(m8, load8(row + s)); s += 8 }
            if s < n {
                if s + 8 <= width {
                    // (Lane numbers as floats: a float compare is one instruction, an integer one is not, here.)
                    let lanes = Vec8(0, 1, 2, 3, 4, 5, 6, 7)
                    m8 = max8(m8, load8(row + s).replacing(with: -.infinity, where: lanes .>= Vec8(repeating: Float(n - s))))
                } else {
                    for i in s..<n { m8[0] = row[i] > m8[0] ? row[i] : m8[0] }
                }
            }
            let m4 = m8.lowHalf.replacing(with: m8.highHalf, where: m8.highHalf .> m8.lowHalf)
            let m2 = m4.lowHalf.replacing(with: m4.highHalf, where: m4.highHalf .> m4.lowHalf)
            maxima[k] = m2[1] > m2[0] ? m2[1] : m2[0]
        }
        var inverses = Vec8()
        for (k, t) in rows.enumerated() {
            let row = scores + t * width, n = t + 1, n8 = n & ~7
            let mx = maxima[k], mv = Vec8(repeating: mx * scale)
            var acc = Vec8()
            var s = 0
            while s < n8 {
                let e = exp8(load8(row + s) * sv - mv)
                store8(e, row + s)
                acc += e
                s += 8
            }
            var sum = acc.sum()
            // The tail's exponentials in one vector when its chunk lies inside the row (lanes past n hold
            // scores the product computed, or whatever; they are zeroed below): each lane is the same function
            // of the same input as exp1, and the sum still takes them one by one, in order.
            if s < n && s + 8 <= width {
                let e = exp8(load8(row + s) * sv - mv)
                store8(e, row + s)
                for i in 0..<(n - s) { sum += e[i] }
            } else {
                while s < n { let e = exp1(row[s] * scale - mx * scale); row[s] = e; sum += e; s += 1 }
            }
            inverses[k] = 1 / sum
        }
        for (k, t) in rows.enumerated() {
            let row = scores + t * width, n = t + 1, n8 = n & ~7
            let inv = inverses[k], iv = Vec8(repeating: inv)
            var s = 0
            while s < n8 { store8(load8(row + s) * iv, row + s); s += 8 }
            if s < n && s + 8 <= width {
                store8(load8(row + s) * iv, row + s)
            } else {
                while s < n { row[s] *= inv; s += 1 }
            }
            if width > n { (row + n).update(repeating: 0, count: width - n) }
        }
    }

    /// Row t of dS (in place of dP, row stride `width`): dS[s] = p[s]·(dP[s] − Σ p·dP)·scale for s ≤ t, zero
    /// past it, for each t in `rows` (at most eight). Compiled here only, like `softmaxRows`, and phase by
    /// phase over the rows for its reason.
    @usableFromInline @inline(never)
    static func softmaxBackwardRows(
        _ dS: UnsafeMutablePointer<Float>, p probs: UnsafePointer<Float>, rows: Range<Int>, width: Int, scale: Float
    ) {
        precondition(rows.count <= 8, "a row tile of at most eight rows")
        var dots = Vec8()
        for (k, t) in rows.enumerated() {
            let row = dS + t * width, p = probs + t * width, n = t + 1, n8 = n & ~7
            var acc = Vec8()
            var s = 0
            while s < n8 { acc = acc.addingProduct(load8(p + s), load8(row + s)); s += 8 }
            var dot = acc.sum()
            while s < n { dot += p[s] * row[s]; s += 1 }
            dots[k] = dot
        }
        let sv = Vec8(repeating: scale)
        for (k, t) in rows.enumerated() {
            let row = dS + t * width, p = probs + t * width, n = t + 1, n8 = n & ~7
            let dot = dots[k], dv = Vec8(repeating: dot)
            var s = 0
            while s < n8 { store8(load8(p + s) * (load8(row + s) - dv) * sv, row + s); s += 8 }
            while s < n { row[s] = p[s] * (row[s] - dot) * scale; s += 1 }
            if width > n { (row + n).update(repeating: 0, count: width - n) }
        }
    }
}
