/// A fault a sphere suffers on a given micro-batch.
public enum SphereFault: Sendable, Equatable, Codable {
    /// The micro-batch fails (as if the sphere's job threw or its thread died): Node Zero must replace
    /// the sphere with a fresh one and recompute the micro-batch.
    case fail
    /// The sphere is slow: it gives up its thread this many times before computing.
    case slow(yields: Int)
    /// The hand-off is delayed: the sphere computes, then gives up its thread this many times before
    /// reporting its gradient ready.
    case delayedHandoff(yields: Int)
    /// The sphere's thread stops for this many microseconds once the last block's gradient is final, as
    /// when another process takes its core mid-pass (real runs only: it blocks the thread, so the
    /// simulation never draws it).
    case stalledBackward(microseconds: Int)
}

/// Decides which faults happen where; a pure function of (sphere, step, attempt) so runs replay exactly.
/// `attempt` counts recomputations of the same micro-batch (0 first).
public protocol FaultInjector: Sendable {
    func fault(sphere: Int, step: Int, attempt: Int) -> SphereFault?
}

/// Deliberately broken merges, for proving the simulation catches them (never used by `cllm train`).
package enum MergeVariant: String, Sendable, CaseIterable, Codable {
    case correct
    /// Each sphere reduces its shards as soon as its own gradient is ready, not after every gradient is.
    case reduceBeforeAllGradients
    /// A sphere clears its gradient buffer right after reducing its shards, while others may still read it.
    case reuseBufferBeforeReadersFinish
    /// Shards are summed in the order gradients completed instead of sphere order.
    case completionOrder
    /// Idle positions of the hierarchy add a stale gradient (the previous step's of sphere 0).
    case idleAddsStaleGradient
}

/// The error a failed micro-batch surfaces to Node Zero.
public struct SphereFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var position: Int
    public var step: Int
    public var description: String { "sphere \(position) failed during step \(step)" }
}

/// A recovery Node Zero performed: which sphere, which step, how long replacing and recomputing took.
public struct RecoveryRecord: Sendable, Codable, Equatable {
    public var sphere: Int
    public var step: Int
    public var nanoseconds: UInt64
}

/// Failures at given (sphere, step) pairs, each on the first attempt only: what `cllm train
/// --inject-failure` and the fault-recovery tests use to kill a sphere's micro-batch in a real run.
public struct ScheduledFailures: FaultInjector {
    public let failures: Set<SpherePoint>

    public struct SpherePoint: Hashable, Sendable {
        public var sphere: Int
        public var step: Int
        public init(sphere: Int, step: Int) {
            self.sphere = sphere
            self.step = step
        }
    }

    public init(_ failures: [SpherePoint]) { self.failures = Set(failures) }

    public func fault(sphere: Int, step: Int, attempt: Int) -> SphereFault? {
        attempt == 0 && failures.contains(SpherePoint(sphere: sphere, step: step)) ? .fail : nil
    }
}
