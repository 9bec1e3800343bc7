import CLLMKernels
import CLLMModel
#if canImport(Glibc)
import Glibc
#endif

/// The control actor: owns the weights, the merged gradient and the optimizer, and drives each step
/// through its phases. It never computes a batch; spheres do.
///
/// One step (DESIGN.md, "One training step"):
/// 1. weights version t are read-only; every sphere computes its micro-batch's gradient (in parallel);
/// 2. every sphere sums the shards it owns over all spheres' gradients, in sphere order (in parallel),
///    and returns their squared norms;
/// 3. Node Zero adds the shard norms in shard order and derives the clipping scale;
/// 4. every sphere applies AdamW to its shards (in parallel).
/// Phases are separated by awaits: no lock, no spinning, and no buffer is written while another phase may
/// read it. Two or more spheres run 1–4 of a whole run of steps as one job each and meet between phases and
/// between steps at lock-free rendezvous, the last arrival adding the norm (`stepsTogether`); there shards
/// are claimed by whichever sphere is free, and a sphere done with its gradient sums the shards every
/// gradient has final while the others finish (same sums in the same order, whoever computes them). Node
/// Zero drives the phases itself, awaiting a task group for each, only to finish a step in which a sphere
/// failed (and for the simulation's broken variants). A sphere alone has nobody to wait for: it runs 1–4 of
/// a whole run of steps as one job (`stepsAlone`).
public actor NodeZero {
    public nonisolated let executor: any ActorExecutor
    public nonisolated let counters = SphereCounters()
    /// The spheres as they are now (a failed one is replaced by a fresh one in the same position).
    public private(set) var spheres: [Sphere]
    /// Status counters of each position, kept across replacements so reports stay continuous.
    public nonisolated let sphereCounters: [SphereCounters]
    /// Each sphere's own buffer bytes (gradient + activations).
    public nonisolated let sphereBufferBytes: Int
    /// Builds the sphere of a position (again, after a failure) on its executor and allocator.
    let makeSphere: @Sendable (Int, SphereCounters) -> Sphere
    /// Replacements performed so far.
    public private(set) var recoveries: [RecoveryRecord] = []
    let variant: MergeVariant
    let idlePositions: Int
    var staleGradient: FloatBuffer?
    public nonisolated let layout: ParameterLayout
    public nonisolated let shardPlan: ShardPlan
    let parameters: FloatBuffer
    let optimizer: AdamW
    /// The merged gradient; with one sphere, that sphere's own buffer (nothing to sum).
    var merged: SharedFloats { mergedStorage.map(SharedFloats.init) ?? spheres[0].gradient }
    let mergedStorage: FloatBuffer?
    let shardsOfSphere: [[Int]]
    public nonisolated let microBatch: Int
    /// Monotonic nanoseconds: the wall clock in a real run, the virtual clock in a simulation.
    nonisolated let now: @Sendable () -> UInt64

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public init(
        executor: any ActorExecutor, sphereCount: Int, makeSphere: @escaping @Sendable (Int, SphereCounters) -> Sphere,
        layout: ParameterLayout, microBatch: Int, allocator: any FloatAllocator, shardPlan: ShardPlan? = nil,
        now: @escaping @Sendable () -> UInt64 = NodeZero.monotonicNanoseconds
    ) {
        self.init(
            executor: executor, sphereCount: sphereCount, makeSphere: makeSphere, layout: layout, microBatch: microBatch,
            allocator: allocator, shardPlan: shardPlan, now: now, variant: .correct, idlePositions: 0)
    }

    package init(
        executor: any ActorExecutor, sphereCount: Int, makeSphere: @escaping @Sendable (Int, SphereCounters) -> Sphere,
        layout: ParameterLayout, microBatch: Int, allocator: any FloatAllocator, shardPlan: ShardPlan?,
        now: @escaping @Sendable () -> UInt64, variant: MergeVariant, idlePositions: Int
    ) {
        precondition(sphereCount > 0, "Node Zero needs at least one sphere")
        self.now = now
        self.variant = variant
        self.idlePositions = idlePositions
        self.makeSphere = makeSphere
        let counters = (0..<sphereCount).map { _ in SphereCounters() }
        sphereCounters = counters
        let spheres = (0..<sphereCount).map { makeSphere($0, counters[$0]) }
        sphereBufferBytes = spheres[0].bufferBytes
        if variant == .idleAddsStaleGradient && idlePositions > 0 {
            staleGradient = FloatBuffer(count: layout.count, allocator: allocator)
        }
        self.executor = executor
        self.spheres = spheres
        self.layout = layout
        self.microBatch = microBatch
        let plan = shardPlan ?? ShardPlan(parameterCount: layout.count)
        self.shardPlan = plan
        parameters = FloatBuffer(count: layout.count, allocator: allocator)
        optimizer = AdamW(layout: layout, allocator: allocator)
        mergedStorage = spheres.count == 1 ? nil : FloatBuffer(count: layout.count, allocator: allocator)
        shardsOfSphere = (0..<spheres.count).map { plan.shards(ofWorker: $0, workers: spheres.count) }
        self.counters.state = .control
    }

    /// Fresh GPT-2 initialisation from a seed.
    public func initialize(seed: UInt64) {
        Initialization.initialize(parameters.pointer, layout: layout, seed: seed)
        optimizer.firstMoment.zero()
        optimizer.secondMoment.zero()
        optimizer.step = 0
    }

    /// Restores weights and optimizer state from a checkpoint.
    public func restore(parameters p: [Float], firstMoment: [Float], secondMoment: [Float], step: Int) {
        precondition(p.count == layout.count && firstMoment.count == layout.count && secondMoment.count == layout.count)
        p.withUnsafeBufferPointer { parameters.pointer.update(from: $0.baseAddress!, count: layout.count) }
        firstMoment.withUnsafeBufferPointer { optimizer.firstMoment.pointer.update(from: $0.baseAddress!, count: layout.count) }
        secondMoment.withUnsafeBufferPointer { optimizer.secondMoment.pointer.update(from: $0.baseAddress!, count: layout.count) }
        optimizer.step = step
    }

    /// Whether two or more spheres run steps together (`stepsTogether`); off, Node Zero drives every phase
    /// itself. Tests turn it off to show that both give the same bits.
    package var runsStepsTogether = true
    package func setRunsStepsTogether(_ on: Bool) { runsStepsTogether = on }
    /// Steps the spheres completed together, without a phase through Node Zero (tests).
    package private(set) var stepsRunTogether = 0
    /// Shards summed by a sphere done first while others still computed, over all steps (tests).
    package private(set) var shardsSummedEarly = 0

    /// What a finished step leaves: its number, how many gradients its merge summed, the merged gradient and
    /// the updated weights. The buffers are valid only during the call.
    package struct FinishedStep {
        package let step: Int
        package let mergeSources: Int
        package let merged: UnsafeBufferPointer<Float>
        package let weights: UnsafeBufferPointer<Float>
    }

    /// Called once for every step, after its last update and before the next step reads the weights, on
    /// whichever thread finished it (inside a run of steps, the sphere that arrived last): how the simulation
    /// checks every step of a run against its reference without breaking the run up.
    package private(set) var stepFinished: (@Sendable (FinishedStep) -> Void)?
    package func setStepFinished(_ observe: (@Sendable (FinishedStep) -> Void)?) { stepFinished = observe }

    /// The `stepFinished` call for step `step`, bound to this run's buffers (nil when nobody watches).
    func finishedStepReport(_ step: Int, mergeSources: Int) -> (@Sendable () -> Void)? {
        guard let observe = stepFinished else { return nil }
        let merged = self.merged, weights = SharedFloats(parameters)
        return {
            observe(FinishedStep(
                step: step, mergeSources: mergeSources, merged: UnsafeBufferPointer(start: merged.pointer, count: merged.count),
                weights: UnsafeBufferPointer(start: weights.pointer, count: weights.count)))
        }
    }

    /// Whether spheres time the stages of their passes; a sphere that replaces a failed one inherits it.
    var profiling = false

    /// Starts (or stops) timing every sphere's stages (`cllm train --profile`).
    public func setProfiling(_ on: Bool) async {
        profiling = on
        for s in spheres { await s.setProfiling(on) }
    }

    /// Stage times summed over the spheres, in sphere order; nil when not profiling.
    public func stageTimes() async -> StageTimes? {
        guard profiling else { return nil }
        var sum = StageTimes()
        for s in spheres { if let t = await s.stageTimes() { sum.add(t) } }
        return sum
    }

    public struct StepOutcome: Sendable {
        /// Mean cross-entropy per token of the global batch.
        public var loss: Double
        /// Global gradient norm before clipping.
        public var gradientNorm: Double
        /// The whole step, from its start (after the previous step's updates) to its last update.
        public var nanoseconds: UInt64 = 0
        /// Nanoseconds of each phase: gradients, merge (sum + norm), optimizer.
        public var gradientNanoseconds: UInt64 = 0
        public var mergeNanoseconds: UInt64 = 0
        public var optimizerNanoseconds: UInt64 = 0
        /// Spheres that failed during this step and were replaced (usually none). Returned with the outcome
        /// so the trainer learns of them without another hop to this actor's thread on every step.
        public var recoveries: [RecoveryRecord] = []
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    public static let monotonicNanoseconds: @Sendable () -> UInt64 = {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Runs optimizer step `step` (0-based) on the global batch the plan assigns to it.
    public func step(
        _ step: Int, plan batchPlan: BatchPlan, train: [Int32], hyperparameters h: Hyperparameters
    ) async -> StepOutcome {
        await steps(step..<(step + 1), plan: batchPlan, train: train, hyperparameters: h)[0]
    }

    /// Runs optimizer steps `range` one after another and returns their outcomes in order: the same bits as
    /// calling `step` for each. The spheres run the whole range as one job each (`stepsTogether`,
    /// `stepsAlone`), meeting between steps at a rendezvous instead of coming back here. That saves, per
    /// step, the hand-off from this thread to the spheres' and back, and the moment when this thread is still
    /// running while it wakes the spheres' (on two cores, 5% of steps then started one sphere milliseconds late).
    public func steps(
        _ range: Range<Int>, plan batchPlan: BatchPlan, train: [Int32], hyperparameters h: Hyperparameters
    ) async -> [StepOutcome] {
        var outcomes: [StepOutcome] = []
        outcomes.reserveCapacity(range.count)
        var next = range.lowerBound
        while next < range.upperBound {
            var t0 = now()
            var partial: [Double?]? = nil
            // Phases 1–4 of every step in one job per sphere; back here, phase by phase, only to finish a step
            // in which a gradient failed.
            let rest = next..<range.upperBound
            var run: SphereRun? = nil
            if spheres.count == 1 && variant == .correct && staleGradient == nil {
                run = await stepsAlone(rest, plan: batchPlan, train: train, hyperparameters: h, started: t0)
            } else if spheres.count > 1 && variant == .correct && staleGradient == nil && runsStepsTogether {
                run = await stepsTogether(rest, plan: batchPlan, train: train, hyperparameters: h, started: t0)
            }
            if let run {
                outcomes += run.completed
                next += run.completed.count
                guard let failed = run.failed else { continue }
                partial = failed.losses
                t0 = failed.started
            }
            outcomes.append(await stepByPhases(next, plan: batchPlan, train: train, hyperparameters: h, partial: partial, started: t0))
            next += 1
        }
        return outcomes
    }

    /// One step driven phase by phase from here: each phase a task group over the spheres. `partial` holds
    /// the losses of a step the spheres began together until a gradient failed (nil for the failed ones).
    func stepByPhases(
        _ step: Int, plan batchPlan: BatchPlan, train: [Int32], hyperparameters h: Hyperparameters,
        partial: [Double?]?, started t0: UInt64
    ) async -> StepOutcome {
        let b = microBatch
        let tokens = Double(b * spheres.count * layout.config.contextLength)
        let weights = SharedFloats(parameters)
        let scale = Float(1 / tokens)

        // 1. Gradients, one micro-batch per sphere; a failed sphere is replaced and its micro-batch recomputed.
        let recoveriesBefore = recoveries.count
        var losses = [Double](repeating: 0, count: spheres.count)
        var completion: [Int] = []
        var failed: [Int] = []
        if let partial {
            for (i, loss) in partial.enumerated() {
                if let loss { losses[i] = loss; completion.append(i) } else { failed.append(i) }
            }
        } else {
            let spheres = self.spheres
            let plan = shardPlan
            let earlyShards = variant == .reduceBeforeAllGradients ? shardsOfSphere.map { $0.map(plan.range) } : []
            let earlySources = spheres.map(\.gradient)
            let mergedEarly = self.merged
            await withTaskGroup(of: (Int, Double?).self) { group in
                for (i, sphere) in spheres.enumerated() {
                    group.addTask(executorPreference: sphere.executor) {
                        do {
                            let loss = try await sphere.computeGradient(
                                step: step, sequences: (i * b)..<((i + 1) * b), parameters: weights, plan: batchPlan,
                                train: train, lossScale: scale)
                            if !earlyShards.isEmpty {  // broken variant: no barrier between gradients and merge
                                _ = await sphere.reduce(shards: earlyShards[i], sources: earlySources, merged: mergedEarly)
                            }
                            return (i, loss)
                        } catch {
                            return (i, nil)
                        }
                    }
                }
                for await (i, loss) in group {
                    if let loss { losses[i] = loss; completion.append(i) } else { failed.append(i) }
                }
            }
        }
        for i in failed.sorted() {
            let started = now()
            var attempt = 1
            while true {
                let fresh = makeSphere(i, sphereCounters[i])
                if profiling { await fresh.setProfiling(true) }
                self.spheres[i] = fresh
                do {
                    losses[i] = try await fresh.computeGradient(
                        step: step, sequences: (i * b)..<((i + 1) * b), parameters: weights, plan: batchPlan,
                        train: train, lossScale: scale, attempt: attempt)
                    break
                } catch {
                    attempt += 1
                }
            }
            completion.append(i)
            recoveries.append(RecoveryRecord(sphere: i, step: step, nanoseconds: now() &- started))
        }
        var lossSum = 0.0
        for l in losses { lossSum += l }

        let t1 = now()
        // 2. Merge: each sphere sums its shards over all gradients, in sphere order.
        var ordered = self.spheres.map(\.gradient)
        if variant == .completionOrder { ordered = completion.map { ordered[$0] } }
        if let stale = staleGradient { ordered.append(SharedFloats(stale)) }
        let sources = ordered
        var squares = [Double](repeating: 0, count: shardPlan.count)
        let merged = self.merged
        let current = self.spheres
        let plan = shardPlan
        let clearAfter = variant == .reuseBufferBeforeReadersFinish
        if variant != .reduceBeforeAllGradients {
            await withTaskGroup(of: (Int, [Double]).self) { group in
                for (i, sphere) in current.enumerated() where !shardsOfSphere[i].isEmpty {
                    let shards = shardsOfSphere[i]
                    group.addTask(executorPreference: sphere.executor) {
                        let norms = await sphere.reduce(shards: shards.map(plan.range), sources: sources, merged: merged)
                        if clearAfter { await sphere.clearGradient() }
                        return (i, norms)
                    }
                }
                for await (i, norms) in group {
                    for (shard, value) in zip(shardsOfSphere[i], norms) { squares[shard] = value }
                }
            }
        } else {
            for i in current.indices {
                for shard in shardsOfSphere[i] {
                    let r = plan.range(shard)
                    squares[shard] = Elementwise.sumOfSquares(merged.pointer + r.lowerBound, count: r.count)
                }
            }
        }
        if let stale = staleGradient { stale.pointer.update(from: current[0].gradient.pointer, count: layout.count) }

        // 3. Global norm in shard order, and the clipping scale.
        let norm = GradientMerge.norm(shardSquares: squares)
        let update = optimizer.nextUpdate(
            hyperparameters: h, learningRate: h.learningRate(at: step),
            gradientScale: AdamW.clipScale(norm: norm, clip: h.gradientClip))

        let t2 = now()
        // 4. AdamW, each sphere on the shards it merged.
        let m = SharedFloats(optimizer.firstMoment), v = SharedFloats(optimizer.secondMoment)
        await withTaskGroup(of: Void.self) { group in
            for (i, sphere) in current.enumerated() where !shardsOfSphere[i].isEmpty {
                let shards = shardsOfSphere[i].map(plan.range)
                group.addTask(executorPreference: sphere.executor) {
                    await sphere.update(
                        shards: shards, step: update, parameters: weights, merged: merged, firstMoment: m, secondMoment: v)
                }
            }
        }
        optimizer.step += 1
        finishedStepReport(step, mergeSources: sources.count)?()
        let t3 = now()
        return StepOutcome(
            loss: lossSum / tokens, gradientNorm: norm, nanoseconds: t3 &- t0, gradientNanoseconds: t1 &- t0,
            mergeNanoseconds: t2 &- t1, optimizerNanoseconds: t3 &- t2,
            recoveries: Array(recoveries.dropFirst(recoveriesBefore)))
    }

    /// What a run of steps by the spheres on their own threads did: the steps it completed, and the step in
    /// which a sphere failed, if one did (the losses of the others, nil for the failed, or nil altogether when
    /// the gradients are to be computed again; when that step started).
    struct SphereRun {
        var completed: [StepOutcome] = []
        var failed: (losses: [Double?]?, started: UInt64)? = nil
    }

    /// The AdamW settings of every step of a run, fixed before it starts (the learning rate and the bias
    /// corrections depend only on the step's number; the clipping scale is set in the step).
    func adamWUpdates(for range: Range<Int>, hyperparameters h: Hyperparameters) -> [AdamW.Update] {
        range.indices.map { step in
            optimizer.update(
                after: optimizer.step + (step - range.lowerBound), hyperparameters: h,
                learningRate: h.learningRate(at: step), gradientScale: 1)
        }
    }

    /// The steps of a sphere alone: nothing to sum and nobody to wait for, so each step's gradient, norm and
    /// AdamW, and the steps one after another, run as one job on its thread (`Sphere.stepsAlone`): one round
    /// trip between the threads for the whole run instead of three a step, with the same arithmetic in the
    /// same order. When the sphere fails, the run stops there and the general path finishes that step: it
    /// meets the same fault (faults are a pure function of sphere, step and attempt) and replaces the sphere.
    func stepsAlone(
        _ range: Range<Int>, plan batchPlan: BatchPlan, train: [Int32], hyperparameters h: Hyperparameters,
        started t0: UInt64
    ) async -> SphereRun {
        let tokens = Double(microBatch * layout.config.contextLength)
        let updates = adamWUpdates(for: range, hyperparameters: h)
        let reports = range.map { finishedStepReport($0, mergeSources: 1) }
        let alone = await spheres[0].stepsAlone(
            range, sequences: 0..<microBatch, parameters: SharedFloats(parameters), plan: batchPlan, train: train,
            lossScale: Float(1 / tokens), shards: shardsOfSphere[0].map(shardPlan.range), updates: updates,
            clip: h.gradientClip, firstMoment: SharedFloats(optimizer.firstMoment),
            secondMoment: SharedFloats(optimizer.secondMoment), finished: reports, now: now)
        var run = SphereRun()
        var started = t0
        for a in alone {
            run.completed.append(
                StepOutcome(
                    loss: a.loss / tokens, gradientNorm: a.norm, nanoseconds: a.updateDone &- started,
                    gradientNanoseconds: a.gradientDone &- started, mergeNanoseconds: a.mergeDone &- a.gradientDone,
                    optimizerNanoseconds: a.updateDone &- a.mergeDone))
            started = a.updateDone
        }
        optimizer.step += alone.count
        if alone.count < range.count { run.failed = (nil, started) }
        return run
    }

    /// Phases 1–4 of steps `range` for two or more spheres as one job per sphere (`Sphere.stepsTogether`): the
    /// spheres meet at lock-free rendezvous (`StepRendezvous`) between the phases of a step and between steps,
    /// instead of coming back here (about 0.3 ms a step with two spheres on two threads here for the phases,
    /// as much again between steps). The same arithmetic in the same order as the phase-by-phase path: the
    /// same bits. Every step's settings are fixed before the first starts: its JointStep and its AdamW update
    /// (the learning rate and bias corrections depend only on the step's number).
    func stepsTogether(
        _ range: Range<Int>, plan batchPlan: BatchPlan, train: [Int32], hyperparameters h: Hyperparameters,
        started t0: UInt64
    ) async -> SphereRun {
        let b = microBatch, count = spheres.count, n = range.count
        let tokens = Double(b * count * layout.config.contextLength)
        let weights = SharedFloats(parameters), merged = self.merged, plan = shardPlan
        let sources = spheres.map(\.gradient)
        let updates = adamWUpdates(for: range, hyperparameters: h)
        let m = SharedFloats(optimizer.firstMoment), v = SharedFloats(optimizer.secondMoment)
        let owners = shardsOfSphere.indices.filter { !shardsOfSphere[$0].isEmpty }
        var ownerRank = [Int?](repeating: nil, count: count)
        for (rank, i) in owners.enumerated() { ownerRank[i] = rank }
        // A step inside the run is reported by the last sphere to finish its updates; the run's last one here.
        let joints = (0..<n).map { j in
            JointStep(
                spheres: count, shardOwners: owners.count, plan: plan,
                finished: j < n - 1 ? finishedStepReport(range.lowerBound + j, mergeSources: count) : nil)
        }
        let clip = h.gradientClip, now = self.now, scale = Float(1 / tokens)
        var losses = [[Double?]](repeating: [], count: count)
        await withTaskGroup(of: (Int, [Double?]).self) { group in
            for (i, sphere) in spheres.enumerated() {
                let rank = ownerRank[i]
                group.addTask(executorPreference: sphere.executor) {
                    let losses = await sphere.stepsTogether(
                        range, index: i, sequences: (i * b)..<((i + 1) * b), parameters: weights, plan: batchPlan,
                        train: train, lossScale: scale, joints: joints, ownerRank: rank, shardPlan: plan,
                        sources: sources, merged: merged, updates: updates, clip: clip, firstMoment: m,
                        secondMoment: v, now: now)
                    return (i, losses)
                }
            }
            for await (i, l) in group { losses[i] = l }
        }
        let end = now()
        var run = SphereRun()
        var started = t0
        for (j, joint) in joints.enumerated() {
            if joint.anyFailed {
                run.failed = ((0..<count).map { losses[$0][j] }, started)
                break
            }
            let finished = j == n - 1 ? end : joint.updateTime
            var lossSum = 0.0
            for i in 0..<count { lossSum += losses[i][j]! }
            run.completed.append(
                StepOutcome(
                    loss: lossSum / tokens, gradientNorm: joint.norm, nanoseconds: finished &- started,
                    gradientNanoseconds: joint.gradientTime &- started, mergeNanoseconds: joint.mergeTime &- joint.gradientTime,
                    optimizerNanoseconds: finished &- joint.mergeTime))
            shardsSummedEarly += joint.shardsSummedEarly
            started = finished
            if j == n - 1 { finishedStepReport(range.lowerBound + j, mergeSources: count)?() }
        }
        optimizer.step += run.completed.count
        stepsRunTogether += run.completed.count
        return run
    }

    /// Mean cross-entropy over every full validation window, windows split evenly across spheres.
    public func validationLoss(validation: [Int32]) async -> Double {
        let t = layout.config.contextLength
        let windows = (validation.count - 1) / t
        guard windows > 0 else { return .nan }
        let weights = SharedFloats(parameters)
        let per = (windows + spheres.count - 1) / spheres.count
        var totals = [Double](repeating: 0, count: spheres.count)
        await withTaskGroup(of: (Int, Double).self) { group in
            for (i, sphere) in spheres.enumerated() {
                let range = min(windows, i * per)..<min(windows, (i + 1) * per)
                if range.isEmpty { continue }
                group.addTask(executorPreference: sphere.executor) {
                    (i, await sphere.evaluate(windows: range, validation: validation, parameters: weights))
                }
            }
            for await (i, total) in group { totals[i] = total }
        }
        var total = 0.0
        for x in totals { total += x }
        return total / Double(windows * t)
    }

    /// Optimizer steps completed.
    public var completedSteps: Int { optimizer.step }

    /// Writes a checkpoint of the current weights and optimizer state (on Node Zero's thread, from its
    /// own buffers, with no copy).
    public func writeCheckpoint(to dir: String, state: TrainingState) throws(CheckpointError) {
        try Checkpoint.write(
            to: dir, config: layout.config, state: state, parameters: UnsafeBufferPointer(parameters.buffer),
            moments: (UnsafeBufferPointer(optimizer.firstMoment.buffer), UnsafeBufferPointer(optimizer.secondMoment.buffer)))
    }

    /// A copy of the weights (for sampling text outside the step, and for tests).
    public func weights() -> [Float] { parameters.array }

    /// Copies of the AdamW moments (tests).
    public func moments() -> ([Float], [Float]) { (optimizer.firstMoment.array, optimizer.secondMoment.array) }
}
