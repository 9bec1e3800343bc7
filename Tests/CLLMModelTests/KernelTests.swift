import Foundation
import Testing
@testable import CLLMKernels

/// The kernels against plain double-precision loops, and the fused paths against the unfused ones bit for bit.
@Suite("Kernels")
struct KernelTests {
    /// Deterministic values in [-1, 1).
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<n).map { _ in
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return Float(Double(s >> 11) / Double(1 << 53) * 2 - 1)
        }
    }

    /// op(A)·op(B) in double, row-major, as the GEMM documents its operands.
    static func reference(
        m: Int, n: Int, k: Int, a: [Float], transA: Bool, b: [Float], transB: Bool, bias: [Float]?
    ) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = Double(bias?[j] ?? 0)
                for p in 0..<k {
                    let av = transA ? a[p * m + i] : a[i * k + p]
                    let bv = transB ? b[j * k + p] : b[p * n + j]
                    s += Double(av) * Double(bv)
                }
                c[i * n + j] = s
            }
        }
        return c
    }

    @Test("GEMM matches a double-precision reference for ragged shapes, transposes, bias and accumulation",
          arguments: [(1, 1, 1), (5, 7, 3), (6, 16, 32), (13, 33, 300), (97, 50, 257), (128, 65, 128)])
    func gemm(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = Self.values(m * k, seed: 1), b = Self.values(k * n, seed: 2), bias = Self.values(n, seed: 3)
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { biasp in
                c.withUnsafeMutableBufferPointer { cp in
                    Gemm.multiply(
                        m: m, n: n, k: k, a: ap.baseAddress!, lda: transA ? m : k, transA: transA,
                        b: bp.baseAddress!, ldb: transB ? k : n, transB: transB, c: cp.baseAddress!, ldc: n,
                        accumulate: false, bias: biasp.baseAddress!)
                    // Accumulating the same product again doubles it (minus the bias once).
                    Gemm.multiply(
                        m: m, n: n, k: k, a: ap.baseAddress!, lda: transA ? m : k, transA: transA,
                        b: bp.baseAddress!, ldb: transB ? k : n, transB: transB, c: cp.baseAddress!, ldc: n,
                        accumulate: true)
                }
            } } }
            let once = Self.reference(m: m, n: n, k: k, a: a, transA: transA, b: b, transB: transB, bias: nil)
            var worst = 0.0
            for i in 0..<(m * n) {
                let expected = 2 * once[i] + Double(bias[i % n])
                worst = max(worst, abs(Double(c[i]) - expected) / (1 + abs(expected)))
            }
            #expect(worst < 1e-5, "m \(m) n \(n) k \(k) transA \(transA) transB \(transB): relative error \(worst)")
        }
    }

    /// m = 7 and 8 leave a last tile of one or two rows, which a kernel of their own computes; rows 6 and 7 of a
    /// 12-row product lie in a full six-row tile. Both must give the same bits, on every path: A in place or
    /// transposed, a bias, a residual start, a second pass over k (k = 300), accumulation, the GELU epilogue.
    @Test("a last tile of one or two rows gives the bits of the same rows in a full tile", arguments: [7, 8])
    func shortTile(rows m: Int) {
        let big = 12, n = 50, k = 300
        let a = Self.values(big * k, seed: 21), b = Self.values(k * n, seed: 22)
        let bias = Self.values(n, seed: 23), residual = Self.values(big * n, seed: 24)
        for transA in [false, true] {
            // The first m rows of op(A), stored the same way (k × m when transposed).
            let small = transA ? (0..<k).flatMap { p in a[(p * big)..<(p * big + m)] } : Array(a[0..<(m * k)])
            func product(_ rows: Int, _ av: [Float], _ mode: Int) -> [Float] {
                var c = Array(residual[0..<(rows * n)])
                var d = [Float](repeating: 0, count: rows * n)
                av.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { biasp in
                    residual.withUnsafeBufferPointer { rp in c.withUnsafeMutableBufferPointer { cp in
                        d.withUnsafeMutableBufferPointer { dp in
                            Gemm.multiply(
                                m: rows, n: n, k: k, a: ap.baseAddress!, lda: transA ? rows : k, transA: transA,
                                b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n, accumulate: mode == 0,
                                bias: mode == 0 ? nil : biasp.baseAddress!, residual: mode == 1 ? rp.baseAddress! : nil,
                                epilogue: mode == 2 ? .gelu(derivative: dp.baseAddress!) : .none)
                        }
                    } }
                } } }
                return mode == 2 ? c + d : c
            }
            for mode in 0..<3 {
                let short = product(m, small, mode), full = product(big, a, mode)
                let width = mode == 2 ? 2 : 1
                for part in 0..<width {
                    let s = Array(short[(part * m * n + 6 * n)..<(part * m * n + m * n)])
                    let f = Array(full[(part * big * n + 6 * n)..<(part * big * n + m * n)])
                    #expect(firstBitDifference(s, f) == nil, "m \(m) transA \(transA) mode \(mode) part \(part)")
                }
            }
        }
    }

    /// Output buffers `offset` floats into 64-byte aligned allocations: at 0 the GELU epilogue streams its full
    /// tiles, at 1 or 4 floats it cannot, and stores them. k = 300 takes two passes over k (the partial sums
    /// wait in GELU's output in between).
    @Test("the GELU epilogue gives the bits of a GEMM followed by Gelu.forward, streamed or stored",
          arguments: [((768, 512, 128), 0), ((13, 40, 21), 0), ((7, 24, 300), 0), ((50, 64, 40), 0), ((50, 64, 40), 1),
                      ((50, 64, 40), 4), ((50, 64, 300), 1)])
    func geluEpilogue(shape: (Int, Int, Int), offset: Int) {
        let (m, n, k) = shape
        let a = Self.values(m * k, seed: 4), b = Self.values(k * n, seed: 5), bias = Self.values(n, seed: 6)
        var plain = [Float](repeating: 0, count: m * n), geluPlain = plain, derivativePlain = plain
        let raw = (0..<2).map { _ in UnsafeMutableRawPointer.allocate(byteCount: (m * n + 8) * 4, alignment: 64) }
        defer { raw.forEach { $0.deallocate() } }
        let (g, d) = (raw[0].assumingMemoryBound(to: Float.self) + offset, raw[1].assumingMemoryBound(to: Float.self) + offset)
        #expect(Gemm.streamable(g, n) == (offset == 0))
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { biasp in
            plain.withUnsafeMutableBufferPointer { cp in
                Gemm.multiply(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n,
                              c: cp.baseAddress!, ldc: n, accumulate: false, bias: biasp.baseAddress!)
                geluPlain.withUnsafeMutableBufferPointer { gp in derivativePlain.withUnsafeMutableBufferPointer { dp in
                    Gelu.forward(out: gp.baseAddress!, derivative: dp.baseAddress!, x: cp.baseAddress!, count: m * n)
                } }
            }
            Gemm.multiply(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, c: g, ldc: n,
                          accumulate: false, bias: biasp.baseAddress!, epilogue: .gelu(derivative: d))
        } } }
        #expect(firstBitDifference(Array(UnsafeBufferPointer(start: g, count: m * n)), geluPlain) == nil)
        #expect(firstBitDifference(Array(UnsafeBufferPointer(start: d, count: m * n)), derivativePlain) == nil)
    }

    @Test("GELU's kept derivative matches a central difference of GELU, and the backward applies it")
    func geluDerivative() {
        let x = (0..<203).map { Float($0 - 101) * 0.05 }, dout = Self.values(203, seed: 9)
        var g = [Float](repeating: 0, count: 203), d = g, dx = g
        x.withUnsafeBufferPointer { xp in
            Gelu.forward(out: &g, derivative: &d, x: xp.baseAddress!, count: 203)
        }
        for (i, v) in x.enumerated() {
            let h = 1e-3
            func gelu(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.tanh(0.797_884_56 * (x + 0.044_715 * x * x * x))) }
            let numeric = (gelu(Double(v) + h) - gelu(Double(v) - h)) / (2 * h)
            #expect(abs(Double(d[i]) - numeric) < 1e-5, "x \(v): \(d[i]) against \(numeric)")
            #expect(abs(Double(g[i]) - gelu(Double(v))) < 1e-6 * (1 + abs(Double(g[i]))), "x \(v)")
        }
        dout.withUnsafeBufferPointer { op in d.withUnsafeBufferPointer { dp in
            Gelu.backward(dx: &dx, dout: op.baseAddress!, derivative: dp.baseAddress!, count: 203)
        } }
        #expect(dx == zip(d, dout).map { $0 * $1 })
    }

    @Test("a residual start gives the bits of C filled with residual + bias, then accumulated",
          arguments: [(768, 128, 512), (13, 21, 7), (6, 16, 300)])
    func residualStart(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let a = Self.values(m * k, seed: 12), b = Self.values(k * n, seed: 13)
        let bias = Self.values(n, seed: 14), residual = Self.values(m * n, seed: 15)
        var plain = (0..<(m * n)).map { residual[$0] + bias[$0 % n] }
        var fused = [Float](repeating: .nan, count: m * n), noBias = fused
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in
            bias.withUnsafeBufferPointer { biasp in residual.withUnsafeBufferPointer { rp in
                plain.withUnsafeMutableBufferPointer { c in
                    Gemm.multiply(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n,
                                  c: c.baseAddress!, ldc: n, accumulate: true)
                }
                fused.withUnsafeMutableBufferPointer { c in
                    Gemm.multiply(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n,
                                  c: c.baseAddress!, ldc: n, accumulate: false, bias: biasp.baseAddress!,
                                  residual: rp.baseAddress!)
                }
                noBias.withUnsafeMutableBufferPointer { c in
                    Gemm.multiply(m: m, n: n, k: 0, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n,
                                  c: c.baseAddress!, ldc: n, accumulate: false, residual: rp.baseAddress!)
                }
            } }
        } }
        #expect(firstBitDifference(fused, plain) == nil)
        #expect(firstBitDifference(noBias, residual) == nil)
    }

    @Test("column sums added while B is packed give addColumnSums's bits, and the product is unchanged",
          arguments: [(0, 5, 3), (7, 1, 9), (13, 33, 300), (128, 65, 600), (97, 384, 257)])
    func columnSums(shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let a = Self.values(m * k, seed: 4), b = Self.values(k * n, seed: 5), start = Self.values(n, seed: 6)
        var expected = start
        Elementwise.addColumnSums(&expected, b, rows: k, cols: n)
        var sums = start
        var plain = [Float](repeating: 0, count: m * n), fused = plain
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in
            Gemm.multiply(m: m, n: n, k: k, a: ap.baseAddress!, lda: m, transA: true, b: bp.baseAddress!, ldb: n,
                          c: &plain, ldc: n, accumulate: false)
            Gemm.multiply(m: m, n: n, k: k, a: ap.baseAddress!, lda: m, transA: true, b: bp.baseAddress!, ldb: n,
                          c: &fused, ldc: n, accumulate: false, columnSums: &sums)
        } }
        #expect(firstBitDifference(sums, expected) == nil, "m \(m) n \(n) k \(k)")
        #expect(firstBitDifference(fused, plain) == nil, "m \(m) n \(n) k \(k)")
    }

    @Test("the merge's one-pass sum and squares give the bits of a copy, adds in order and sumOfSquares",
          arguments: [1, 7, 8, 1_023, 1_025, 4_096, 4_100, 16_389], [1, 2, 3, 5])
    func sumWithSquares(count: Int, sources: Int) {
        let xs = (0..<sources).map { Self.values(count, seed: UInt64(count * 10 + $0)) }
        var plain = xs[0]
        for x in xs.dropFirst() { Elementwise.add(&plain, x, count: count) }
        let plainSquares = Elementwise.sumOfSquares(plain, count: count)
        for inPlace in [false, true] {
            // Sources in buffers of their own; in place, the first source is the output.
            let buffers = xs.map { x in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
                p.initialize(from: x, count: count)
                return p
            }
            let out = inPlace ? buffers[0] : UnsafeMutablePointer<Float>.allocate(capacity: count)
            if !inPlace { out.initialize(repeating: .nan, count: count) }
            defer {
                buffers.forEach { $0.deallocate() }
                if !inPlace { out.deallocate() }
            }
            let squares = buffers.map { UnsafePointer($0) }.withUnsafeBufferPointer {
                Elementwise.sumWithSquares($0, into: out, count: count)
            }
            #expect(firstBitDifference(Array(UnsafeBufferPointer(start: out, count: count)), plain) == nil,
                    "in place: \(inPlace)")
            #expect(squares.bitPattern == plainSquares.bitPattern, "in place: \(inPlace)")
        }
    }

    @Test("tanh8 is within 3e-7 of tanh, saturates to ±1 and propagates NaN")
    func tanh() {
        var worst = 0.0
        var x: Float = -12
        while x <= 12 {
            let v = tanh8(Vec8(repeating: x))[0]
            worst = max(worst, abs(Double(v) - Foundation.tanh(Double(x))))
            x += 0.000_37
        }
        #expect(worst < 3e-7)
        #expect(tanh8(Vec8(repeating: 1e30))[0] == 1)
        #expect(tanh8(Vec8(repeating: -Float.infinity))[0] == -1)
        #expect(tanh8(Vec8(repeating: .nan))[0].isNaN)
        #expect(tanh8(Vec8(repeating: 0))[0] == 0)
    }

    /// Causal attention of one sequence in double: out and probabilities, and the gradient of Σ out ⊙ dOut.
    static func attentionReference(
        qkv: [Float], dout: [Float], T: Int, C: Int, H: Int
    ) -> (out: [Double], probs: [Double], dqkv: [Double]) {
        let hs = C / H, C3 = 3 * C
        let scale = 1 / Double(hs).squareRoot()
        var out = [Double](repeating: 0, count: T * C), probs = [Double](repeating: 0, count: H * T * T)
        var dqkv = [Double](repeating: 0, count: T * C3)
        for h in 0..<H {
            func q(_ t: Int, _ d: Int) -> Double { Double(qkv[t * C3 + h * hs + d]) }
            func k(_ t: Int, _ d: Int) -> Double { Double(qkv[t * C3 + C + h * hs + d]) }
            func v(_ t: Int, _ d: Int) -> Double { Double(qkv[t * C3 + 2 * C + h * hs + d]) }
            for t in 0..<T {
                var s = (0...t).map { u in (0..<hs).reduce(0.0) { $0 + q(t, $1) * k(u, $1) } * scale }
                let mx = s.max()!
                s = s.map { Foundation.exp($0 - mx) }
                let sum = s.reduce(0, +)
                let p = s.map { $0 / sum }
                for u in 0...t { probs[(h * T + t) * T + u] = p[u] }
                for d in 0..<hs { out[t * C + h * hs + d] = (0...t).reduce(0.0) { $0 + p[$1] * v($1, d) } }
                // Backward of row t.
                let dO = (0..<hs).map { Double(dout[t * C + h * hs + $0]) }
                let dP = (0...t).map { u in (0..<hs).reduce(0.0) { $0 + dO[$1] * v(u, $1) } }
                let dot = (0...t).reduce(0.0) { $0 + p[$1] * dP[$1] }
                for u in 0...t {
                    let dS = p[u] * (dP[u] - dot) * scale
                    for d in 0..<hs {
                        dqkv[t * C3 + h * hs + d] += dS * k(u, d)
                        dqkv[u * C3 + C + h * hs + d] += dS * q(t, d)
                        dqkv[u * C3 + 2 * C + h * hs + d] += p[u] * dO[d]
                    }
                }
            }
        }
        return (out, probs, dqkv)
    }

    @Test("attention forward and backward match a double-precision reference, ragged tiles included",
          arguments: [(64, 128, 4), (13, 24, 2), (7, 40, 2), (33, 16, 1)])
    func attention(shape: (Int, Int, Int)) {
        let (T, C, H) = shape
        let batch = 2
        let qkv = Self.values(batch * T * 3 * C, seed: 8), dout = Self.values(batch * T * C, seed: 9)
        var out = [Float](repeating: .nan, count: batch * T * C)
        var probs = [Float](repeating: .nan, count: batch * H * T * T)
        var dqkv = [Float](repeating: .nan, count: batch * T * 3 * C)
        let s = Attention.Shape(batch: batch, time: T, channels: C, heads: H)
        qkv.withUnsafeBufferPointer { q in dout.withUnsafeBufferPointer { d in
            out.withUnsafeMutableBufferPointer { o in probs.withUnsafeMutableBufferPointer { p in
                dqkv.withUnsafeMutableBufferPointer { dq in
                    Attention.forward(out: o.baseAddress!, probs: p.baseAddress!, qkv: q.baseAddress!, shape: s)
                    Attention.backward(dqkv: dq.baseAddress!, dout: d.baseAddress!, qkv: q.baseAddress!,
                                       probs: UnsafePointer(p.baseAddress!), shape: s)
                }
            } }
        } }
        for b in 0..<batch {
            let ref = Self.attentionReference(
                qkv: Array(qkv[(b * T * 3 * C)..<((b + 1) * T * 3 * C)]), dout: Array(dout[(b * T * C)..<((b + 1) * T * C)]),
                T: T, C: C, H: H)
            func worst(_ got: ArraySlice<Float>, _ want: [Double]) -> Double {
                zip(got, want).map { abs(Double($0) - $1) / (1 + abs($1)) }.max() ?? 0
            }
            #expect(worst(out[(b * T * C)..<((b + 1) * T * C)], ref.out) < 1e-5)
            #expect(worst(probs[(b * H * T * T)..<((b + 1) * H * T * T)], ref.probs) < 1e-5)
            #expect(worst(dqkv[(b * T * 3 * C)..<((b + 1) * T * 3 * C)], ref.dqkv) < 1e-5)
            // Above the diagonal every probability is an exact zero.
            for h in 0..<H {
                for t in 0..<T {
                    for u in (t + 1)..<max(t + 1, T) { #expect(probs[((b * H + h) * T + t) * T + u] == 0) }
                }
            }
        }
    }
}
