/// Single-precision matrix multiply, C (+)= op(A) · op(B), row-major, written in Swift on `SIMD8<Float>`.
///
/// Blocked as in BLIS: panels of B (KC×NC) and of A (MC×KC) are packed into contiguous, zero-padded
/// strips, and a 6×16 register-tile micro-kernel runs over them with fused multiply-adds. Each element of
/// C is one FMA chain over k in ascending order, whatever the blocking or the tile it falls in, so the
/// result does not depend on matrix shape, tail handling or vector width: it is reproducible to the bit.
public enum Gemm {
    /// Rows of the register tile.
    public static let mr = 6
    /// Columns of the register tile (two 8-wide vectors).
    public static let nr = 16
    static let kc = 256
    static let mc = 96
    static let nc = 512

    /// Computes `C[m×n] = (accumulate ? C : 0) + op(A)[m×k] · op(B)[k×n]`.
    ///
    /// - `transA`: A is stored as k×m (so op(A) = Aᵀ); otherwise m×k. `lda` is its row stride.
    /// - `transB`: B is stored as n×k; otherwise k×n. `ldb` is its row stride.
    /// - `ldc`: row stride of C (m×n).
    public static func multiply(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "negative GEMM size")
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let kcMax = min(k, kc), ncMax = min(roundUp(n, nr), nc), mcMax = min(roundUp(m, mr), mc)
        let packedB = UnsafeMutablePointer<Float>.allocate(capacity: kcMax * ncMax)
        let packedA = UnsafeMutablePointer<Float>.allocate(capacity: kcMax * mcMax)
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: mr * nr)
        defer { packedB.deallocate(); packedA.deallocate(); tile.deallocate() }

        var jc = 0
        while jc < n {
            let nb = min(nc, n - jc)
            var pc = 0
            while pc < k {
                let kb = min(kc, k - pc)
                packB(b, ldb: ldb, trans: transB, k0: pc, kb: kb, j0: jc, nb: nb, into: packedB)
                let load = accumulate || pc > 0
                var ic = 0
                while ic < m {
                    let mb = min(mc, m - ic)
                    packA(a, lda: lda, trans: transA, i0: ic, mb: mb, k0: pc, kb: kb, into: packedA)
                    var jr = 0
                    while jr < nb {
                        let cols = min(nr, nb - jr)
                        var ir = 0
                        while ir < mb {
                            let rows = min(mr, mb - ir)
                            let cTile = c + (ic + ir) * ldc + jc + jr
                            kernel6x16(
                                kb, packedA + ir * kb, packedB + jr * kb,
                                cTile, ldc, rows: rows, cols: cols, load: load, tile: tile)
                            ir += mr
                        }
                        jr += nr
                    }
                    ic += mb
                }
                pc += kb
            }
            jc += nb
        }
    }

    @inline(__always)
    static func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }

    /// Packs op(B)[k0..<k0+kb, j0..<j0+nb] into strips of `nr` columns: strip s holds kb rows of nr floats.
    static func packB(
        _ b: UnsafePointer<Float>, ldb: Int, trans: Bool,
        k0: Int, kb: Int, j0: Int, nb: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        var jr = 0
        var out = dst
        while jr < nb {
            let cols = min(nr, nb - jr)
            if !trans {
                for p in 0..<kb {
                    let src = b + (k0 + p) * ldb + j0 + jr
                    if cols == nr {
                        out.update(from: src, count: nr)
                    } else {
                        out.update(from: src, count: cols)
                        (out + cols).update(repeating: 0, count: nr - cols)
                    }
                    out += nr
                }
            } else {
                // B is n×k: element (p, j) sits at b[j * ldb + p]. Walk each source row once.
                for j in 0..<nr {
                    if j < cols {
                        let src = b + (j0 + jr + j) * ldb + k0
                        for p in 0..<kb { out[p * nr + j] = src[p] }
                    } else {
                        for p in 0..<kb { out[p * nr + j] = 0 }
                    }
                }
                out += kb * nr
            }
            jr += nr
        }
    }

    /// Packs op(A)[i0..<i0+mb, k0..<k0+kb] into strips of `mr` rows: strip s holds kb groups of mr floats.
    static func packA(
        _ a: UnsafePointer<Float>, lda: Int, trans: Bool,
        i0: Int, mb: Int, k0: Int, kb: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        var ir = 0
        var out = dst
        while ir < mb {
            let rows = min(mr, mb - ir)
            if !trans {
                if rows == mr {
                    let r0 = a + (i0 + ir) * lda + k0
                    let r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda, r4 = r3 + lda, r5 = r4 + lda
                    for p in 0..<kb {
                        out[0] = r0[p]; out[1] = r1[p]; out[2] = r2[p]
                        out[3] = r3[p]; out[4] = r4[p]; out[5] = r5[p]
                        out += mr
                    }
                } else {
                    for p in 0..<kb {
                        for r in 0..<mr {
                            out[r] = r < rows ? a[(i0 + ir + r) * lda + k0 + p] : 0
                        }
                        out += mr
                    }
                }
            } else {
                // A is k×m: element (i, p) sits at a[p * lda + i]; rows of a strip are contiguous.
                for p in 0..<kb {
                    let src = a + (k0 + p) * lda + i0 + ir
                    for r in 0..<mr { out[r] = r < rows ? src[r] : 0 }
                    out += mr
                }
            }
            ir += mr
        }
    }

    /// The register tile: 6 rows × 16 columns held in twelve 8-wide accumulators.
    @inline(__always)
    static func kernel6x16(
        _ kb: Int, _ pa: UnsafePointer<Float>, _ pb: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, rows: Int, cols: Int, load: Bool,
        tile: UnsafeMutablePointer<Float>
    ) {
        typealias V = SIMD8<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        let full = rows == mr && cols == nr
        if load {
            if full {
                c00 = loadV(c); c01 = loadV(c + 8)
                c10 = loadV(c + ldc); c11 = loadV(c + ldc + 8)
                c20 = loadV(c + 2 * ldc); c21 = loadV(c + 2 * ldc + 8)
                c30 = loadV(c + 3 * ldc); c31 = loadV(c + 3 * ldc + 8)
                c40 = loadV(c + 4 * ldc); c41 = loadV(c + 4 * ldc + 8)
                c50 = loadV(c + 5 * ldc); c51 = loadV(c + 5 * ldc + 8)
            } else {
                let p = tile
                p.update(repeating: 0, count: mr * nr)
                for r in 0..<rows { for j in 0..<cols { p[r * nr + j] = c[r * ldc + j] } }
                c00 = loadV(p); c01 = loadV(p + 8); c10 = loadV(p + 16); c11 = loadV(p + 24)
                c20 = loadV(p + 32); c21 = loadV(p + 40); c30 = loadV(p + 48); c31 = loadV(p + 56)
                c40 = loadV(p + 64); c41 = loadV(p + 72); c50 = loadV(p + 80); c51 = loadV(p + 88)
            }
        }
        var ap = pa, bp = pb
        for _ in 0..<kb {
            let b0 = loadV(bp), b1 = loadV(bp + 8)
            let a0 = V(repeating: ap[0]), a1 = V(repeating: ap[1]), a2 = V(repeating: ap[2])
            c00 = c00.addingProduct(a0, b0); c01 = c01.addingProduct(a0, b1)
            c10 = c10.addingProduct(a1, b0); c11 = c11.addingProduct(a1, b1)
            c20 = c20.addingProduct(a2, b0); c21 = c21.addingProduct(a2, b1)
            let a3 = V(repeating: ap[3]), a4 = V(repeating: ap[4]), a5 = V(repeating: ap[5])
            c30 = c30.addingProduct(a3, b0); c31 = c31.addingProduct(a3, b1)
            c40 = c40.addingProduct(a4, b0); c41 = c41.addingProduct(a4, b1)
            c50 = c50.addingProduct(a5, b0); c51 = c51.addingProduct(a5, b1)
            ap += mr; bp += nr
        }
        if full {
            storeV(c00, c); storeV(c01, c + 8)
            storeV(c10, c + ldc); storeV(c11, c + ldc + 8)
            storeV(c20, c + 2 * ldc); storeV(c21, c + 2 * ldc + 8)
            storeV(c30, c + 3 * ldc); storeV(c31, c + 3 * ldc + 8)
            storeV(c40, c + 4 * ldc); storeV(c41, c + 4 * ldc + 8)
            storeV(c50, c + 5 * ldc); storeV(c51, c + 5 * ldc + 8)
        } else {
            let p = tile
            storeV(c00, p); storeV(c01, p + 8); storeV(c10, p + 16); storeV(c11, p + 24)
            storeV(c20, p + 32); storeV(c21, p + 40); storeV(c30, p + 48); storeV(c31, p + 56)
            storeV(c40, p + 64); storeV(c41, p + 72); storeV(c50, p + 80); storeV(c51, p + 88)
            for r in 0..<rows { for j in 0..<cols { c[r * ldc + j] = p[r * nr + j] } }
        }
    }

    @inline(__always)
    static func loadV(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func loadV(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func storeV(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}
