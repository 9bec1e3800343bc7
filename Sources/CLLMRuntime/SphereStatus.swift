import Synchronization

/// What a sphere (or Node Zero) is doing, as the original system's thread states named it.
public enum SphereState: Int, Sendable, Codable, CustomStringConvertible {
    /// Node Zero: coordinating, never computing a batch.
    case control
    /// Computing a forward/backward pass, a merge shard or an optimizer shard.
    case working
    /// Done with its part of the step, waiting for the next.
    case waiting
    /// A position of the hierarchy with no work (full hierarchy mode), or a sphere not yet started.
    case idle

    public var description: String {
        switch self {
        case .control: "control"
        case .working: "working"
        case .waiting: "waiting"
        case .idle: "idle"
        }
    }
}

/// Counters a sphere updates as it works and anyone may read at any time without awaiting it (relaxed
/// atomics: figures for reports, not for ordering the step).
public final class SphereCounters: Sendable {
    private let stateValue = Atomic<Int>(SphereState.idle.rawValue)
    private let microBatchCount = Atomic<Int>(0)
    private let tokenCount = Atomic<Int>(0)
    private let lastThread = Atomic<Int>(0)

    public init() {}

    public var state: SphereState {
        get { SphereState(rawValue: stateValue.load(ordering: .relaxed)) ?? .idle }
        set { stateValue.store(newValue.rawValue, ordering: .relaxed) }
    }
    public var microBatches: Int { microBatchCount.load(ordering: .relaxed) }
    public var tokens: Int { tokenCount.load(ordering: .relaxed) }
    /// Kernel thread id that last computed a micro-batch for this sphere (0: none yet).
    public var thread: Int { lastThread.load(ordering: .relaxed) }

    func recordMicroBatch(tokens: Int, thread: Int) {
        microBatchCount.add(1, ordering: .relaxed)
        tokenCount.add(tokens, ordering: .relaxed)
        lastThread.store(thread, ordering: .relaxed)
    }
}

/// One row of the per-sphere status table and of the metrics' "spheres" record.
public struct SphereStatus: Sendable, Codable, Equatable {
    public var position: Int
    public var level: Int
    public var group: Int
    public var state: SphereState
    public var microBatches: Int
    public var tokens: Int
    /// Bytes jemalloc has handed out from this sphere's arena and not freed.
    public var arenaAllocated: Int
    /// Bytes of this sphere's arena resident in RAM.
    public var arenaResident: Int
    /// Name of the thread the sphere runs on ("-" for idle positions).
    public var thread: String
    /// Deepest stack use of that thread so far.
    public var stackHighWater: Int
}
