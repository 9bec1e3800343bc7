import CLLMModel
import CLLMRuntime
import Synchronization

/// Replays a scenario's training steps under seeded schedules: the real Node Zero, spheres and merge,
/// with simulation lanes as executors, a virtual clock, counted memory and seeded faults.
public struct Simulation: Sendable {
    public let scenario: Scenario
    let layout: ParameterLayout
    let hyperparameters: Hyperparameters
    let plan: BatchPlan
    let train: [Int32]
    let reference: SequentialReference
    package let variant: MergeVariant
    /// Micro-batch of the simulated model (one sequence per sphere).
    let microBatch = 1

    public init(scenario: Scenario) {
        self.init(scenario: scenario, variant: .correct)
    }

    package init(scenario: Scenario, variant: MergeVariant) {
        self.scenario = scenario
        self.variant = variant
        layout = ParameterLayout(scenario.simulatedModel.config)
        var h = Hyperparameters()
        h.batchSize = scenario.spheres
        h.steps = max(scenario.steps, 2)
        h.warmupSteps = 1
        h.learningRate = 1e-2
        h.minLearningRate = 1e-3
        h.seed = RandomSource.mix(0x5EED, UInt64(scenario.spheres), UInt64(scenario.steps))
        hyperparameters = h
        let t = scenario.simulatedModel.context
        var rng = RandomSource(seed: h.seed)
        let vocab = UInt64(scenario.simulatedModel.vocabulary)
        train = (0..<max(64, 4 * (t + 1))).map { _ in Int32(rng.next() % vocab) }
        plan = BatchPlan(seed: h.seed, trainCount: train.count, contextLength: t)
        reference = SequentialReference(
            layout: layout, spheres: scenario.spheres, microBatch: 1, steps: scenario.steps, plan: plan, train: train,
            hyperparameters: h, shards: ShardPlan(parameterCount: layout.count, shardSize: Simulation.shardSize))
    }

    /// Parameters of the model a scenario's simulation computes with (its `simulatedModel`).
    public static func simulatedParameters(_ scenario: Scenario) -> Int {
        ParameterLayout(scenario.simulatedModel.config).count
    }

    /// Bytes a simulation of `scenario` holds at its peak, in Double so no count overflows: every step's
    /// merged gradient and weights twice (the sequential reference's record and a seed's log), the spheres'
    /// gradients twice (the reference's and the runtime's) and their activations, and Node Zero's
    /// parameters, moments and merged gradient. `cllm simulate` refuses a scenario that would not fit.
    /// A quarter more covers the allocator's slack: 100,000 steps of `smoke-2` peaked at 1.9 GB resident
    /// against 1.6 GB of step records.
    public static func heldBytes(scenario s: Scenario) -> Double {
        let config = s.simulatedModel.config
        let params = Double(simulatedParameters(s)) * 4
        let activations = Double(Activations.bytes(config: config, batch: 1, time: config.contextLength))
        return 1.25 * (Double(s.steps) * 4 * params + Double(s.spheres) * (2 * params + activations) + 4 * params)
    }

    /// Shards of the simulated model's merge: small, so even a tiny model is cut into many shards.
    static let shardSize = 64

    /// What one seed found.
    public struct SeedResult: Sendable, Equatable {
        public var seed: UInt64
        public var traceHash: UInt64
        public var jobs: Int
        /// Most scheduler jobs any one training step took.
        public var maxJobsPerStep: Int
        public var failures: [String]
        public var recoveries: Int
        public var escaped: Int
        public var passed: Bool { failures.isEmpty }
    }

    /// Jobs a step may take before the run counts as stuck: generous, linear in the spheres.
    public var jobBoundPerStep: Int { Self.jobBound(perStepOf: scenario) }

    /// `jobBoundPerStep` of a scenario, without building its simulation (and sequential reference).
    public static func jobBound(perStepOf s: Scenario) -> Int { 200 + 60 * s.spheres + 20 * s.faults.maxYields * s.spheres }

    /// Stream of the seed that draws how many steps each call to `NodeZero.steps` runs.
    static let runLengthStream: UInt64 = 0x7275_6e73

    final class Log: Sendable {
        struct Entry: Sendable {
            var loss: Double
            var mergeSources: Int
            var merged: [Float]
            var weights: [Float]
            var jobsAtEnd: Int
        }
        let entries = Mutex<[Entry]>([])
        let recoveries = Mutex(0)
    }

    /// Runs one seed and checks it.
    public func run(seed: UInt64) -> SeedResult {
        let scheduler = SimulationScheduler(
            seed: seed, policy: scenario.policy, expectedSteps: scenario.steps * (100 + 8 * scenario.spheres))
        let zeroLane = SimulationLane(id: 0, name: "node-zero", scheduler: scheduler)
        let threadLanes = (0..<min(scenario.threads, scenario.spheres)).map {
            SimulationLane(id: $0 + 1, name: "thread-\($0)", scheduler: scheduler)
        }
        let escapeLane = SimulationLane(id: 1_000_000, name: "escaped", scheduler: scheduler)
        let allocator = AccountingAllocator()
        let faults: (any FaultInjector)? =
            scenario.faults.failureRate > 0 || scenario.faults.slowRate > 0 || scenario.faults.delayRate > 0
            ? SeededFaultPlan(seed: seed, faults: scenario.faults) : nil
        let layout = self.layout, microBatch = self.microBatch
        let makeSphere: @Sendable (Int, SphereCounters) -> Sphere = { i, counters in
            Sphere(position: i, executor: threadLanes[i % threadLanes.count], layout: layout, microBatch: microBatch,
                   allocator: allocator, faults: faults, counters: counters)
        }
        let hierarchy = (try? SphereHierarchy(spheres: scenario.spheres, mode: scenario.hierarchy))
        let idle = (0..<(hierarchy?.idleCount ?? 0)).map { _ in SphereCounters() }
        let nodeZero = NodeZero(
            executor: zeroLane, sphereCount: scenario.spheres, makeSphere: makeSphere, layout: layout,
            microBatch: microBatch, allocator: allocator, shardPlan: ShardPlan(parameterCount: layout.count, shardSize: Simulation.shardSize),
            now: { scheduler.now }, variant: variant, idlePositions: idle.count)
        let log = Log()
        let steps = scenario.steps, plan = self.plan, train = self.train, h = self.hyperparameters
        let outcome = EscapeGuard.capturing(scheduler: scheduler, lane: escapeLane) { () -> SimulationScheduler.Outcome in
            Task(executorPreference: zeroLane) {
                await nodeZero.initialize(seed: h.seed)
                // Every step is recorded as it finishes, inside a run of steps too.
                await nodeZero.setStepFinished { f in
                    let entry = Log.Entry(
                        loss: .nan, mergeSources: f.mergeSources, merged: Array(f.merged), weights: Array(f.weights),
                        jobsAtEnd: scheduler.jobsRun)
                    log.entries.withLock { $0.append(entry) }
                }
                // Steps in runs of 1–3, as the trainer calls them, drawn from the seed.
                var lengths = RandomSource(seed: RandomSource.mix(seed, Simulation.runLengthStream))
                var first = 0
                while first < steps {
                    let end = min(steps, first + 1 + Int(lengths.next() % 3))
                    let outcomes = await nodeZero.steps(first..<end, plan: plan, train: train, hyperparameters: h)
                    log.entries.withLock { entries in
                        for (j, o) in outcomes.enumerated() where first + j < entries.count { entries[first + j].loss = o.loss }
                    }
                    first = end
                }
                let count = await nodeZero.recoveries.count
                log.recoveries.withLock { $0 = count }
            }
            return scheduler.run(limit: jobBoundPerStep * steps)
        }

        var failures: [String] = []
        let entries = log.entries.withLock { $0 }
        if outcome.exhausted || entries.count < steps {
            failures.append("liveness: only \(entries.count) of \(steps) steps completed within \(jobBoundPerStep * steps) scheduler jobs")
        }
        if !outcome.escaped.isEmpty {
            failures.append("escape: \(outcome.escaped.count) job(s) left the simulation for Swift's global executor; first: \(outcome.escaped[0])")
        }
        var previous = 0, maxJobs = 0
        for (t, e) in entries.enumerated() {
            maxJobs = max(maxJobs, e.jobsAtEnd - previous)
            previous = e.jobsAtEnd
            if e.merged != reference.merged[t] {
                let i = e.merged.indices.first { e.merged[$0] != reference.merged[t][$0] } ?? 0
                failures.append("merge: step \(t)'s merged gradient differs from the sequential reference (first at element \(i): \(e.merged[i]) vs \(reference.merged[t][i]))")
                break
            }
            if e.weights != reference.weights[t] {
                failures.append("weights: step \(t)'s weights differ from the sequential reference")
                break
            }
        }
        if maxJobs > jobBoundPerStep {
            failures.append("liveness: a step took \(maxJobs) scheduler jobs, more than the bound of \(jobBoundPerStep)")
        }
        if let e = entries.first(where: { $0.mergeSources != scenario.spheres }) {
            failures.append("idle: a merge summed \(e.mergeSources) gradients for \(scenario.spheres) active spheres (\(idle.count) idle positions must add nothing)")
        }
        for e in entries {
            scheduler.mix(e.loss.bitPattern)
            for w in e.weights.prefix(16) { scheduler.mix(UInt64(w.bitPattern)) }
        }
        let hash = scheduler.run(limit: 0).traceHash
        return SeedResult(
            seed: seed, traceHash: hash, jobs: outcome.steps, maxJobsPerStep: maxJobs, failures: failures,
            recoveries: log.recoveries.withLock { $0 }, escaped: outcome.escaped.count)
    }
}
