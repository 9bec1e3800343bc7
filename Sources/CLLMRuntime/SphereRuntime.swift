import CLLMModel

/// The real runtime: Node Zero on a thread of its own, spheres on a pool of named worker threads with
/// fixed stacks, every thread and every sphere with its own jemalloc arena.
///
/// Created lazily and exactly as asked: in `.active` mode only the active spheres exist; in `.full` mode
/// the idle positions of the covering levels exist too, as records, so the original 157-for-63 layout
/// can be compared, but they have no thread, no buffers and no work.
public final class SphereRuntime: Sendable {
    public let configuration: RuntimeConfiguration
    public let hierarchy: SphereHierarchy
    public let nodeZeroExecutor: ThreadExecutor
    public let workerExecutors: [ThreadExecutor]
    public let sphereArenas: [JemallocArena]
    public let nodeZeroArena: JemallocArena
    public let nodeZero: NodeZero
    /// Status counters of idle positions (full hierarchy): they only ever say "idle".
    public let idlePositions: [SphereCounters]

    public init(
        configuration c: RuntimeConfiguration, layout: ParameterLayout, batchSize: Int,
        faults: (any FaultInjector)? = nil
    ) throws(RuntimeError) {
        try c.validate(batchSize: batchSize)
        configuration = c
        hierarchy = try SphereHierarchy(spheres: c.spheres, mode: c.hierarchy)
        let arenas = c.allocator == .arenas
        nodeZeroArena = try JemallocArena.create()
        nodeZeroExecutor = try ThreadExecutor(name: "node-zero", stackSize: c.stackSize, arena: arenas ? nodeZeroArena : nil)
        var workers: [ThreadExecutor] = []
        let count = c.workerThreads
        do {
            for i in 0..<count {
                let name = count == c.spheres ? "sphere-\(i)" : "worker-\(i)"
                workers.append(try ThreadExecutor(
                    name: name, stackSize: c.stackSize, arena: arenas ? try JemallocArena.create() : nil))
            }
        } catch {
            for w in workers { w.shutdown() }
            nodeZeroExecutor.shutdown()
            throw error
        }
        workerExecutors = workers
        let microBatch = batchSize / c.spheres
        var sphereArenas: [JemallocArena] = []
        if arenas { for _ in 0..<c.spheres { sphereArenas.append(try JemallocArena.create()) } }
        self.sphereArenas = sphereArenas
        idlePositions = (0..<hierarchy.idleCount).map { _ in SphereCounters() }
        let executors = workers, sphereArenaList = sphereArenas
        // A sphere (and its replacement after a failure) lives on thread i mod threads, allocating from arena i.
        let makeSphere: @Sendable (Int, SphereCounters) -> Sphere = { i, counters in
            Sphere(
                position: i, executor: executors[i % count], layout: layout, microBatch: microBatch,
                allocator: sphereArenaList.isEmpty ? SystemAllocator() : sphereArenaList[i] as any FloatAllocator,
                faults: faults, counters: counters)
        }
        nodeZero = NodeZero(
            executor: nodeZeroExecutor, sphereCount: c.spheres, makeSphere: makeSphere, layout: layout,
            microBatch: microBatch, allocator: arenas ? nodeZeroArena : SystemAllocator() as any FloatAllocator)
    }

    /// Stops every thread (after the work queued on it). The runtime must not be used afterwards.
    public func shutdown() {
        for w in workerExecutors { w.shutdown() }
        nodeZeroExecutor.shutdown()
    }

    /// One row per position: Node Zero's thread is reported separately by `nodeZeroStatus`.
    public func status() -> [SphereStatus] {
        var rows: [SphereStatus] = []
        for (i, counters) in nodeZero.sphereCounters.enumerated() {
            let ex = workerExecutors[i % workerExecutors.count]
            let stats = sphereArenas.isEmpty ? ArenaStats(arena: 0, allocated: 0, active: 0, resident: 0) : sphereArenas[i].stats()
            rows.append(SphereStatus(
                position: i, level: SphereHierarchy.level(of: i), group: SphereHierarchy.group(of: i),
                state: counters.state, microBatches: counters.microBatches, tokens: counters.tokens,
                arenaAllocated: stats.allocated, arenaResident: stats.resident, thread: ex.name,
                stackHighWater: ex.stackHighWater))
        }
        for (j, idle) in idlePositions.enumerated() {
            let p = hierarchy.activeCount + j
            rows.append(SphereStatus(
                position: p, level: SphereHierarchy.level(of: p), group: SphereHierarchy.group(of: p), state: idle.state,
                microBatches: 0, tokens: 0, arenaAllocated: 0, arenaResident: 0, thread: "-", stackHighWater: 0))
        }
        return rows
    }

    /// Node Zero's row: state "control", no micro-batches ever.
    public func nodeZeroStatus() -> SphereStatus {
        let stats = nodeZeroArena.stats()
        return SphereStatus(
            position: -1, level: -1, group: -1, state: nodeZero.counters.state,
            microBatches: nodeZero.counters.microBatches, tokens: nodeZero.counters.tokens,
            arenaAllocated: stats.allocated, arenaResident: stats.resident, thread: nodeZeroExecutor.name,
            stackHighWater: nodeZeroExecutor.stackHighWater)
    }
}
