import CLLMSystem
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import CLLMRuntime

extension Tag {
    @Tag static var runtime: Self
}

/// An actor pinned to a given executor, reporting where its methods run.
actor Probe {
    nonisolated let executor: ThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    init(_ executor: ThreadExecutor) { self.executor = executor }

    func whereAmI() -> (onThread: Bool, stack: Int, tid: Int) {
        var low: UnsafeMutableRawPointer? = nil
        var size = 0
        _ = cllm_thread_stack(&low, &size)
        return (executor.isCurrentThread, size, cllm_thread_id())
    }
}

@Suite("Thread executor", .tags(.runtime))
struct ThreadExecutorTests {
    @Test("actor jobs run on the executor's thread, with at least the requested stack size", arguments: [1 << 20, 256 << 10, 8 << 20])
    func runsOnItsThread(stackSize: Int) async throws {
        let ex = try ThreadExecutor(name: "probe", stackSize: stackSize)
        defer { ex.shutdown() }
        let probe = Probe(ex)
        for _ in 0..<3 {
            let r = await probe.whereAmI()
            #expect(r.onThread)
            // At least the size asked for. glibc may hand a new thread a cached stack of an exited one when
            // it is at most 4× larger, and ThreadSanitizer enlarges small stacks, so larger sizes are legal.
            #expect(r.stack >= stackSize, "stack \(r.stack)")
            let sanitized = Jemalloc.totals().allocated == 0
            #expect(sanitized || r.stack <= 4 * stackSize, "stack \(r.stack)")
            #expect(r.tid == ex.threadID)
        }
        #expect(!ex.isCurrentThread)
    }

    @Test("the thread carries its name")
    func named() throws {
        let ex = try ThreadExecutor(name: "sphere-7", stackSize: 1 << 20)
        defer { ex.shutdown() }
        var comm = [UInt8](repeating: 0, count: 64)
        let path = "/proc/self/task/\(ex.threadID)/comm"
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        let n = read(fd, &comm, 63)
        close(fd)
        #expect(String(decoding: comm[0..<max(0, n)], as: UTF8.self).hasPrefix("sphere-7"))
    }

    @Test("stack sizes below the minimum or off page boundaries are refused")
    func badStacks() {
        #expect(throws: RuntimeError.self) { try ThreadExecutor(name: "x", stackSize: 16 << 10) }
        #expect(throws: RuntimeError.self) { try ThreadExecutor(name: "x", stackSize: (1 << 20) + 100) }
        #expect(ThreadExecutor.minimumStackSize >= 64 << 10)
    }

    @Test("stack high-water grows with use and stays far below the stack size")
    func highWater() async throws {
        let ex = try ThreadExecutor(name: "deep", stackSize: 1 << 20)
        defer { ex.shutdown() }
        let probe = Probe(ex)
        _ = await probe.whereAmI()
        let before = ex.stackHighWater
        #expect(before > 0 && before < 1 << 20)
        await probe.touchStack(kib: 200)
        let after = ex.stackHighWater
        #expect(after >= before + 150 * 1024, "high-water \(before) → \(after)")
        #expect(after < 1 << 20)
    }

    @Test("shutdown joins the thread: the threads are gone afterwards")
    func shutdownJoins() async throws {
        // Other suites start threads concurrently: count only this test's, by name.
        func named() -> Int {
            guard let dir = opendir("/proc/self/task") else { return -1 }
            defer { closedir(dir) }
            var count = 0
            while let entry = readdir(dir) {
                let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                guard let fd = Optional(open("/proc/self/task/\(tid)/comm", O_RDONLY)), fd >= 0 else { continue }
                var buf = [UInt8](repeating: 0, count: 32)
                let n = read(fd, &buf, 31)
                close(fd)
                if String(decoding: buf[0..<max(0, n)], as: UTF8.self).hasPrefix("jointest-") { count += 1 }
            }
            return count
        }
        var executors: [ThreadExecutor] = []
        for i in 0..<8 { executors.append(try ThreadExecutor(name: "jointest-\(i)", stackSize: 1 << 20)) }
        #expect(named() == 8)
        for e in executors { e.shutdown() }
        // pthread_join returns when the thread has exited; the kernel may list the task for a moment longer.
        for _ in 0..<100 where named() != 0 { usleep(10_000) }
        #expect(named() == 0)
    }
}

extension Probe {
    /// Touches about `kib` KiB of this thread's stack.
    func touchStack(kib: Int) { cllm_touch_stack(kib * 1024) }
}

/// A participant of a rendezvous test, on its own executor.
actor Arrival {
    nonisolated let executor: ThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    init(_ executor: ThreadExecutor) { self.executor = executor }

    /// Arrives, and returns how many `last` calls it saw after resuming and whether it resumed on its thread.
    func meet(_ slot: Int, at rendezvous: StepRendezvous, tally: Tally) async -> (lastCalls: Int, onThread: Bool) {
        tally.arrive()
        await rendezvous.arrive(slot) { tally.close() }
        return (tally.lastCalls, executor.isCurrentThread)
    }
}

/// What a rendezvous test counts: arrivals, and the `last` calls with the arrivals they saw.
final class Tally: @unchecked Sendable {
    private let arrivals = Atomic<Int>(0)
    private let closes = Atomic<Int>(0)
    private(set) var arrivalsSeenByLast = -1
    func arrive() { arrivals.add(1, ordering: .relaxed) }
    func close() {
        arrivalsSeenByLast = arrivals.load(ordering: .relaxed)
        closes.add(1, ordering: .relaxed)
    }
    var lastCalls: Int { closes.load(ordering: .relaxed) }
}

@Suite("Step rendezvous", .tags(.runtime))
struct StepRendezvousTests {
    @Test("the last arrival runs `last` once, after every arrival, and everyone resumes on its own thread after it")
    func meets() async throws {
        let executors = try (0..<3).map { try ThreadExecutor(name: "meet-\($0)", stackSize: 1 << 20) }
        defer { for e in executors { e.shutdown() } }
        // Five participants on three threads: two threads carry two each, so a suspended participant must free its
        // thread for the other (a rendezvous that blocked its thread would never open).
        let arrivals = (0..<5).map { Arrival(executors[$0 % 3]) }
        for _ in 0..<20 {
            let rendezvous = StepRendezvous(participants: arrivals.count)
            let tally = Tally()
            let results = await withTaskGroup(of: (Int, Bool).self) { group in
                for (i, a) in arrivals.enumerated() {
                    group.addTask(executorPreference: a.executor) { await a.meet(i, at: rendezvous, tally: tally) }
                }
                var all: [(Int, Bool)] = []
                for await r in group { all.append(r) }
                return all
            }
            #expect(results.count == 5)
            #expect(results.allSatisfy { $0.0 == 1 && $0.1 })
            #expect(tally.lastCalls == 1)
            #expect(tally.arrivalsSeenByLast == 5)
        }
    }

    @Test("shards are claimed once each: early only where every gradient is final, never by the last sphere to finish")
    func joint() {
        let plan = ShardPlan(parameterCount: 100, shardSize: 16)  // shards 0…6, the last 4 floats long
        let step = JointStep(spheres: 2, shardOwners: 2, plan: plan)
        #expect(step.claimShardToSum(early: true) == nil, "no gradient is final anywhere yet")
        step.gradientFinal(0, from: 0)
        step.gradientFinal(1, from: 50)
        // Sphere 1 is final from 50: shards 4…6 (64…99) lie inside it, shard 3 (48…63) does not.
        var early: [Int] = []
        while let s = step.claimShardToSum(early: true) { early.append(s) }
        #expect(early == [6, 5, 4])
        step.gradientFinal(1, from: 0)
        #expect(step.claimShardToSum(early: true) == nil, "once every gradient is complete, go to the rendezvous")
        var rest: [Int] = []
        while let s = step.claimShardToSum(early: false) { rest.append(s) }
        #expect(rest == [3, 2, 1, 0])
        var updates: [Int] = []
        while let s = step.claimShardToUpdate() { updates.append(s) }
        #expect(updates == Array(0..<7))
    }
}
