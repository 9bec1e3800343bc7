/// The buffers one forward/backward pass of `batch` sequences of length `time` needs: activations kept for
/// the backward, and gradient scratch reused layer after layer.
///
/// Sized once and reused every step, so training allocates nothing in its loop. A sphere owns one and
/// allocates it from its own arena; its size is what `bytes(…)` reports to the memory model.
public final class Activations {
    public let config: ModelConfig
    public let batch: Int
    public let time: Int
    /// Logit rows are padded to a multiple of 16 so the output GEMM needs no column tail.
    public let paddedVocab: Int

    let tokens: UnsafeMutablePointer<Int32>
    let targets: UnsafeMutablePointer<Int32>
    /// Residual stream entering each layer, plus the final one: (layers + 1) × N×C.
    let residual: FloatBuffer
    /// Per layer; `fcAct` is GELU's output (the fc projection's input) and `fcDerivative` GELU′ at the
    /// pre-activation, which is all the MLP's backward pass needs of it (the pre-activation is never kept).
    let ln1Out, ln1Mean, ln1Rstd, qkv, probs, attOut, residual2, ln2Out, ln2Mean, ln2Rstd, fcAct, fcDerivative: FloatBuffer
    let finalOut, finalMean, finalRstd, logits: FloatBuffer
    // Gradient scratch, one layer deep.
    let dResidual, dLn, dQkv, dAttOut, dFc: FloatBuffer

    /// Whether every layer's activations are kept for a backward pass. Without it (evaluation, generation)
    /// one layer's buffers are reused by all layers and no gradient scratch exists: a fraction of the memory.
    public let forBackward: Bool

    /// When set, each stage of the passes over these buffers is timed into it (`cllm train --profile`).
    public var profile: StageProfile? = nil

    public init(
        config: ModelConfig, batch: Int, time: Int, forBackward: Bool = true,
        allocator: any FloatAllocator = SystemAllocator()
    ) {
        precondition(batch > 0 && time > 0 && time <= config.contextLength, "activation shape out of range")
        self.config = config
        self.batch = batch
        self.time = time
        self.forBackward = forBackward
        let n = batch * time, c = config.width, h = config.hiddenWidth
        let l = forBackward ? config.layers : 1
        let g = forBackward ? 1 : 0
        paddedVocab = (config.vocabSize + 15) & ~15
        tokens = .allocate(capacity: n)
        targets = .allocate(capacity: n)
        tokens.initialize(repeating: 0, count: n)
        targets.initialize(repeating: 0, count: n)
        func buf(_ count: Int) -> FloatBuffer { FloatBuffer(count: count, allocator: allocator) }
        residual = buf((forBackward ? l + 1 : 2) * n * c)
        ln1Out = buf(l * n * c); ln1Mean = buf(l * n); ln1Rstd = buf(l * n)
        qkv = buf(l * n * 3 * c)
        probs = buf(l * batch * config.heads * time * time)
        attOut = buf(l * n * c)
        residual2 = buf(l * n * c)
        ln2Out = buf(l * n * c); ln2Mean = buf(l * n); ln2Rstd = buf(l * n)
        fcAct = buf(l * n * h); fcDerivative = buf(l * n * h)
        finalOut = buf(n * c); finalMean = buf(n); finalRstd = buf(n)
        logits = buf(n * paddedVocab)
        dResidual = buf(g * n * c); dLn = buf(g * n * c); dQkv = buf(g * n * 3 * c); dAttOut = buf(g * n * c)
        dFc = buf(g * n * h)
    }

    deinit {
        tokens.deallocate()
        targets.deallocate()
    }

    /// Bytes of float and token buffers for this shape, without allocating them (memory planning).
    public static func bytes(config: ModelConfig, batch: Int, time: Int, forBackward: Bool = true) -> Int {
        let n = batch * time, c = config.width, h = config.hiddenWidth
        let l = forBackward ? config.layers : 1
        let vp = (config.vocabSize + 15) & ~15
        let perLayer = 7 * n * c + 4 * n + batch * config.heads * time * time + 2 * n * h
        let final = n * c + 2 * n + n * vp
        let scratch = forBackward ? 6 * n * c + n * h : 0
        let residual = (forBackward ? l + 1 : 2) * n * c
        return (residual + l * perLayer + final + scratch) * 4 + 2 * n * 4
    }

    /// Slot of layer `l`'s activations (all layers share slot 0 without a backward pass).
    @inline(__always) func slot(_ l: Int) -> Int { forBackward ? l : 0 }
    /// Slot of the residual stream entering layer `l` (two alternating slots without a backward pass).
    @inline(__always) func residualSlot(_ l: Int) -> Int { forBackward ? l : l & 1 }

    /// Layer `l`'s slices of the per-layer buffers, and the residual streams entering and leaving it.
    struct Layer {
        let x, ln1, ln1Mean, ln1Rstd, qkv, att, probs, r2, ln2, ln2Mean, ln2Rstd, fcAct, fcDerivative, xNext:
            UnsafeMutablePointer<Float>
    }

    func layer(_ l: Int) -> Layer {
        let k = slot(l), n = batch * time, c = config.width, h = config.hiddenWidth
        return Layer(
            x: residual.pointer + residualSlot(l) * n * c, ln1: ln1Out.pointer + k * n * c,
            ln1Mean: ln1Mean.pointer + k * n, ln1Rstd: ln1Rstd.pointer + k * n, qkv: qkv.pointer + k * n * 3 * c,
            att: attOut.pointer + k * n * c, probs: probs.pointer + k * batch * config.heads * time * time,
            r2: residual2.pointer + k * n * c, ln2: ln2Out.pointer + k * n * c, ln2Mean: ln2Mean.pointer + k * n,
            ln2Rstd: ln2Rstd.pointer + k * n, fcAct: fcAct.pointer + k * n * h,
            fcDerivative: fcDerivative.pointer + k * n * h,
            xNext: residual.pointer + residualSlot(l + 1) * n * c)
    }

    /// Floats actually allocated (checks `bytes(…)` in tests).
    var allocatedFloats: Int {
        [residual, ln1Out, ln1Mean, ln1Rstd, qkv, probs, attOut, residual2, ln2Out, ln2Mean, ln2Rstd, fcAct, fcDerivative,
         finalOut, finalMean, finalRstd, logits, dResidual, dLn, dQkv, dAttOut, dFc].reduce(0) { $0 + $1.count }
    }

    /// Input token ids, `batch` rows of `time`.
    public var inputs: UnsafeMutableBufferPointer<Int32> { UnsafeMutableBufferPointer(start: tokens, count: batch * time) }
    /// Next-token targets, same shape.
    public var labels: UnsafeMutableBufferPointer<Int32> { UnsafeMutableBufferPointer(start: targets, count: batch * time) }

    /// Start of logits row `r` (rows are `paddedVocab` apart).
    public func logitsRowPointer(_ r: Int) -> UnsafePointer<Float> { UnsafePointer(logits.pointer + r * paddedVocab) }

    /// Logits of row `r` (of batch·time rows), `vocabSize` wide, valid after a forward pass.
    public func logitsRow(_ r: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: logits.pointer + r * paddedVocab, count: config.vocabSize)
    }
}
