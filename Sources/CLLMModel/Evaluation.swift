import CLLMKernels

/// Validation loss as the PyTorch peer defines it: the mean cross-entropy over the whole validation split
/// cut into non-overlapping windows of the context length (inputs val[i·T ..< (i+1)·T], targets shifted by one).
public enum Evaluation {
    /// Mean per-token loss over every full window; `batch` windows run per forward pass.
    /// Pass `activations` (full context length) to reuse a trainer's buffers instead of allocating new ones.
    public static func validationLoss(
        parameters: UnsafePointer<Float>, layout: ParameterLayout, validation: [Int32], batch: Int = 32,
        activations: Activations? = nil, allocator: any FloatAllocator = SystemAllocator()
    ) -> Double {
        let t = layout.config.contextLength
        let windows = (validation.count - 1) / t
        guard windows > 0 else { return .nan }
        let act = activations.flatMap { $0.time == t ? $0 : nil } ?? Activations(
            config: layout.config, batch: min(batch, windows), time: t, forBackward: false, allocator: allocator)
        let total = lossSum(parameters: parameters, layout: layout, validation: validation, windows: 0..<windows, activations: act)
        return total / Double(windows * t)
    }

    /// Summed (not averaged) loss over validation windows `windows`, run `activations.batch` windows at a
    /// time on the given buffers: what each sphere computes for its share of a distributed evaluation.
    public static func lossSum(
        parameters: UnsafePointer<Float>, layout: ParameterLayout, validation: [Int32], windows: Range<Int>,
        activations act: Activations
    ) -> Double {
        let t = layout.config.contextLength
        var total = 0.0
        var w = windows.lowerBound
        validation.withUnsafeBufferPointer { data in
            let base = data.baseAddress!
            while w < windows.upperBound {
                let count = min(act.batch, windows.upperBound - w)
                // Rows past `count` repeat the last window; only `count` rows are summed.
                for i in 0..<act.batch {
                    let src = w + min(i, count - 1)
                    (act.tokens + i * t).update(from: base + src * t, count: t)
                    (act.targets + i * t).update(from: base + src * t + 1, count: t)
                }
                GPT.forward(parameters: parameters, layout: layout, activations: act, computeLoss: false, backwardFollows: false)
                total += CrossEntropy.forward(
                    losses: nil, logits: act.logits.pointer, ld: act.paddedVocab, targets: act.targets,
                    rows: count * t, vocab: layout.config.vocabSize)
                w += count
            }
        }
        return total
    }
}
