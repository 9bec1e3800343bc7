import CLLMCacheHints

/// Single-precision matrix multiply, C (+)= op(A) · op(B), row-major, written in Swift on SIMD vectors.
///
/// A register tile of 6 rows × two vectors (twelve accumulators: 6×16 on `SIMD8<Float>` for AVX2, 6×32 on
/// `SIMD16<Float>` for AVX-512) runs over k with fused multiply-adds, in Goto's loop order: each slice of
/// B (4,096/width deep: 256 or 128) is packed into strips one tile wide, and the strips pass over 96-row
/// blocks of A. A is read in place along its rows (its six values per k broadcast from where they lie); a
/// transposed A and a ragged last row tile are packed. Each element of C is one FMA
/// chain over k in ascending order, whatever the shape, the tile it falls in, the blocking or the vector
/// width: reproducible to the bit, and the AVX2 and AVX-512 builds give the same bits.
///
/// The implementation is generic over the vector and `@inlinable`, so a module compiled for another CPU
/// (CLLMKernelsAVX512) specializes it into its own machine code; `multiply` without a vector type is the
/// AVX2 build this module is compiled into.
public enum Gemm {
    /// Rows of the register tile.
    public static let mr = 6

    /// Floats of the scratch one `multiply` call allocates (and frees) on a tile of `vectorWidth`-wide
    /// vectors: the memory model counts the largest of a step's calls once per worker thread.
    /// Not inlinable: compiled once, here, never into the AVX-512 module (see `multiply(_:build:…)`).
    public static func scratchFloats(m: Int, n: Int, k: Int, vectorWidth: Int) -> Int {
        let nr = 2 * vectorWidth, depth = min(k, stripFloats / nr)
        let panel = (n + nr - 1) / nr * packedStripFloats(depth, nr)
        let block = (min(m, mc) + mr - 1) / mr * packedTileFloats(depth)
        return panel + block + mr * nr + nr
    }
    /// Columns of the AVX2 register tile (two 8-wide vectors); the AVX-512 tile has 32.
    public static let nr = 16
    /// Rows of A kept hot in L2 while every column strip passes over them.
    @usableFromInline static let mc = 96
    /// Floats of one packed strip of B: its depth per pass over k is this over the strip's width (256 for
    /// 16 columns, 128 for 32), 16 KiB that stay in L1 across the row tiles. A pass continues the previous
    /// pass's FMA chains from C, so blocking never changes a bit.
    @usableFromInline static let stripFloats = 4096

    /// What happens to a finished tile of C on its way out, while it is still in registers.
    public enum Epilogue {
        case none
        /// C receives GELU of its value and, when given, `derivative` (same shape and stride as C) GELU′ of it:
        /// bit-identical to `Gelu.forward` over C, without another pass over memory. The pre-activation is
        /// never written to memory (partial sums over k wait in C between passes; the last pass replaces
        /// them): the MLP's backward pass needs only GELU's output (the next layer's input) and derivative.
        /// Full tiles go out with streaming stores where 32-byte aligned: the next GEMM reads GELU's output
        /// once, in order, and the derivative waits for the backward pass.
        case gelu(derivative: UnsafeMutablePointer<Float>?)
    }

    /// Computes `C[m×n] = (accumulate ? C : bias) + op(A)[m×k] · op(B)[k×n]` (bias broadcast over rows;
    /// zero when nil).
    ///
    /// - `transA`: A is stored as k×m (so op(A) = Aᵀ); otherwise m×k. `lda` is its row stride.
    /// - `transB`: B is stored as n×k; otherwise k×n. `ldb` is its row stride.
    /// - `ldc`: row stride of C (m×n).
    /// - `residual`: when given and not accumulating, C starts as residual + bias (residual laid out as C):
    ///   bit-identical to filling C with residual + bias and accumulating, without that pass over memory.
    /// - `columnSums` (B not transposed): columnSums[j] += Σ_p B[p, j], p ascending, with
    ///   `Elementwise.addColumnSums`'s arithmetic, while B is packed: a bias gradient is the column sums of
    ///   the output gradient that the weight-gradient GEMM reads as B, so it takes no pass of its own.
    /// - `next`: memory the caller reads right after this call (the next GEMM's weights), asked for a few
    ///   lines with each kernel call, so that it arrives while this product computes instead of stalling the
    ///   next call's packing.
    public static func multiply(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil, epilogue: Epilogue = .none,
        columnSums: UnsafeMutablePointer<Float>? = nil, next: UnsafeBufferPointer<Float>? = nil
    ) {
        multiply(
            SIMD8<Float>.self, build: AVX2Build.self, m: m, n: n, k: k, a: a, lda: lda, transA: transA, b: b,
            ldb: ldb, transB: transB, c: c, ldc: ldc, accumulate: accumulate, bias: bias, residual: residual,
            epilogue: epilogue, columnSums: columnSums, next: next)
    }

    /// Names this module's specialization of the generic `multiply`.
    private enum AVX2Build {}

    /// `multiply` on a register tile of `V` vectors, specialized (and compiled for its CPU) where it is called.
    ///
    /// `build` is a type private to the calling module. Swift emits a specialization as a weak symbol named
    /// after its type arguments, and the linker keeps one copy per name: without a private type, a module
    /// compiled for AVX-512 and one compiled for AVX2 could share one copy, and AVX-512 code would run on a
    /// CPU without it.
    @inlinable
    public static func multiply<V: SIMD, Build>(
        _ vector: V.Type, build: Build.Type, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil, epilogue: Epilogue = .none,
        columnSums: UnsafeMutablePointer<Float>? = nil, next: UnsafeBufferPointer<Float>? = nil
    ) where V.Scalar == Float {
        precondition(m >= 0 && n >= 0 && k >= 0, "negative GEMM size")
        precondition(columnSums == nil || !transB, "column sums need B untransposed")
        if m == 0, let columnSums {
            // Nothing to multiply, and so no packing to add the sums while it runs.
            for p in 0..<k { Elementwise.add(columnSums, b + p * ldb, count: n) }
        }
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate {
                for i in 0..<m {
                    if let residual {
                        if let bias {
                            for j in 0..<n { c[i * ldc + j] = residual[i * ldc + j] + bias[j] }
                        } else {
                            (c + i * ldc).update(from: residual + i * ldc, count: n)
                        }
                    } else if let bias { (c + i * ldc).update(from: bias, count: n) } else { (c + i * ldc).update(repeating: 0, count: n) }
                }
            }
            if case .gelu(let derivative) = epilogue {
                for i in 0..<m {
                    Gelu.forward(out: c + i * ldc, derivative: derivative.map { $0 + i * ldc }, x: c + i * ldc, count: n)
                }
            }
            return
        }
        let nr = 2 * V.scalarCount, kc = stripFloats / nr
        let strips = (n + nr - 1) / nr
        let depth = min(k, kc)
        let tilesPerBlock = (min(m, mc) + mr - 1) / mr
        // One scratch allocation per call (`scratchFloats`): B's panel (every strip, `depth` deep), A's block
        // (row tiles of 6, `depth` deep), a C tile for ragged edges and a padded bias strip.
        let panelCount = strips * packedStripFloats(depth, nr), blockCount = tilesPerBlock * packedTileFloats(depth)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchFloats(m: m, n: n, k: k, vectorWidth: V.scalarCount))
        defer { scratch.deallocate() }
        let panel = scratch, blockA = scratch + panelCount
        let tile = blockA + blockCount, biasPad = tile + mr * nr
        // A transposed would be read six floats per cache line: pack it. A in place is read along its rows.
        let packedA = transA
        // `next`, spread over every kernel call of this product.
        let nextLines = next.map { ($0.count * 4 + 63) / 64 } ?? 0
        let slices = (k + kc - 1) / kc, fullBlocks = m / mc
        let calls = slices * strips * (fullBlocks * ((mc + mr - 1) / mr) + (m % mc + mr - 1) / mr)
        var call = 0
        var pc = 0
        while pc < k {
            let kb = min(kc, k - pc)
            let load = accumulate || pc > 0
            let last = pc + kb == k
            packB(V.self, build: Build.self, b, ldb: ldb, trans: transB, p0: pc, depth: kb, n: n, into: panel,
                  columnSums: columnSums)
            var ic = 0
            while ic < m {
                let mb = min(mc, m - ic)
                let tiles = (mb + mr - 1) / mr
                // The block packed after this one: the next rows of A at this depth, or the first at the next.
                var nextRows = 0, nextP = 0, nextI = 0, nextCount = 0
                if packedA {
                    if ic + mb < m {
                        nextRows = kb; nextP = pc; nextI = ic + mb; nextCount = min(mc, m - ic - mb)
                    } else if pc + kb < k {
                        nextRows = min(kc, k - pc - kb); nextP = pc + kb; nextI = 0; nextCount = min(mc, m)
                    }
                }
                if packedA {
                    packA(a, lda: lda, trans: transA, i0: ic, rows: mb, p0: pc, depth: kb, into: blockA)
                } else if mb % mr != 0 {
                    // Only the ragged last row tile is packed (zero rows below); full tiles are read in place.
                    let full = mb - mb % mr
                    packA(a + full * lda, lda: lda, trans: false, i0: ic, rows: mb - full, p0: pc, depth: kb,
                          into: blockA + (full / mr) * packedTileFloats(kb))
                }
                for s in 0..<strips {
                    let j = s * nr
                    let cols = min(nr, n - j)
                    var stripBias: UnsafePointer<Float>? = nil
                    if !load, let bias {
                        if cols == nr { stripBias = bias + j } else {
                            biasPad.update(repeating: 0, count: nr)
                            biasPad.update(from: bias + j, count: cols)
                            stripBias = UnsafePointer(biasPad)
                        }
                    }
                    var tileEpilogue = Epilogue.none
                    if last {
                        switch epilogue {
                        case .none: break
                        case .gelu(let derivative): tileEpilogue = .gelu(derivative: derivative.map { $0 + j })
                        }
                    }
                    let bp = UnsafePointer(panel + s * packedStripFloats(kb, nr))
                    for t in 0..<tiles {
                        let ir = ic + t * mr, rows = min(mr, m - ir)
                        if nextLines > 0, let base = next?.baseAddress {
                            let lo = call * nextLines / calls, hi = (call + 1) * nextLines / calls
                            if hi > lo { cllm_prefetch(base + lo * 16, (hi - lo) * 64) }
                            call += 1
                        }
                        // A transposed is packed a block at a time from memory: while this block computes,
                        // ask for the next block's storage rows, a few with each kernel call.
                        if packedA && nextRows > 0 {
                            let q = s * tiles + t, blockCalls = strips * tiles
                            for r in (q * nextRows / blockCalls)..<((q + 1) * nextRows / blockCalls) {
                                cllm_prefetch(a + (nextP + r) * lda + nextI, nextCount * 4)
                            }
                        }
                        // The first strip reads A's rows in place, from memory: ask for the next tile's now.
                        if s == 0 && !packedA && t + 1 < tiles {
                            for r in (ir + mr)..<min(ir + 2 * mr, m) { cllm_prefetch(a + r * lda + pc, kb * 4) }
                        }
                        let start = load ? nil : residual.map { $0 + ir * ldc + j }
                        if rows <= 2 {
                            pairKernel(V.self, build: Build.self, kb, UnsafePointer(blockA + t * packedTileFloats(kb)), rowStride: 1, kStride: mr,
                                       bp, c + ir * ldc + j, ldc, rows: rows, cols: cols, load: load, bias: stripBias,
                                       residual: start, tile: tile, epilogue: tileEpilogue, row: ir)
                        } else if packedA || rows < mr {
                            kernel(V.self, build: Build.self, kb, UnsafePointer(blockA + t * packedTileFloats(kb)), rowStride: 1, kStride: mr, bp,
                                   c + ir * ldc + j, ldc, rows: rows, cols: cols, load: load, bias: stripBias,
                                   residual: start, tile: tile, epilogue: tileEpilogue, row: ir)
                        } else {
                            kernel(V.self, build: Build.self, kb, a + ir * lda + pc, rowStride: lda, kStride: 1, bp,
                                   c + ir * ldc + j, ldc, rows: rows, cols: cols, load: load, bias: stripBias,
                                   residual: start, tile: tile, epilogue: tileEpilogue, row: ir)
                        }
                    }
                }
                ic += mb
            }
            pc += kb
        }
        if case .gelu = epilogue { cllm_stream_fence() }
    }

    /// Packs rows p0..<p0+depth of op(B) (all n columns) into strips of `depth` rows × 2·V.scalarCount,
    /// strip after strip (`packedStripFloats` apart), the last one zero-padded, so the kernel reads B
    /// contiguously whatever its stride (a power-of-two stride would otherwise map a strip onto a few L1
    /// sets). With `columnSums` (B not
    /// transposed), each row is also added to them as it passes (see `multiply`). The optimizer may outline
    /// this as a specialization of its own; `build` keeps that symbol the calling module's (see
    /// `multiply(_:build:…)`).
    @inlinable @inline(__always)
    static func packB<V: SIMD, Build>(
        _: V.Type, build: Build.Type, _ b: UnsafePointer<Float>, ldb: Int, trans: Bool, p0: Int, depth: Int, n: Int,
        into out: UnsafeMutablePointer<Float>, columnSums: UnsafeMutablePointer<Float>? = nil
    ) where V.Scalar == Float {
        let w = V.scalarCount, nr = 2 * w
        let full = n / nr, rest = n - full * nr, stride = packedStripFloats(depth, nr)
        if !trans {
            // Each source row is read once, in order, and dealt out to the strips.
            for p in 0..<depth {
                let src = b + (p0 + p) * ldb
                if p + 4 < depth { cllm_prefetch(src + 4 * ldb, n * 4) }
                if let sums = columnSums {
                    for s in 0..<full {
                        let from = src + s * nr, to = out + s * stride + p * nr, sum = sums + s * nr
                        let v0 = loadV(V.self, from), v1 = loadV(V.self, from + w)
                        storeV(v0, to); storeV(v1, to + w)
                        storeV(loadV(V.self, sum) + v0, sum); storeV(loadV(V.self, sum + w) + v1, sum + w)
                    }
                    for j in (full * nr)..<n { sums[j] += src[j] }
                } else {
                    for s in 0..<full {
                        let from = src + s * nr, to = out + s * stride + p * nr
                        storeV(loadV(V.self, from), to); storeV(loadV(V.self, from + w), to + w)
                    }
                }
                if rest > 0 {
                    let to = out + full * stride + p * nr
                    to.update(from: src + full * nr, count: rest)
                    (to + rest).update(repeating: 0, count: nr - rest)
                }
            }
        } else {
            // B is n×k: element (p, j) sits at b[j·ldb + p]. Eight source rows at a time, transposed in
            // registers eight steps at a time (a scattered store per value otherwise); ragged edges one by one.
            let depth8 = depth & ~7
            for s in 0..<(full + (rest > 0 ? 1 : 0)) {
                let strip = out + s * stride, cols = min(nr, n - s * nr), cols8 = cols & ~7
                var j = 0
                while j < cols8 {
                    let src = b + (s * nr + j) * ldb + p0
                    var p = 0
                    while p < depth8 { cllm_transpose8x8(src + p, ldb, strip + p * nr + j, nr); p += 8 }
                    for i in 0..<8 where depth8 < depth {
                        for p in depth8..<depth { strip[p * nr + j + i] = src[i * ldb + p] }
                    }
                    j += 8
                }
                for j in cols8..<nr {
                    if j < cols {
                        let src = b + (s * nr + j) * ldb + p0
                        for p in 0..<depth { strip[p * nr + j] = src[p] }
                    } else {
                        for p in 0..<depth { strip[p * nr + j] = 0 }
                    }
                }
            }
        }
    }

    /// Floats from one packed strip of B to the next: its `depth` rows of `nr`, and a cache line more. Without
    /// the pad, strips 256 deep lie 16 KiB apart and fall into one L1 set, and packing B, which writes one row
    /// of every strip for each source row, evicts its own lines.
    @inlinable @inline(__always)
    static func packedStripFloats(_ depth: Int, _ nr: Int) -> Int { depth * nr + 16 }

    /// Floats from one packed row tile of A to the next: its `depth` groups of six, and a cache line more.
    /// Without the pad, tiles 256 deep lie 6 KiB apart and all sixteen of a block fall into two L1 sets,
    /// so packing a transposed A, which writes to every tile of the block for each step, kept evicting
    /// its own lines (the weight-gradient GEMMs ran at 79 GFLOP/s against 86 with A in place).
    @inlinable @inline(__always)
    static func packedTileFloats(_ depth: Int) -> Int { depth * mr + 16 }

    /// Packs rows i0..<i0+rows, columns p0..<p0+depth of op(A) into row tiles of 6: tile t holds `depth`
    /// groups of six (rows i0+6t ..< i0+6t+6), a ragged last tile padded with zero rows; tile t starts
    /// `packedTileFloats(depth)·t` floats into `out`.
    @inlinable @inline(__always)
    static func packA(
        _ a: UnsafePointer<Float>, lda: Int, trans: Bool, i0: Int, rows: Int, p0: Int, depth: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        // Element (row r, step p) of op(A) sits at a[r·rs + p·ps].
        let rs = trans ? 1 : lda, ps = trans ? lda : 1
        let base = i0 * rs + p0 * ps
        var t = 0
        if trans {
            // The full tiles' six values of one step are adjacent, and all the tiles' values of one step are
            // one stretch of A's storage row: walk each row once, handing six values to each tile.
            let full = rows / mr
            for p in 0..<depth {
                let row = base + p * ps
                // This row was written long before (a layer's activations): ask for the row 8 ahead now.
                if p + 8 < depth { cllm_prefetch(a + row + 8 * ps, rows * 4) }
                for t in 0..<full {
                    let src = a + row + t * mr, o = out + t * packedTileFloats(depth) + p * mr
                    o[0] = src[0]; o[1] = src[1]; o[2] = src[2]; o[3] = src[3]; o[4] = src[4]; o[5] = src[5]
                }
            }
            t = full
        }
        while t * mr < rows {
            let dst = out + t * packedTileFloats(depth)
            let valid = min(mr, rows - t * mr)
            let first = base + t * mr * rs
            for p in 0..<depth {
                for r in 0..<mr { dst[p * mr + r] = r < valid ? a[first + r * rs + p * ps] : 0 }
            }
            t += 1
        }
    }

    /// The register tile: row i of A at step p is `a[i·rowStride + p·kStride]`, B's sixteen values of
    /// step p at `b + 16p` (packed); C's tile (rows × cols of it valid) loaded first when `load`. Should the
    /// optimizer outline it after all, `build` keeps that symbol the calling module's (see `multiply(_:build:…)`).
    @inlinable @inline(__always)
    static func kernel<V: SIMD, Build>(
        _: V.Type, build: Build.Type, _ k: Int, _ a: UnsafePointer<Float>, rowStride rs: Int, kStride ks: Int, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, cols: Int, load: Bool,
        bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>? = nil, tile: UnsafeMutablePointer<Float>,
        epilogue: Epilogue, row: Int
    ) where V.Scalar == Float {
        let w = V.scalarCount, nr = 2 * w
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        let full = rows == mr && cols == nr
        if !load, let bias {
            let b0 = loadV(V.self, bias), b1 = loadV(V.self, bias + w)
            c00 = b0; c10 = b0; c20 = b0; c30 = b0; c40 = b0; c50 = b0
            c01 = b1; c11 = b1; c21 = b1; c31 = b1; c41 = b1; c51 = b1
        }
        // Starting values read from memory: C itself when accumulating, else the residual (plus the bias
        // already in the accumulators, added in that order). A ragged tile reads through a padded copy.
        if let source = load ? UnsafePointer(c) : residual {
            var p = source, ld = ldc
            if !full { padTile(source, ldc, rows: rows, cols: cols, width: nr, into: tile); p = UnsafePointer(tile); ld = nr }
            let addBias = !load && bias != nil
            @inline(__always) func start(_ acc: inout V, _ offset: Int) {
                acc = addBias ? loadV(V.self, p + offset) + acc : loadV(V.self, p + offset)
            }
            start(&c00, 0); start(&c01, w); start(&c10, ld); start(&c11, ld + w)
            start(&c20, 2 * ld); start(&c21, 2 * ld + w); start(&c30, 3 * ld); start(&c31, 3 * ld + w)
            start(&c40, 4 * ld); start(&c41, 4 * ld + w); start(&c50, 5 * ld); start(&c51, 5 * ld + w)
        }
        var ap = a, bp = b
        let r2 = 2 * rs, r3 = 3 * rs, r4 = 4 * rs, r5 = 5 * rs
        for _ in 0..<k {
            let b0 = loadV(V.self, bp), b1 = loadV(V.self, bp + w)
            let a0 = V(repeating: ap[0]), a1 = V(repeating: ap[rs]), a2 = V(repeating: ap[r2])
            c00 = c00.addingProduct(a0, b0); c01 = c01.addingProduct(a0, b1)
            c10 = c10.addingProduct(a1, b0); c11 = c11.addingProduct(a1, b1)
            c20 = c20.addingProduct(a2, b0); c21 = c21.addingProduct(a2, b1)
            let a3 = V(repeating: ap[r3]), a4 = V(repeating: ap[r4]), a5 = V(repeating: ap[r5])
            c30 = c30.addingProduct(a3, b0); c31 = c31.addingProduct(a3, b1)
            c40 = c40.addingProduct(a4, b0); c41 = c41.addingProduct(a4, b1)
            c50 = c50.addingProduct(a5, b0); c51 = c51.addingProduct(a5, b1)
            ap += ks; bp += nr
        }
        if full, case .none = epilogue {
            storeV(c00, c); storeV(c01, c + w)
            storeV(c10, c + ldc); storeV(c11, c + ldc + w)
            storeV(c20, c + 2 * ldc); storeV(c21, c + 2 * ldc + w)
            storeV(c30, c + 3 * ldc); storeV(c31, c + 3 * ldc + w)
            storeV(c40, c + 4 * ldc); storeV(c41, c + 4 * ldc + w)
            storeV(c50, c + 5 * ldc); storeV(c51, c + 5 * ldc + w)
        } else {
            // Ragged tiles and epilogues go through the tile scratch, outside this loop's code.
            let p = tile
            storeV(c00, p); storeV(c01, p + w); storeV(c10, p + nr); storeV(c11, p + nr + w)
            storeV(c20, p + 2 * nr); storeV(c21, p + 2 * nr + w); storeV(c30, p + 3 * nr); storeV(c31, p + 3 * nr + w)
            storeV(c40, p + 4 * nr); storeV(c41, p + 4 * nr + w); storeV(c50, p + 5 * nr); storeV(c51, p + 5 * nr + w)
            finish(tile: tile, c, ldc, rows: rows, cols: cols, width: nr, epilogue: epilogue, row: row)
        }
    }

    /// `kernel` for a tile of one or two rows (the last of a weight gradient 128 or 512 wide: 128 = 21·6 + 2),
    /// on four accumulators: the six-row tile would spend two thirds of its multiply-adds on the zero rows it
    /// is padded with. Each element is the same FMA chain from the same start, so the bits are the same.
    /// A's rows past `rows` are never read; `build` as in `kernel`.
    @inlinable @inline(__always)
    static func pairKernel<V: SIMD, Build>(
        _: V.Type, build: Build.Type, _ k: Int, _ a: UnsafePointer<Float>, rowStride rs: Int, kStride ks: Int, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, cols: Int, load: Bool,
        bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, tile: UnsafeMutablePointer<Float>,
        epilogue: Epilogue, row: Int
    ) where V.Scalar == Float {
        let w = V.scalarCount, nr = 2 * w
        var c00 = V(), c01 = V(), c10 = V(), c11 = V()
        if !load, let bias {
            let b0 = loadV(V.self, bias), b1 = loadV(V.self, bias + w)
            c00 = b0; c10 = b0; c01 = b1; c11 = b1
        }
        if let source = load ? UnsafePointer(c) : residual {
            var p = source, ld = ldc
            if cols != nr || rows == 1 {
                padTile(source, ldc, rows: rows, cols: cols, width: nr, into: tile); p = UnsafePointer(tile); ld = nr
            }
            let addBias = !load && bias != nil
            @inline(__always) func start(_ acc: inout V, _ offset: Int) {
                acc = addBias ? loadV(V.self, p + offset) + acc : loadV(V.self, p + offset)
            }
            start(&c00, 0); start(&c01, w); start(&c10, ld); start(&c11, ld + w)
        }
        var ap = a, bp = b
        if rows == 2 {
            for _ in 0..<k {
                let b0 = loadV(V.self, bp), b1 = loadV(V.self, bp + w)
                let a0 = V(repeating: ap[0]), a1 = V(repeating: ap[rs])
                c00 = c00.addingProduct(a0, b0); c01 = c01.addingProduct(a0, b1)
                c10 = c10.addingProduct(a1, b0); c11 = c11.addingProduct(a1, b1)
                ap += ks; bp += nr
            }
        } else {
            for _ in 0..<k {
                let a0 = V(repeating: ap[0])
                c00 = c00.addingProduct(a0, loadV(V.self, bp)); c01 = c01.addingProduct(a0, loadV(V.self, bp + w))
                ap += ks; bp += nr
            }
        }
        if rows == 2 && cols == nr, case .none = epilogue {
            storeV(c00, c); storeV(c01, c + w); storeV(c10, c + ldc); storeV(c11, c + ldc + w)
        } else {
            let p = tile
            storeV(c00, p); storeV(c01, p + w); storeV(c10, p + nr); storeV(c11, p + nr + w)
            finish(tile: tile, c, ldc, rows: rows, cols: cols, width: nr, epilogue: epilogue, row: row)
        }
    }

    /// Copies a ragged rows × cols corner of a C-shaped matrix into `tile` (6 rows of `width`), zero elsewhere.
    /// Outlined (and compiled here, for AVX2, whichever build calls it): it keeps the kernel's loop small.
    @usableFromInline @inline(never)
    static func padTile(
        _ src: UnsafePointer<Float>, _ ld: Int, rows: Int, cols: Int, width: Int, into tile: UnsafeMutablePointer<Float>
    ) {
        tile.update(repeating: 0, count: mr * width)
        for r in 0..<rows { for j in 0..<cols { tile[r * width + j] = src[r * ld + j] } }
    }

    /// Writes a finished tile held in `tile` (6 rows of `width`) to C's rows × cols, through the epilogue.
    /// Compiled here only, so the GELU's bits are the same whichever build of the kernel calls it.
    @usableFromInline @inline(never)
    static func finish(
        tile: UnsafeMutablePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, cols: Int,
        width nr: Int, epilogue: Epilogue, row: Int
    ) {
        // Rows of C's tile are rows `row…` of the derivative's, same stride.
        switch epilogue {
        case .none:
            break
        case .gelu(let derivative):
            let d = derivative.map { $0 + row * ldc }
            if rows == mr && cols == nr && streamable(c, ldc) && (d.map { streamable($0, ldc) } ?? true) {
                streamGeluTile(tile, out: c, derivative: d, ldc, width: nr)
            } else {
                geluTile(c, d, ldc, rows: rows, cols: cols, width: nr, tile: tile)
            }
            return
        }
        if rows == mr && cols == nr {
            for r in 0..<mr {
                var h = 0
                while h < nr { store8(load8(tile + r * nr + h), c + r * ldc + h); h += 8 }
            }
        } else {
            for r in 0..<rows { for j in 0..<cols { c[r * ldc + j] = tile[r * nr + j] } }
        }
    }

    /// GELU and GELU′ of a finished tile (6 rows of `width`), stored to `out` and `derivative`, eight values
    /// at a time.
    @inline(__always)
    static func geluTile(
        _ out: UnsafeMutablePointer<Float>, _ derivative: UnsafeMutablePointer<Float>?, _ ld: Int, rows: Int, cols: Int,
        width nr: Int, tile: UnsafeMutablePointer<Float>
    ) {
        let full = cols == nr
        for r in 0..<rows {
            for h in 0..<(nr / 8) {
                let (g, d) = Gelu.valueAndDerivative(load8(tile + r * nr + h * 8))
                if full {
                    store8(g, out + r * ld + h * 8)
                    if let derivative { store8(d, derivative + r * ld + h * 8) }
                } else {
                    for j in 0..<8 where h * 8 + j < cols {
                        out[r * ld + h * 8 + j] = g[j]
                        derivative?[r * ld + h * 8 + j] = d[j]
                    }
                }
            }
        }
    }

    /// Whether a C-shaped matrix at `p` with row stride `ld` can take streaming stores at every tile's rows.
    @inline(__always)
    static func streamable(_ p: UnsafeMutablePointer<Float>, _ ld: Int) -> Bool {
        Int(bitPattern: p) & 31 == 0 && ld & 7 == 0
    }

    /// GELU and GELU′ of a full tile, written with streaming stores straight from the registers (`out` and
    /// `derivative` 32-byte aligned): the same values as `geluTile`.
    @inline(__always)
    static func streamGeluTile(
        _ tile: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>?,
        _ ld: Int, width nr: Int
    ) {
        for r in 0..<mr {
            var h = 0
            while h < nr {
                let (g, d) = Gelu.valueAndDerivative(load8(tile + r * nr + h))
                cllm_stream_vector8(out + r * ld + h, g)
                if let derivative { cllm_stream_vector8(derivative + r * ld + h, d) }
                h += 8
            }
        }
    }

    @inlinable @inline(__always)
    static func loadV<V: SIMD>(_: V.Type, _ p: UnsafePointer<Float>) -> V where V.Scalar == Float {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inlinable @inline(__always)
    static func loadV<V: SIMD>(_: V.Type, _ p: UnsafeMutablePointer<Float>) -> V where V.Scalar == Float {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inlinable @inline(__always)
    static func storeV<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }
}
