import CLLMSystem
#if canImport(Glibc)
import Glibc
#endif

/// A serial executor that owns one OS thread with a chosen stack size, a name, and (optionally) its own
/// jemalloc arena. Actors whose `unownedExecutor` is this executor run every job on that thread.
///
/// It is also a `TaskExecutor`, so task groups can start children directly on it instead of hopping
/// through Swift's global pool first. The queue sleeps on a condition variable when empty: an idle
/// executor costs no CPU, and a job is never spun for.
public final class ThreadExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    public let name: String
    public let stackSize: Int
    public let arena: JemallocArena?
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var closed = false
    private var thread = pthread_t()
    private var started = false
    private var startError: Int32 = 0
    /// Lowest address and size of the thread's stack, recorded by the thread itself.
    private var stackLow: UInt = 0
    private var stackBytes = 0
    private var kernelThreadID = 0

    /// The smallest stack cllm accepts: the platform's minimum or 64 KiB, whichever is larger
    /// (Swift's runtime and the kernels' frames need more than glibc's 16 KiB minimum).
    public static var minimumStackSize: Int { max(Int(sysconf(Int32(_SC_THREAD_STACK_MIN))), 64 << 10) }
    public static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

    /// Refuses stack sizes the platform cannot honour, naming the rule broken.
    public static func validate(stackSize: Int) throws(RuntimeError) {
        if stackSize < minimumStackSize {
            throw .invalidOption("stack size \(stackSize) bytes is below the minimum of \(minimumStackSize) bytes (\(minimumStackSize >> 10) KiB)")
        }
        if stackSize % pageSize != 0 {
            throw .invalidOption("stack size \(stackSize) bytes is not a multiple of the page size (\(pageSize) bytes)")
        }
    }

    /// Starts the thread and waits until it runs (named, arena-bound, stack recorded).
    public init(name: String, stackSize: Int = 1 << 20, arena: JemallocArena? = nil) throws(RuntimeError) {
        try ThreadExecutor.validate(stackSize: stackSize)
        self.name = name
        self.stackSize = stackSize
        self.arena = arena
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, stackSize)
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, &attr, threadExecutorMain, context)
        if rc != 0 {
            Unmanaged<ThreadExecutor>.fromOpaque(context).release()
            throw .thread("cannot start thread \(name): \(String(cString: strerror(rc)))")
        }
        pthread_mutex_lock(mutex)
        while !started { pthread_cond_wait(condition, mutex) }
        let error = startError
        pthread_mutex_unlock(mutex)
        if error != 0 {
            shutdown()
            throw .jemalloc("thread \(name) could not bind arena \(arena?.index ?? 0) (error \(error))")
        }
    }

    deinit {
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(condition)
        mutex.deallocate()
        condition.deallocate()
    }

    fileprivate func main() {
        _ = cllm_set_thread_name(name)
        var low: UnsafeMutableRawPointer? = nil
        var size = 0
        if cllm_thread_stack(&low, &size) == 0, let low {
            stackLow = UInt(bitPattern: low)
            stackBytes = size
        }
        kernelThreadID = cllm_thread_id()
        var error: Int32 = 0
        if let arena, (try? arena.bindCurrentThread()) == nil { error = 1 }
        pthread_mutex_lock(mutex)
        started = true
        startError = error
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        if error != 0 { return }
        let serial = asUnownedSerialExecutor(), task = asUnownedTaskExecutor()
        while let job = next() {
            job.runSynchronously(isolatedTo: serial, taskExecutor: task)
        }
    }

    /// The next job, sleeping while there is none; nil once shut down and drained.
    private func next() -> UnownedJob? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while head == jobs.count {
            if closed { return nil }
            pthread_cond_wait(condition, mutex)
        }
        let job = jobs[head]
        head += 1
        if head == jobs.count { jobs.removeAll(keepingCapacity: true); head = 0 }
        return job
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        pthread_mutex_lock(mutex)
        jobs.append(unowned)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    public func isIsolatingCurrentContext() -> Bool? { isCurrentThread }

    public func checkIsolated() {
        precondition(isCurrentThread, "expected to run on executor thread \(name)")
    }

    /// Whether the caller runs on this executor's thread.
    public var isCurrentThread: Bool { pthread_equal(pthread_self(), thread) != 0 }

    /// Lets queued jobs finish, stops the thread and waits for it. Idempotent.
    public func shutdown() {
        pthread_mutex_lock(mutex)
        let wasClosed = closed
        closed = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        if !wasClosed && !isCurrentThread { pthread_join(thread, nil) }
    }

    /// The thread's kernel id (for /proc and `top -H`).
    public var threadID: Int { kernelThreadID }

    /// Bytes of this thread's stack ever touched: from the top of the stack down to the lowest resident
    /// page, read with mincore(2) so that measuring does not itself touch the stack. Includes the thread
    /// descriptor and TLS glibc keeps at the top of the mapping.
    public var stackHighWater: Int {
        StackUsage.touchedBytes(low: stackLow, size: stackBytes)
    }
}

/// The thread body: a plain C-convention function (a closure literal could be inferred @MainActor).
private func threadExecutorMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let context else { return nil }
    let executor = Unmanaged<ThreadExecutor>.fromOpaque(context).takeRetainedValue()
    executor.main()
    return nil
}
