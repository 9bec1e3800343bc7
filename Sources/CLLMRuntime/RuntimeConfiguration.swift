#if canImport(Glibc)
import Glibc
#endif

/// How the data-parallel runtime is laid out: spheres (replicas), the OS threads that run them, their
/// stacks, and how much of the kissing-sphere hierarchy is allocated.
public struct RuntimeConfiguration: Sendable, Equatable, Codable {
    /// Active spheres; the global batch is split into this many equal micro-batches.
    public var spheres = 1
    /// Worker threads running the spheres (sphere i on thread i mod threads); nil: one per core, at most
    /// one per sphere. Node Zero has a thread of its own besides these.
    public var threads: Int? = nil
    /// Stack of every runtime thread, bytes.
    public var stackSize = 1 << 20
    public var hierarchy: SphereHierarchy.Mode = .active
    /// Depth limit of the hierarchy (nil: as deep as the spheres need).
    public var levels: Int? = nil
    /// Where buffers live: each thread and sphere in its own jemalloc arena (the default), or all in the
    /// process's one shared heap (the original system's layout, for comparison).
    public var allocator: AllocatorMode = .arenas

    public enum AllocatorMode: String, Sendable, Codable, CaseIterable { case arenas, shared }

    public init() {}

    public static var cores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Threads actually started for the workers.
    public var workerThreads: Int { min(threads ?? RuntimeConfiguration.cores, spheres) }

    /// Checks the layout against a global batch, naming the first problem.
    public func validate(batchSize: Int) throws(RuntimeError) {
        if spheres <= 0 { throw .invalidOption("--spheres must be at least 1, got \(spheres)") }
        if let t = threads, t <= 0 { throw .invalidOption("--threads must be at least 1, got \(t)") }
        try ThreadExecutor.validate(stackSize: stackSize)
        let needed = SphereHierarchy.levels(toHold: spheres)
        if let l = levels {
            if l <= 0 { throw .invalidOption("--levels must be at least 1, got \(l)") }
            if needed > l {
                throw .invalidOption("--spheres \(spheres) needs \(needed) levels of the hierarchy but --levels \(l) holds only \(SphereHierarchy.positions(levels: l)) positions")
            }
        }
        _ = try SphereHierarchy(spheres: spheres, mode: hierarchy)
        if batchSize % spheres != 0 {
            throw .invalidOption("a batch of \(batchSize) sequences cannot be split evenly across \(spheres) spheres: the batch size must be a multiple of --spheres")
        }
    }
}
