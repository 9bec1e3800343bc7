/// What the spheres of one step share when they run it together (`NodeZero.stepTogether`): the two
/// rendezvous between its phases and the values that cross them.
///
/// Every field has one writer per phase: a sphere writes its own failure flag before the first rendezvous and
/// its own shards' squares before the second; the last arrival at each writes the rest. Readers read only
/// after the rendezvous that follows the write, so, as with `SharedFloats`, the phases are the synchronization.
final class JointStep: @unchecked Sendable {
    let spheres: Int
    /// All spheres, after their gradients (and before anything is summed).
    let gradientsDone: StepRendezvous
    /// The spheres that own shards, after summing them (and before the norm is used).
    let mergeDone: StepRendezvous
    private let failures: UnsafeMutablePointer<Bool>
    private let squares: UnsafeMutablePointer<Double>
    private let shardCount: Int
    private(set) var anyFailed = false
    private(set) var norm = 0.0
    /// When the gradients, then the merge, were complete (the step's phase times).
    private(set) var gradientTime: UInt64 = 0
    private(set) var mergeTime: UInt64 = 0

    init(spheres: Int, shardOwners: Int, shards: Int) {
        self.spheres = spheres
        shardCount = shards
        gradientsDone = StepRendezvous(participants: spheres)
        mergeDone = StepRendezvous(participants: max(1, shardOwners))
        failures = .allocate(capacity: spheres)
        failures.initialize(repeating: false, count: spheres)
        squares = .allocate(capacity: shards)
        squares.initialize(repeating: 0, count: shards)
    }

    deinit {
        failures.deallocate()
        squares.deallocate()
    }

    /// Sphere `index` reports whether its gradient failed, waits for the others, and learns whether any did.
    func gradientsComplete(_ index: Int, failed: Bool, now: () -> UInt64, isolation: isolated (any Actor)? = #isolation)
        async -> Bool
    {
        failures[index] = failed
        await gradientsDone.arrive(index) {
            gradientTime = now()
            anyFailed = (0..<spheres).contains { failures[$0] }
        }
        return !anyFailed
    }

    /// Shard owner `owner` (its rank among the spheres that own shards) records its shards' sums of squares,
    /// waits for the other owners, and gets the global norm, added in shard order.
    func mergeComplete(
        _ owner: Int, shards: [Int], squares values: [Double], now: () -> UInt64,
        isolation: isolated (any Actor)? = #isolation
    ) async -> Double {
        for (shard, value) in zip(shards, values) { squares[shard] = value }
        await mergeDone.arrive(owner) {
            norm = GradientMerge.norm(shardSquares: Array(UnsafeBufferPointer(start: squares, count: shardCount)))
            mergeTime = now()
        }
        return norm
    }
}
