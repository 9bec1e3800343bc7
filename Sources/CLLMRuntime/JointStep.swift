import Synchronization

/// What the spheres of one step share when they run it together (`NodeZero.stepsTogether`): the two
/// rendezvous between its phases and the one after it, the shards still to sum and to update, and the values
/// that cross them.
///
/// Shards are claimed, not assigned: whichever shard owner is free takes the next one, so a sphere that
/// finishes its gradient first spends the wait summing the shards every gradient already has final, and
/// the rest is shared by whoever is free. The arithmetic never depends on who claims: each shard is summed
/// over the spheres in sphere order and its sum of squares is stored by shard, then added in shard order.
///
/// Every plain field has one writer per phase: a sphere writes its own failure flag before the first
/// rendezvous, and the claimer of a shard its sum of squares before the second; the last arrival at each
/// writes the rest. Readers read only after the rendezvous that follows the write, so, as with
/// `SharedFloats`, the phases are the synchronization. The gradient a shard is summed from before the
/// first rendezvous is published by its sphere's `finalFrom` (release store, acquire load).
final class JointStep: @unchecked Sendable {
    let spheres: Int
    /// All spheres, after their gradients (and the shards they could sum meanwhile).
    let gradientsDone: StepRendezvous
    /// The spheres that own shards, after summing the rest (and before the norm is used).
    let mergeDone: StepRendezvous
    /// All spheres, after every shard's update: the next step of a run may read the weights from here.
    let updatesDone: StepRendezvous
    private let plan: ShardPlan
    private let failures: UnsafeMutablePointer<Bool>
    private let squares: UnsafeMutablePointer<Double>
    /// Per sphere: the lowest parameter index from which its gradient is final (a suffix that grows to
    /// 0 as its backward pass runs from the last block to the embeddings).
    private let finalFrom: UnsafeMutablePointer<Atomic<Int>>
    /// Shards 0..<unsummed are not yet claimed for summing; claims take the highest, the first final.
    private let unsummed: Atomic<Int>
    /// The next shard to claim for the optimizer.
    private let nextUpdate = Atomic<Int>(0)
    /// Shards claimed before the first rendezvous (tests, to show the early path runs).
    private let claimedEarly = Atomic<Int>(0)
    private(set) var anyFailed = false
    private(set) var norm = 0.0
    /// When the gradients, then the merge, were complete (the step's phase times).
    private(set) var gradientTime: UInt64 = 0
    private(set) var mergeTime: UInt64 = 0
    /// When every shard was updated (set only when the spheres go on to another step together).
    private(set) var updateTime: UInt64 = 0

    /// Run by the last sphere to finish its updates (`NodeZero.stepFinished`), before any sphere goes on.
    private let finished: (@Sendable () -> Void)?

    init(spheres: Int, shardOwners: Int, plan: ShardPlan, finished: (@Sendable () -> Void)? = nil) {
        self.finished = finished
        self.spheres = spheres
        self.plan = plan
        gradientsDone = StepRendezvous(participants: spheres)
        mergeDone = StepRendezvous(participants: max(1, shardOwners))
        updatesDone = StepRendezvous(participants: spheres)
        failures = .allocate(capacity: spheres)
        failures.initialize(repeating: false, count: spheres)
        squares = .allocate(capacity: plan.count)
        squares.initialize(repeating: 0, count: plan.count)
        finalFrom = .allocate(capacity: spheres)
        for i in 0..<spheres { (finalFrom + i).initialize(to: Atomic(plan.parameterCount)) }
        unsummed = Atomic(plan.count)
    }

    deinit {
        failures.deallocate()
        squares.deallocate()
        finalFrom.deinitialize(count: spheres)
        finalFrom.deallocate()
    }

    /// Sphere `index`'s gradient is final from parameter `offset` to the end (`GPT.forwardBackward`).
    func gradientFinal(_ index: Int, from offset: Int) {
        finalFrom[index].store(offset, ordering: .releasing)
    }

    /// Claims the highest shard not yet claimed for summing. Before the first rendezvous (`early`), only
    /// one that every sphere's gradient already covers, and none once every gradient is complete: the
    /// sphere that finishes last goes straight to the rendezvous, where the others are waiting to share
    /// the rest. Nil when there is nothing (more) to claim now.
    func claimShardToSum(early: Bool) -> Int? {
        var top = unsummed.load(ordering: .relaxed)
        while top > 0 {
            let shard = top - 1
            if early {
                let low = plan.range(shard).lowerBound
                var allComplete = true
                for i in 0..<spheres {
                    let from = finalFrom[i].load(ordering: .acquiring)
                    if from > low { return nil }
                    allComplete = allComplete && from == 0
                }
                if allComplete { return nil }
            }
            let (claimed, seen) = unsummed.compareExchange(expected: top, desired: shard, ordering: .relaxed)
            if claimed {
                if early { claimedEarly.add(1, ordering: .relaxed) }
                return shard
            }
            top = seen
        }
        return nil
    }

    /// Shards summed before every gradient was complete.
    var shardsSummedEarly: Int { claimedEarly.load(ordering: .relaxed) }

    /// Records the sum of squares of a shard the caller summed.
    func summed(_ shard: Int, squares value: Double) { squares[shard] = value }

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

    /// Shard owner `owner` (its rank among the spheres that own shards), with no shard left to claim, waits
    /// for the other owners and gets the global norm, added in shard order.
    func mergeComplete(_ owner: Int, now: () -> UInt64, isolation: isolated (any Actor)? = #isolation) async -> Double {
        await mergeDone.arrive(owner) {
            norm = GradientMerge.norm(shardSquares: Array(UnsafeBufferPointer(start: squares, count: plan.count)))
            mergeTime = now()
        }
        return norm
    }

    /// Sphere `index`, done with the shards it could claim for the optimizer, waits until every sphere is:
    /// then the whole update is written and the next step may begin.
    func updatesComplete(_ index: Int, now: () -> UInt64, isolation: isolated (any Actor)? = #isolation) async {
        await updatesDone.arrive(index) {
            updateTime = now()
            finished?()
        }
    }

    /// Claims the next shard for the optimizer; nil when every shard is taken.
    func claimShardToUpdate() -> Int? {
        let shard = nextUpdate.wrappingAdd(1, ordering: .relaxed).oldValue
        return shard < plan.count ? shard : nil
    }
}
