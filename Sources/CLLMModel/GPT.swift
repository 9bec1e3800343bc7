import CLLMKernels

/// The GPT-2 network: forward pass, loss, and the backward pass for every parameter.
///
/// Stateless: parameters, gradients and activations are passed in, so many spheres can run it at once on
/// their own buffers while sharing one read-only parameter vector.
public enum GPT {
    /// Runs the forward pass over `act.inputs` (batch × time) and returns the summed cross-entropy of
    /// `act.labels` (natural log, Double, in row order). With `computeLoss: false` only logits are produced.
    /// With `backwardFollows: false` (evaluation on a trainer's buffers) GELU's derivative, which only the
    /// backward pass reads, is not written.
    @discardableResult
    public static func forward(
        parameters: UnsafePointer<Float>, layout: ParameterLayout, activations act: Activations,
        computeLoss: Bool = true, backwardFollows: Bool = true
    ) -> Double {
        let cfg = layout.config
        let B = act.batch, T = act.time, C = cfg.width, H4 = cfg.hiddenWidth, N = B * T
        let P = parameters
        let prof = act.profile

        // Embeddings: x0[b, t] = wte[token] + wpe[t].
        let x0 = act.residual.pointer
        prof.measure(.embedding) {
            for r in 0..<N {
                let tok = Int(act.tokens[r])
                precondition(tok >= 0 && tok < cfg.vocabSize, "token id \(tok) outside the vocabulary")
                let out = x0 + r * C, e = P + layout.tokenEmbedding + tok * C, pe = P + layout.positionEmbedding + (r % T) * C
                for i in 0..<C { out[i] = e[i] + pe[i] }
            }
        }

        let shape = Attention.Shape(batch: B, time: T, channels: C, heads: cfg.heads)
        // The weights a GEMM reads next, asked for while the one before computes.
        func upcoming(_ offset: Int, _ count: Int) -> UnsafeBufferPointer<Float> {
            UnsafeBufferPointer(start: P + offset, count: count)
        }
        for l in 0..<cfg.layers {
            let w = layout.blocks[l]
            let la = act.layer(l)
            let nextQkv = l + 1 < cfg.layers ? upcoming(layout.blocks[l + 1].attnWeight, C * 3 * C) : nil

            prof.measure(.layerNorm) {
                LayerNorm.forward(
                    out: la.ln1, mean: la.ln1Mean, rstd: la.ln1Rstd, x: la.x, weight: P + w.ln1Weight,
                    bias: P + w.ln1Bias, rows: N, c: C)
            }
            prof.measure(.qkv) {
                KernelBuild.multiply(
                    m: N, n: 3 * C, k: C, a: la.ln1, lda: C, b: P + w.attnWeight, ldb: 3 * C, c: la.qkv, ldc: 3 * C,
                    accumulate: false, bias: P + w.attnBias, next: upcoming(w.attnProjWeight, C * C))
            }
            prof.measure(.attention) { KernelBuild.attentionForward(out: la.att, probs: la.probs, qkv: la.qkv, shape: shape) }
            prof.measure(.attentionProjection) {
                linear(out: la.r2, x: la.att, weight: P + w.attnProjWeight, bias: P + w.attnProjBias, residual: la.x, rows: N, inC: C, outC: C,
                       next: upcoming(w.fcWeight, C * H4))
            }
            prof.measure(.layerNorm) {
                LayerNorm.forward(
                    out: la.ln2, mean: la.ln2Mean, rstd: la.ln2Rstd, x: la.r2, weight: P + w.ln2Weight,
                    bias: P + w.ln2Bias, rows: N, c: C)
            }
            // fc, with GELU and its derivative taken from each tile as it leaves the registers; the
            // pre-activation itself is not kept.
            prof.measure(.fc) {
                KernelBuild.multiply(
                    m: N, n: H4, k: C, a: la.ln2, lda: C, b: P + w.fcWeight, ldb: H4, c: la.fcAct, ldc: H4,
                    accumulate: false, bias: P + w.fcBias,
                    epilogue: .gelu(derivative: act.forBackward && backwardFollows ? la.fcDerivative : nil),
                    next: upcoming(w.fcProjWeight, H4 * C))
            }
            prof.measure(.fcProjection) {
                linear(out: la.xNext, x: la.fcAct, weight: P + w.fcProjWeight, bias: P + w.fcProjBias, residual: la.r2, rows: N, inC: H4, outC: C,
                       next: nextQkv)
            }
        }

        let xL = act.residual.pointer + act.residualSlot(cfg.layers) * N * C
        prof.measure(.layerNorm) {
            LayerNorm.forward(
                out: act.finalOut.pointer, mean: act.finalMean.pointer, rstd: act.finalRstd.pointer,
                x: xL, weight: P + layout.finalNormWeight, bias: P + layout.finalNormBias, rows: N, c: C)
        }
        // logits = h · wteᵀ (tied head): B operand is wte stored V×C, i.e. transposed.
        prof.measure(.logits) {
            KernelBuild.multiply(
                m: N, n: cfg.vocabSize, k: C, a: act.finalOut.pointer, lda: C,
                b: P + layout.tokenEmbedding, ldb: C, transB: true,
                c: act.logits.pointer, ldc: act.paddedVocab, accumulate: false)
        }
        guard computeLoss else { return 0 }
        return prof.measure(.loss) {
            CrossEntropy.forward(
                losses: nil, logits: act.logits.pointer, ld: act.paddedVocab, targets: act.targets, rows: N,
                vocab: cfg.vocabSize)
        }
    }

    /// Runs forward and backward, writing the gradient of `lossScale · Σ cross-entropy` for every parameter
    /// into `gradients` (overwritten). Returns the summed (unscaled) loss.
    ///
    /// `lossScale` is 1/(tokens in the global batch): each sphere's gradient is then its exact share, and
    /// the sum over spheres is the gradient of the mean loss whatever the number of spheres.
    ///
    /// `finalFrom(offset)` is called as the backward pass goes, each time the gradient of every parameter
    /// from `offset` to the end has its final value; the backward runs from the last block to the
    /// embeddings, so that part only grows, down to 0 at the end. A runtime can start summing it early.
    @discardableResult
    public static func forwardBackward(
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, layout: ParameterLayout,
        activations act: Activations, lossScale: Float, finalFrom: ((Int) -> Void)? = nil
    ) -> Double {
        let loss = forward(parameters: parameters, layout: layout, activations: act)
        backward(
            parameters: parameters, gradients: gradients, layout: layout, activations: act, lossScale: lossScale,
            finalFrom: finalFrom)
        act.profile?.countPass()
        return loss
    }

    static func backward(
        parameters P: UnsafePointer<Float>, gradients G: UnsafeMutablePointer<Float>, layout: ParameterLayout,
        activations act: Activations, lossScale: Float, finalFrom: ((Int) -> Void)? = nil
    ) {
        let cfg = layout.config
        precondition(act.forBackward, "activations were allocated for inference only")
        let B = act.batch, T = act.time, C = cfg.width, H4 = cfg.hiddenWidth, N = B * T, V = cfg.vocabSize
        let prof = act.profile
        let dx = act.dResidual.pointer
        // Each weight matrix's gradient, and the tied embedding's first term, is written whole by one GEMM
        // that starts from zero: the bits of accumulating into a zeroed buffer, without the pass over it.
        // Only what is accumulated over rows (biases, LayerNorm, the position embedding) is zeroed here.
        prof.measure(.zeroGradient) {
            for t in layout.tensors where t.shape.count == 1 || t.offset == layout.positionEmbedding {
                (G + t.offset).update(repeating: 0, count: t.count)
            }
            dx.update(repeating: 0, count: N * C)
        }

        // Loss → logits gradient, in place.
        let dLogits = act.logits.pointer
        prof.measure(.lossBackward) {
            CrossEntropy.backwardInPlace(
                logits: dLogits, ld: act.paddedVocab, targets: act.targets, rows: N, vocab: V, scale: lossScale)
        }
        // Tied head: d(final) = dLogits · wte ; d(wte) += dLogitsᵀ · final.
        let dFinal = act.dLn.pointer
        prof.measure(.logitsBackward) {
            KernelBuild.multiply(
                m: N, n: C, k: V, a: dLogits, lda: act.paddedVocab, b: P + layout.tokenEmbedding, ldb: C,
                c: dFinal, ldc: C, accumulate: false)
            KernelBuild.multiply(
                m: V, n: C, k: N, a: dLogits, lda: act.paddedVocab, transA: true, b: act.finalOut.pointer, ldb: C,
                c: G + layout.tokenEmbedding, ldc: C, accumulate: false)
        }
        prof.measure(.layerNormBackward) {
            LayerNorm.backward(
                dx: dx, dweight: G + layout.finalNormWeight, dbias: G + layout.finalNormBias, dout: dFinal,
                x: act.residual.pointer + cfg.layers * N * C, weight: P + layout.finalNormWeight,
                mean: act.finalMean.pointer, rstd: act.finalRstd.pointer, rows: N, c: C)
        }
        finalFrom?(layout.finalNormWeight)

        let shape = Attention.Shape(batch: B, time: T, channels: C, heads: cfg.heads)
        for l in stride(from: cfg.layers - 1, through: 0, by: -1) {
            let w = layout.blocks[l]
            let la = act.layer(l)
            let dFc = act.dFc.pointer, dLn = act.dLn.pointer, dQkv = act.dQkv.pointer, dAtt = act.dAttOut.pointer

            // MLP output projection; dx currently holds d(x_{l+1}), which is also d(r2) through the skip.
            prof.measure(.fcProjectionBackward) {
                linearBackward(
                    dx: dFc, dWeight: G + w.fcProjWeight, dBias: G + w.fcProjBias, dout: dx, x: la.fcAct,
                    weight: P + w.fcProjWeight, rows: N, inC: H4, outC: C)
            }
            prof.measure(.geluBackward) { Gelu.backward(dx: dFc, dout: dFc, derivative: la.fcDerivative, count: N * H4) }
            prof.measure(.fcBackward) {
                linearBackward(
                    dx: dLn, dWeight: G + w.fcWeight, dBias: G + w.fcBias, dout: dFc, x: la.ln2,
                    weight: P + w.fcWeight, rows: N, inC: C, outC: H4)
            }
            prof.measure(.layerNormBackward) {
                LayerNorm.backward(
                    dx: dx, dweight: G + w.ln2Weight, dbias: G + w.ln2Bias, dout: dLn, x: la.r2, weight: P + w.ln2Weight,
                    mean: la.ln2Mean, rstd: la.ln2Rstd, rows: N, c: C)
            }
            // Attention output projection; dx now holds d(r2), which is also d(x_l) through the skip.
            prof.measure(.attentionProjectionBackward) {
                // Attention's backward prefetches each next sequence itself; its first one is asked for here.
                linearBackward(
                    dx: dAtt, dWeight: G + w.attnProjWeight, dBias: G + w.attnProjBias, dout: dx, x: la.att,
                    weight: P + w.attnProjWeight, rows: N, inC: C, outC: C,
                    then: UnsafeBufferPointer(start: la.qkv, count: T * 3 * C))
            }
            prof.measure(.attentionBackward) {
                KernelBuild.attentionBackward(dqkv: dQkv, dout: dAtt, qkv: la.qkv, probs: la.probs, shape: shape)
            }
            prof.measure(.qkvBackward) {
                linearBackward(
                    dx: dLn, dWeight: G + w.attnWeight, dBias: G + w.attnBias, dout: dQkv, x: la.ln1,
                    weight: P + w.attnWeight, rows: N, inC: C, outC: 3 * C)
            }
            prof.measure(.layerNormBackward) {
                LayerNorm.backward(
                    dx: dx, dweight: G + w.ln1Weight, dbias: G + w.ln1Bias, dout: dLn, x: la.x, weight: P + w.ln1Weight,
                    mean: la.ln1Mean, rstd: la.ln1Rstd, rows: N, c: C)
            }
            finalFrom?(w.ln1Weight)
        }

        // Embeddings, rows in order.
        prof.measure(.embeddingBackward) {
            for r in 0..<N {
                let tok = Int(act.tokens[r])
                Elementwise.add(G + layout.tokenEmbedding + tok * C, dx + r * C, count: C)
                Elementwise.add(G + layout.positionEmbedding + (r % T) * C, dx + r * C, count: C)
            }
        }
        finalFrom?(0)
    }

    /// Bytes of the largest scratch one kernel call of a training pass over `batch` sequences of `time`
    /// tokens allocates on this process's kernel build (`Gemm.scratchFloats`, attention's): a thread makes
    /// one call at a time and frees its scratch after it, so this is what each worker thread adds.
    public static func kernelScratchBytes(config cfg: ModelConfig, batch: Int, time: Int) -> Int {
        let w = KernelBuild.current.vectorWidth
        let N = batch * time, C = cfg.width, H4 = cfg.hiddenWidth, V = cfg.vocabSize
        // (m, n, k) of every GEMM: forward, the tied head's two backward products, and each linear layer's
        // weight-gradient and input-gradient products.
        var shapes = [(N, 3 * C, C), (N, C, C), (N, H4, C), (N, C, H4), (N, V, C), (N, C, V), (V, C, N)]
        for (inC, outC) in [(C, 3 * C), (C, C), (C, H4), (H4, C)] { shapes += [(inC, outC, N), (N, inC, outC)] }
        let gemm = shapes.map { Gemm.scratchFloats(m: $0.0, n: $0.1, k: $0.2, vectorWidth: w) }.max() ?? 0
        let shape = Attention.Shape(batch: batch, time: time, channels: C, heads: cfg.heads)
        let attention = max(
            Attention.forwardScratchFloats(shape: shape, vectorWidth: w),
            Attention.backwardScratchFloats(shape: shape, vectorWidth: w))
        return max(gemm, attention) * 4
    }

    /// out = x·W + bias (+ residual); W stored (in, out) as GPT-2's Conv1D.
    @inline(__always)
    static func linear(
        out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, rows: Int, inC: Int, outC: Int,
        next: UnsafeBufferPointer<Float>? = nil
    ) {
        KernelBuild.multiply(
            m: rows, n: outC, k: inC, a: x, lda: inC, b: weight, ldb: outC, c: out, ldc: outC, accumulate: false,
            bias: bias, residual: residual, next: next)
    }

    /// dx = dout·Wᵀ (overwritten); dW = xᵀ·dout (overwritten); dBias += column sums of dout (added by the dW
    /// GEMM as it packs dout). The dW GEMM also asks for W, which the dx GEMM packs next, and the dx GEMM
    /// for `then`, what the stage after it reads first.
    @inline(__always)
    static func linearBackward(
        dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, inC: Int, outC: Int,
        then: UnsafeBufferPointer<Float>? = nil
    ) {
        KernelBuild.multiply(
            m: inC, n: outC, k: rows, a: x, lda: inC, transA: true, b: dout, ldb: outC, c: dWeight, ldc: outC,
            accumulate: false, columnSums: dBias,
            next: UnsafeBufferPointer(start: weight, count: inC * outC))
        KernelBuild.multiply(
            m: rows, n: inC, k: outC, a: dout, lda: outC, b: weight, ldb: outC, transB: true, c: dx, ldc: inC,
            accumulate: false, next: then)
    }
}
