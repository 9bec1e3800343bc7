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
        var total = 0.0
        var w = 0
        validation.withUnsafeBufferPointer { data in
            let base = data.baseAddress!
            while w < windows {
                let count = min(act.batch, windows - w)
                for i in 0..<count {
                    (act.tokens + i * t).update(from: base + (w + i) * t, count: t)
                    (act.targets + i * t).update(from: base + (w + i) * t + 1, count: t)
                }
                // A short last batch repeats its first window in the unused rows; only `count` rows are summed.
                for i in count..<act.batch {
                    (act.tokens + i * t).update(from: act.tokens, count: t)
                    (act.targets + i * t).update(from: act.targets, count: t)
                }
                GPT.forward(parameters: parameters, layout: layout, activations: act, computeLoss: false)
                total += CrossEntropy.forward(
                    losses: nil, logits: act.logits.pointer, ld: act.paddedVocab, targets: act.targets,
                    rows: count * t, vocab: layout.config.vocabSize)
                w += count
            }
        }
        return total / Double(windows * t)
    }
}
