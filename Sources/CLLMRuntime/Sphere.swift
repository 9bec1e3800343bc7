import CLLMKernels
import CLLMModel
import CLLMSystem
#if canImport(Glibc)
import Glibc
#endif

/// What runs an actor: a pthread in a real run, a seeded lane of the simulation's scheduler in a simulated one.
public typealias ActorExecutor = SerialExecutor & TaskExecutor

/// A worker of the data-parallel step: it owns a gradient buffer and activations (allocated from its own
/// jemalloc arena in a real run), computes the full gradient of its micro-batch against the read-only
/// weights of the step, and later sums the shards of the merged gradient it owns and updates them.
public actor Sphere {
    public nonisolated let position: Int
    public nonisolated let executor: any ActorExecutor
    public nonisolated let counters: SphereCounters
    /// Address of this sphere's gradient buffer, read by whoever merges a shard (after this sphere's
    /// gradient phase completed, never during it).
    public nonisolated let gradient: SharedFloats
    nonisolated let allocator: any FloatAllocator
    let layout: ParameterLayout
    let gradients: FloatBuffer
    let activations: Activations
    let microBatch: Int

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public init(
        position: Int, executor: any ActorExecutor, layout: ParameterLayout, microBatch: Int,
        allocator: any FloatAllocator, faults: (any FaultInjector)? = nil, counters: SphereCounters = SphereCounters()
    ) {
        self.faults = faults
        self.counters = counters
        self.position = position
        self.executor = executor
        self.layout = layout
        self.microBatch = microBatch
        self.allocator = allocator
        gradients = FloatBuffer(count: layout.count, allocator: allocator)
        gradient = SharedFloats(gradients)
        activations = Activations(
            config: layout.config, batch: microBatch, time: layout.config.contextLength, allocator: allocator)
        counters.state = .waiting
    }

    /// Injected faults (simulation, stress tests): consulted once per micro-batch.
    nonisolated let faults: (any FaultInjector)?

    /// Forward and backward of sequences `sequences` of step `step`, gradient into this sphere's buffer.
    /// Returns the summed (unscaled) loss of its tokens. Throws `SphereFailure` when a fault is injected:
    /// Node Zero then replaces this sphere.
    public func computeGradient(
        step: Int, sequences: Range<Int>, parameters: SharedFloats, plan: BatchPlan, train: [Int32], lossScale: Float,
        attempt: Int = 0, finalFrom: ((Int) -> Void)? = nil
    ) async throws(SphereFailure) -> Double {
        precondition(sequences.count == microBatch, "micro-batch of \(sequences.count) for a sphere sized \(microBatch)")
        counters.state = .working
        defer { counters.state = .waiting }
        let fault = faults?.fault(sphere: position, step: step, attempt: attempt)
        switch fault {
        case .fail:
            counters.state = .idle
            throw SphereFailure(position: position, step: step)
        case .slow(let yields):
            for _ in 0..<yields { await Task.yield() }
        case .delayedHandoff, .stalledBackward, nil:
            break
        }
        plan.fill(
            step: step, sequences: sequences, from: train, inputs: activations.inputs.baseAddress!,
            targets: activations.labels.baseAddress!)
        var publish = finalFrom
        if case .stalledBackward(let microseconds) = fault, let lastBlock = layout.blocks.last?.ln1Weight {
            publish = { offset in
                finalFrom?(offset)
                if offset == lastBlock { usleep(UInt32(clamping: microseconds)) }
            }
        }
        let loss = GPT.forwardBackward(
            parameters: parameters.pointer, gradients: gradients.pointer, layout: layout, activations: activations,
            lossScale: lossScale, finalFrom: publish)
        counters.recordMicroBatch(tokens: sequences.count * layout.config.contextLength, thread: cllm_thread_id())
        if case .delayedHandoff(let yields) = fault {
            for _ in 0..<yields { await Task.yield() }
        }
        return loss
    }

    /// What `stepAlone` reports: the summed loss, the gradient norm, and when the gradient, the norm and the
    /// update were done.
    public struct AloneOutcome: Sendable {
        public var loss: Double
        public var norm: Double
        public var gradientDone: UInt64
        public var mergeDone: UInt64
        public var updateDone: UInt64
    }

    /// Steps `steps` when this sphere is the only one (`NodeZero.stepsAlone`): `stepAlone` for each, then its
    /// `finished` report, in one job. Returns the outcomes of the steps done; fewer than asked when one failed.
    func stepsAlone(
        _ steps: Range<Int>, sequences: Range<Int>, parameters: SharedFloats, plan: BatchPlan, train: [Int32],
        lossScale: Float, shards: [Range<Int>], updates: [AdamW.Update], clip: Double, firstMoment: SharedFloats,
        secondMoment: SharedFloats, finished: [(@Sendable () -> Void)?], now: @Sendable () -> UInt64
    ) async -> [AloneOutcome] {
        var outcomes: [AloneOutcome] = []
        outcomes.reserveCapacity(steps.count)
        for (j, step) in steps.enumerated() {
            guard let outcome = try? await stepAlone(
                step: step, sequences: sequences, parameters: parameters, plan: plan, train: train,
                lossScale: lossScale, shards: shards, update: updates[j], clip: clip, firstMoment: firstMoment,
                secondMoment: secondMoment, now: now)
            else { break }
            outcomes.append(outcome)
            finished[j]?()
        }
        return outcomes
    }

    /// A whole step when this sphere is the only one (`stepsAlone`): `computeGradient`, then `reduce`
    /// over its own gradient alone (the shards' squares; the sum of one source is itself), the norm in shard
    /// order, the clipping scale, and `update` of every shard: what phases 1–4 compute, in one job.
    public func stepAlone(
        step: Int, sequences: Range<Int>, parameters: SharedFloats, plan: BatchPlan, train: [Int32], lossScale: Float,
        shards: [Range<Int>], update: AdamW.Update, clip: Double, firstMoment: SharedFloats, secondMoment: SharedFloats,
        now: @Sendable () -> UInt64
    ) async throws(SphereFailure) -> AloneOutcome {
        let loss = try await computeGradient(
            step: step, sequences: sequences, parameters: parameters, plan: plan, train: train, lossScale: lossScale)
        let gradientDone = now()
        let norm = GradientMerge.norm(shardSquares: reduce(shards: shards, sources: [gradient], merged: gradient))
        let mergeDone = now()
        var clipped = update
        clipped.kernel.gradientScale = AdamW.clipScale(norm: norm, clip: clip)
        self.update(
            shards: shards, step: clipped, parameters: parameters, merged: gradient, firstMoment: firstMoment,
            secondMoment: secondMoment)
        return AloneOutcome(loss: loss, norm: norm, gradientDone: gradientDone, mergeDone: mergeDone, updateDone: now())
    }

    /// This sphere's part of steps `steps`, run by all spheres together (`NodeZero.stepsTogether`): each step
    /// as `stepTogether`, then the rendezvous after every sphere's updates, where the weights of the next
    /// step are complete. Returns the summed loss of each step it took part in; it stops after the step in
    /// which any sphere's gradient failed (all spheres learn of it at that step's first rendezvous).
    func stepsTogether(
        _ steps: Range<Int>, index: Int, sequences: Range<Int>, parameters: SharedFloats, plan: BatchPlan,
        train: [Int32], lossScale: Float, joints: [JointStep], ownerRank: Int?, shardPlan: ShardPlan,
        sources: [SharedFloats], merged: SharedFloats, updates: [AdamW.Update], clip: Double,
        firstMoment: SharedFloats, secondMoment: SharedFloats, now: @Sendable () -> UInt64
    ) async -> [Double?] {
        var losses: [Double?] = []
        losses.reserveCapacity(steps.count)
        for (j, step) in steps.enumerated() {
            let joint = joints[j]
            losses.append(
                await stepTogether(
                    step: step, index: index, sequences: sequences, parameters: parameters, plan: plan, train: train,
                    lossScale: lossScale, joint: joint, ownerRank: ownerRank, shardPlan: shardPlan, sources: sources,
                    merged: merged, update: updates[j], clip: clip, firstMoment: firstMoment,
                    secondMoment: secondMoment, now: now))
            // After the last step Node Zero's task group is the rendezvous.
            if joint.anyFailed || j == steps.count - 1 { break }
            await joint.updatesComplete(index, now: now)
        }
        return losses
    }

    /// This sphere's part of one step the spheres run together (`stepsTogether`): `computeGradient`,
    /// publishing how much of its gradient is final; while others still compute, summing the shards every
    /// gradient has final (`ownerRank` is its rank among the spheres that take shards, nil when it takes
    /// none); the rendezvous after every gradient; summing the shards left, shared with the other owners;
    /// the rendezvous whose last arrival adds the norm in shard order; AdamW on the shards it claims, with
    /// the clipping scale. The arithmetic of phases 1–4, in one job.
    /// Returns the summed loss, or nil when the gradient failed; when any sphere's did, all stop after the
    /// first rendezvous and Node Zero finishes the step phase by phase, replacing the failed ones.
    func stepTogether(
        step: Int, index: Int, sequences: Range<Int>, parameters: SharedFloats, plan: BatchPlan, train: [Int32],
        lossScale: Float, joint: JointStep, ownerRank: Int?, shardPlan: ShardPlan, sources: [SharedFloats],
        merged: SharedFloats, update: AdamW.Update, clip: Double, firstMoment: SharedFloats,
        secondMoment: SharedFloats, now: @Sendable () -> UInt64
    ) async -> Double? {
        let loss = try? await computeGradient(
            step: step, sequences: sequences, parameters: parameters, plan: plan, train: train, lossScale: lossScale,
            finalFrom: { joint.gradientFinal(index, from: $0) })
        if loss != nil && ownerRank != nil {
            sumClaimedShards(joint, early: true, plan: shardPlan, sources: sources, merged: merged)
        }
        guard await joint.gradientsComplete(index, failed: loss == nil, now: now), let ownerRank else {
            return loss
        }
        sumClaimedShards(joint, early: false, plan: shardPlan, sources: sources, merged: merged)
        let norm = await joint.mergeComplete(ownerRank, now: now)
        var clipped = update
        clipped.kernel.gradientScale = AdamW.clipScale(norm: norm, clip: clip)
        while let shard = joint.claimShardToUpdate() {
            self.update(
                shards: [shardPlan.range(shard)], step: clipped, parameters: parameters, merged: merged,
                firstMoment: firstMoment, secondMoment: secondMoment)
        }
        return loss
    }

    /// Sums the shards this sphere can claim (`JointStep.claimShardToSum`) over every source gradient, in
    /// source order, into `merged`, recording each one's sum of squares.
    private func sumClaimedShards(
        _ joint: JointStep, early: Bool, plan: ShardPlan, sources: [SharedFloats], merged: SharedFloats
    ) {
        counters.state = .working
        defer { counters.state = .waiting }
        while let shard = joint.claimShardToSum(early: early) {
            joint.summed(shard, squares: GradientMerge.reduce(range: plan.range(shard), sources: sources, into: merged))
        }
    }

    /// Sums the given shards of every source gradient (in source order) into `merged`; returns each
    /// shard's sum of squares, in the order given.
    public func reduce(shards: [Range<Int>], sources: [SharedFloats], merged: SharedFloats) -> [Double] {
        counters.state = .working
        defer { counters.state = .waiting }
        return shards.map { GradientMerge.reduce(range: $0, sources: sources, into: merged) }
    }

    /// Starts (or stops) timing each stage of this sphere's training passes (`cllm train --profile`).
    public func setProfiling(_ on: Bool) {
        activations.profile = on ? (activations.profile ?? StageProfile()) : nil
    }

    /// Stage times of this sphere's training passes so far, when profiling.
    public func stageTimes() -> StageTimes? { activations.profile?.times }

    /// Zeroes this sphere's gradient (used only by a deliberately broken merge variant).
    func clearGradient() { gradients.zero() }

    /// AdamW on the given shards of the parameter vector.
    public func update(
        shards: [Range<Int>], step: AdamW.Update, parameters: SharedFloats, merged: SharedFloats,
        firstMoment: SharedFloats, secondMoment: SharedFloats
    ) {
        counters.state = .working
        defer { counters.state = .waiting }
        for r in shards {
            AdamW.apply(
                step, layout: layout, parameters: parameters.pointer, gradients: merged.pointer,
                firstMoment: firstMoment.pointer, secondMoment: secondMoment.pointer, range: r)
        }
    }

    /// Summed loss over validation windows `windows` (non-overlapping, context-length long), computed in
    /// batches of this sphere's micro-batch size with its own buffers.
    public func evaluate(windows: Range<Int>, validation: [Int32], parameters: SharedFloats) -> Double {
        counters.state = .working
        // Validation passes share the buffers but are not training: keep them out of the profile.
        let profile = activations.profile
        activations.profile = nil
        defer {
            activations.profile = profile
            counters.state = .waiting
        }
        return Evaluation.lossSum(
            parameters: parameters.pointer, layout: layout, validation: validation, windows: windows,
            activations: activations)
    }

    /// Bytes of this sphere's own buffers (gradient and activations), for the memory model.
    public nonisolated var bufferBytes: Int {
        layout.count * 4 + Activations.bytes(config: layout.config, batch: microBatch, time: layout.config.contextLength)
    }
}
