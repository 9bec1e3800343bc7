import CLLMKernels
import CLLMModel

/// A float buffer handed between actors by address. The step contract makes this safe: a buffer is
/// written in one phase and read in a later one, and phases are separated by awaited hand-offs, never
/// overlapped (DESIGN.md, "One training step", point 5).
public struct SharedFloats: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    public init(_ buffer: FloatBuffer) {
        pointer = buffer.pointer
        count = buffer.count
    }
    public init(pointer: UnsafeMutablePointer<Float>, count: Int) {
        self.pointer = pointer
        self.count = count
    }
}

/// How the parameter vector is cut for the lock-free merge and the sharded optimizer.
///
/// Shards have a fixed size, independent of how many threads or spheres run, so the arithmetic (which
/// elements are summed together, how squared norms are grouped) never depends on the machine: the
/// result is the same bits for any thread count and any scheduling.
public struct ShardPlan: Sendable, Equatable {
    /// Floats per shard (64 KiB): small enough to spread over many workers, large enough to stream.
    public static let defaultShardSize = 16_384

    public let parameterCount: Int
    public let shardSize: Int

    public init(parameterCount: Int, shardSize: Int = ShardPlan.defaultShardSize) {
        precondition(shardSize > 0 && shardSize % 8 == 0, "shard size must be a positive multiple of 8")
        self.parameterCount = parameterCount
        self.shardSize = shardSize
    }

    public var count: Int { (parameterCount + shardSize - 1) / shardSize }

    public func range(_ shard: Int) -> Range<Int> {
        let lo = shard * shardSize
        return lo..<min(parameterCount, lo + shardSize)
    }

    /// Shards owned by worker `w` of `workers`: round-robin, so every worker gets a near-equal share.
    public func shards(ofWorker w: Int, workers: Int) -> [Int] {
        Array(stride(from: w, to: count, by: workers))
    }
}

/// The merge itself: pure functions over buffers, shared by the real runtime and the simulation.
public enum GradientMerge {
    /// merged[i] = ((g₀[i] + g₁[i]) + g₂[i]) + … for i in `range`, sources in the given (fixed) order;
    /// returns Σ merged[i]² over the range for the global clipping norm.
    public static func reduce(
        range: Range<Int>, sources: [SharedFloats], into merged: SharedFloats
    ) -> Double {
        precondition(!sources.isEmpty, "a merge needs at least one gradient")
        let pointers = sources.map { UnsafePointer($0.pointer + range.lowerBound) }
        return pointers.withUnsafeBufferPointer {
            Elementwise.sumWithSquares($0, into: merged.pointer + range.lowerBound, count: range.count)
        }
    }

    /// The global gradient norm from per-shard sums of squares, added in shard order.
    public static func norm(shardSquares: [Double]) -> Double {
        var total = 0.0
        for s in shardSquares { total += s }
        return total.squareRoot()
    }
}
