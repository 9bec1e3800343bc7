import CLLMModel
import Synchronization

/// How the scheduler picks the next job among the ready ones.
public enum SchedulingPolicy: String, Sendable, Codable, CaseIterable {
    /// Uniformly at random: explores common interleavings.
    case uniform
    /// PCT (probabilistic concurrency testing): lanes get random priorities, the highest-priority ready
    /// lane runs, and at a few random points the running lane's priority drops to the bottom. Finds
    /// orderings that need several unlikely choices in a row far more often than uniform choice.
    case pct
}

/// The deterministic heart of the simulation: every actor of the runtime gets a `SimulationLane` as its
/// executor, and all lanes enqueue into this one scheduler, which runs one job at a time on the calling
/// thread, choosing with a seeded generator. Same seed, same choices, same trace.
///
/// Time is virtual: `now` advances by a fixed quantum per job, never with the wall clock.
public final class SimulationScheduler: Sendable {
    struct Ready {
        let job: UnownedJob
        let lane: SimulationLane
    }

    struct State {
        var rng: RandomSource
        var ready: [Ready] = []
        var steps = 0
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var clock: UInt64 = 0
        var priorities: [Int: UInt64] = [:]
        var changePoints: [Int] = []
        var escaped: [String] = []
        var running: SimulationLane? = nil
    }

    private let state: Mutex<State>
    public let policy: SchedulingPolicy
    public let seed: UInt64
    /// Virtual nanoseconds each job takes.
    public static let quantum: UInt64 = 1_000

    public init(seed: UInt64, policy: SchedulingPolicy, expectedSteps: Int = 10_000) {
        self.seed = seed
        self.policy = policy
        var rng = RandomSource(seed: RandomSource.mix(seed, 0x5CED))
        var s = State(rng: rng)
        if policy == .pct {
            // Three priority change points spread over the expected length of the run (PCT depth 3).
            s.changePoints = (0..<3).map { _ in Int(rng.next() % UInt64(max(1, expectedSteps))) }.sorted()
            s.rng = rng
        }
        state = Mutex(s)
    }

    func enqueue(_ job: UnownedJob, lane: SimulationLane) {
        let pct = policy == .pct
        state.withLock { s in
            s.ready.append(Ready(job: job, lane: lane))
            if pct && s.priorities[lane.id] == nil { s.priorities[lane.id] = s.rng.next() | 1 }
        }
    }

    /// Records a job that arrived through Swift's global executor instead of a lane.
    func recordEscape(_ description: String) {
        state.withLock { $0.escaped.append(description) }
    }

    /// Virtual time in nanoseconds.
    public var now: UInt64 { state.withLock { $0.clock } }

    /// Jobs run so far.
    public var jobsRun: Int { state.withLock { $0.steps } }

    /// The lane whose job is running (nil between jobs).
    var runningLane: SimulationLane? { state.withLock { $0.running } }

    public struct Outcome: Sendable {
        /// Jobs run.
        public var steps: Int
        /// FNV-1a over the sequence of (lane, position in the ready list) choices: the interleaving's identity.
        public var traceHash: UInt64
        /// Jobs that escaped to the global executor (should be none).
        public var escaped: [String]
        /// Whether the run stopped at `limit` jobs with work still pending (a liveness failure).
        public var exhausted: Bool
    }

    /// Runs jobs until none is ready or `limit` jobs have run.
    public func run(limit: Int) -> Outcome {
        var exhausted = false
        while true {
            let next: Ready? = state.withLock { s in
                if s.ready.isEmpty { return nil }
                if s.steps >= limit { exhausted = true; return nil }
                let index = pick(&s)
                // Swap-remove: O(1), and as deterministic as the choice itself.
                s.ready.swapAt(index, s.ready.count - 1)
                let r = s.ready.removeLast()
                s.steps += 1
                s.clock &+= SimulationScheduler.quantum
                for byte in [UInt64(r.lane.id), UInt64(index)] {
                    s.hash = (s.hash ^ byte) &* 0x100_0000_01b3
                }
                s.running = r.lane
                return r
            }
            guard let r = next else { break }
            r.job.runSynchronously(isolatedTo: r.lane.asUnownedSerialExecutor(), taskExecutor: r.lane.asUnownedTaskExecutor())
            state.withLock { $0.running = nil }
        }
        return state.withLock { Outcome(steps: $0.steps, traceHash: $0.hash, escaped: $0.escaped, exhausted: exhausted) }
    }

    /// Jobs per second of the scheduler alone: 8 lanes passing the thread back and forth 5,000 times each
    /// (what `cllm simulate` reports as the scheduler's own speed, apart from the model's arithmetic).
    public static func measureThroughput() -> Double {
        let scheduler = SimulationScheduler(seed: 1, policy: .uniform)
        let lanes = (0..<8).map { SimulationLane(id: $0, name: "bench-\($0)", scheduler: scheduler) }
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = EscapeGuard.capturing(scheduler: scheduler, lane: lanes[0]) { () -> Outcome in
            for lane in lanes { Task(executorPreference: lane) { for _ in 0..<5_000 { await Task.yield() } } }
            return scheduler.run(limit: 1_000_000)
        }
        let d = clock.now - start
        return Double(outcome.steps) / (Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
    }

    /// Mixes a value (a result's bits) into the trace hash, so traces differ when results do.
    public func mix(_ value: UInt64) {
        state.withLock { $0.hash = ($0.hash ^ value) &* 0x100_0000_01b3 }
    }

    private func pick(_ s: inout State) -> Int {
        switch policy {
        case .uniform:
            return Int(s.rng.next() % UInt64(s.ready.count))
        case .pct:
            func highest(_ s: State) -> Int {
                var best = 0
                for i in 1..<s.ready.count
                where (s.priorities[s.ready[i].lane.id] ?? 0) > (s.priorities[s.ready[best].lane.id] ?? 0) {
                    best = i
                }
                return best
            }
            var best = highest(s)
            if let first = s.changePoints.first, s.steps >= first {
                s.changePoints.removeFirst()
                s.priorities[s.ready[best].lane.id] = 0  // demote the lane about to run: it now goes last
                best = highest(s)
            }
            return best
        }
    }
}

/// One actor's executor in the simulation: enqueuing hands the job to the shared scheduler.
public final class SimulationLane: SerialExecutor, TaskExecutor, Sendable {
    public let id: Int
    public let name: String
    let scheduler: SimulationScheduler

    public init(id: Int, name: String, scheduler: SimulationScheduler) {
        self.id = id
        self.name = name
        self.scheduler = scheduler
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        scheduler.enqueue(UnownedJob(job), lane: self)
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    public func isIsolatingCurrentContext() -> Bool? { scheduler.runningLane === self }

    public func checkIsolated() {
        precondition(scheduler.runningLane === self, "expected to run on simulation lane \(name)")
    }
}
