/// Which training window each sequence of each step reads.
///
/// A pure function of (seed, step, sequence): worker threads may compute their own sequences of a step in
/// any order, and a run resumed from a checkpoint replays the same batches without any saved generator
/// state. Offsets are uniform in `0 ..< trainCount - T - 1`, the range of the PyTorch peer's
/// `torch.randint(len(data) - T - 1)` (which never picks the very last window; kept for parity).
public struct BatchPlan: Sendable, Equatable {
    public let seed: UInt64
    public let trainCount: Int
    public let contextLength: Int

    public init(seed: UInt64, trainCount: Int, contextLength: Int) {
        precondition(contextLength > 0, "context length must be positive")
        precondition(trainCount >= contextLength + 1, "training text shorter than one window (TokenDataset refuses this)")
        self.seed = seed
        self.trainCount = trainCount
        self.contextLength = contextLength
    }

    /// How many distinct offsets can be drawn. The peer's bound, except that a split of exactly T+1 tokens
    /// (where the peer's `randint(0)` would fail) still has its one window, at offset 0.
    public var offsetCount: Int { max(1, trainCount - contextLength - 1) }

    /// The first token of the window that sequence `sequence` of step `step` reads.
    public func offset(step: Int, sequence: Int) -> Int {
        precondition(step >= 0 && sequence >= 0, "step and sequence must not be negative")
        let n = UInt64(offsetCount)
        var state = RandomSource.mix(seed, UInt64(step), UInt64(sequence))
        var x = state
        // Lemire's multiply-shift: the high word of x*n is uniform in 0..<n once the rare low words below
        // 2^64 mod n are rejected; redraws continue the SplitMix stream from the mixed word, still pure.
        var m = x.multipliedFullWidth(by: n)
        if m.low < n {
            let threshold = (0 &- n) % n
            while m.low < threshold {
                x = RandomSource.splitMix(&state)
                m = x.multipliedFullWidth(by: n)
            }
        }
        return Int(m.high)
    }

    /// Writes the windows of `sequences` of step `step` back to back: inputs `train[o ..< o+T]` and targets
    /// `train[o+1 ..< o+T+1]`, T values per sequence, sequence `sequences.lowerBound` first.
    public func fill(
        step: Int, sequences: Range<Int>, from train: [Int32],
        inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>
    ) {
        precondition(train.count == trainCount, "training ids do not match the plan (\(train.count) vs \(trainCount))")
        let t = contextLength
        train.withUnsafeBufferPointer { data in
            let base = data.baseAddress!
            for (row, sequence) in sequences.enumerated() {
                let o = offset(step: step, sequence: sequence)
                (inputs + row * t).update(from: base + o, count: t)
                (targets + row * t).update(from: base + o + 1, count: t)
            }
        }
    }
}
