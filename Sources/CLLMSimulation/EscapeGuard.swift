#if canImport(Glibc)
import Glibc
#endif

/// Catches jobs that leave the simulation for Swift's global executor (a `Task {}` that does not inherit
/// the lane, `Task.detached`, `Task.sleep`…). Such a job would run on Dispatch's threads at a time no seed
/// decides, so the run would not replay; it is instead routed back into the scheduler on an "escaped"
/// lane, and the run fails naming where it came from.
///
/// Works through `swift_task_enqueueGlobal_hook`, which the Swift 6.3 runtime still honours
/// (runtime-facts.md §2c). Only jobs enqueued from the thread driving a simulation are captured; other
/// threads' tasks (other tests running in parallel) pass through untouched.
enum EscapeGuard {
    typealias Original = @convention(thin) (UnownedJob) -> Void
    typealias Hook = @convention(thin) (UnownedJob, Original) -> Void

    /// The simulation currently driven on a given thread (by pthread id).
    struct Active {
        let thread: pthread_t
        let scheduler: SimulationScheduler
        let lane: SimulationLane
    }

    /// Simulations being driven, by thread. A pthread mutex rather than `Synchronization.Mutex`: several
    /// tests drive simulations at once, and ThreadSanitizer sees pthread locking but not Mutex's futex.
    final class Registry: @unchecked Sendable {
        private let lock: UnsafeMutablePointer<pthread_mutex_t>
        private var list: [Active] = []
        init() {
            lock = .allocate(capacity: 1)
            pthread_mutex_init(lock, nil)
        }
        func withLock<R>(_ body: (inout [Active]) -> R) -> R {
            pthread_mutex_lock(lock)
            defer { pthread_mutex_unlock(lock) }
            return body(&list)
        }
    }

    static let active = Registry()

    nonisolated(unsafe) static let hookAddress: UnsafeMutablePointer<Hook?>? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "swift_task_enqueueGlobal_hook") else {
            return nil
        }
        return symbol.assumingMemoryBound(to: Hook?.self)
    }()

    static let installed: Bool = {
        guard let address = hookAddress else { return false }
        address.pointee = { job, original in
            let me = pthread_self()
            let target: Active? = EscapeGuard.active.withLock { list in list.first { pthread_equal($0.thread, me) != 0 } }
            guard let target else { return original(job) }
            let from = target.scheduler.runningLane?.name ?? "the driver"
            target.scheduler.recordEscape("a job enqueued on Swift's global executor while \(from) was running (task priority \(job.priority.rawValue))")
            target.lane.enqueue(ExecutorJob(job))
        }
        return true
    }()

    /// Runs `body` with escapes from this thread captured into `scheduler` (on `lane`).
    static func capturing<R>(scheduler: SimulationScheduler, lane: SimulationLane, _ body: () -> R) -> R {
        _ = installed
        let me = pthread_self()
        active.withLock { $0.append(Active(thread: me, scheduler: scheduler, lane: lane)) }
        defer { active.withLock { list in list.removeAll { pthread_equal($0.thread, me) != 0 } } }
        return body()
    }
}

extension EscapeGuard.Active: @unchecked Sendable {}
