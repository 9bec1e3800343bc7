import CLLMModel
import CLLMRuntime

/// Predicts a real run's memory, component by component, resident (pages actually touched) and virtual
/// (address space reserved) kept apart: a thread's stack is mostly virtual, a gradient buffer is resident.
///
/// Buffer sizes are exact arithmetic from the model and layout. The remaining constants were fitted on
/// this machine kind from three calibration runs of `cllm bench memory --probe` (2 and 16 spheres with
/// arenas, 16 spheres with the shared heap; Docs/memory.md) and then checked against the 63-sphere
/// layouts they were not fitted on.
public struct MemoryModel: Sendable {
    public struct Component: Sendable, Equatable, Codable {
        public var name: String
        public var residentBytes: Int
        public var virtualBytes: Int
    }

    public let scenario: Scenario
    public let components: [Component]

    // Fitted constants (Docs/memory.md has the calibration runs).
    /// Resident bytes of the process apart from its buffers: binary, Swift runtime, libraries, jemalloc's base.
    public static let baselineResident = 17_310_000
    /// Address space of the same.
    public static let baselineVirtual = 89_740_000
    /// Resident bytes one jemalloc arena adds beyond its live data (metadata, thread cache, dirty pages).
    public static let arenaResident = 327_000
    /// Address space one arena reserves beyond its live data.
    public static let arenaVirtual = 3_311_000
    /// The shared heap's resident and virtual overhead, as fractions of the buffer bytes it holds.
    public static let sharedHeapResidentOverhead = 0.029
    public static let sharedHeapVirtualOverhead = 0.226
    /// Stack a runtime thread touches (thread descriptor, TLS, its deepest frames: 12–28 KiB measured).
    public static let touchedStack = 32 << 10
    /// Bytes of one idle position's record (its counters object).
    public static let idleRecord = 64

    /// The global batch the memory probe and the prediction use for `spheres` spheres: two sequences each.
    public static func batch(spheres: Int) -> Int { 2 * spheres }

    public init(scenario s: Scenario) {
        scenario = s
        let config = s.model.config
        let p = ParameterLayout(config).count * 4
        let micro = s.batchSize / max(1, s.spheres)
        let activations = Activations.bytes(config: config, batch: micro, time: config.contextLength)
        let threads = min(s.threads, s.spheres) + 1  // workers + Node Zero
        let idle = s.hierarchy == .full ? SphereHierarchy.positions(levels: SphereHierarchy.levels(toHold: s.spheres)) - s.spheres : 0
        let arenas = s.allocator == .arenas ? threads + s.spheres : 0
        // Kernel packing scratch: the largest call's, once per worker thread (each makes one call at a time).
        let scratch = GPT.kernelScratchBytes(config: config, batch: micro, time: config.contextLength)
        var parts: [Component] = [
            Component(name: "process baseline (binary, Swift runtime, libraries)", residentBytes: Self.baselineResident, virtualBytes: Self.baselineVirtual),
            Component(name: "corpus token ids", residentBytes: s.corpusTokens * 4, virtualBytes: s.corpusTokens * 4),
            Component(name: "weights and AdamW moments (Node Zero)", residentBytes: 3 * p, virtualBytes: 3 * p),
            Component(name: "merged gradient (Node Zero)", residentBytes: s.spheres > 1 ? p : 0, virtualBytes: s.spheres > 1 ? p : 0),
            Component(name: "sphere gradient buffers", residentBytes: s.spheres * p, virtualBytes: s.spheres * p),
            Component(name: "sphere activations", residentBytes: s.spheres * activations, virtualBytes: s.spheres * activations),
            Component(name: "GEMM packing scratch", residentBytes: (threads - 1) * scratch, virtualBytes: (threads - 1) * scratch),
            Component(name: "thread stacks", residentBytes: threads * Self.touchedStack, virtualBytes: threads * (s.stackSize + 4096)),
            Component(name: "jemalloc arenas (metadata and reserve)", residentBytes: arenas * Self.arenaResident, virtualBytes: arenas * Self.arenaVirtual),
            Component(name: "idle sphere records", residentBytes: idle * Self.idleRecord, virtualBytes: idle * Self.idleRecord),
        ]
        if s.allocator == .shared {
            let heap = parts.filter { $0.name.contains("weights") || $0.name.contains("gradient") || $0.name.contains("activations") || $0.name.contains("scratch") }
                .reduce(0) { $0 + $1.residentBytes }
            parts.append(Component(
                name: "shared heap overhead (fragmentation, retained extents)",
                residentBytes: Int(Double(heap) * Self.sharedHeapResidentOverhead),
                virtualBytes: Int(Double(heap) * Self.sharedHeapVirtualOverhead)))
        }
        parts = parts.filter { $0.residentBytes != 0 || $0.virtualBytes != 0 }
        components = parts
    }

    /// Peak resident and virtual bytes: every component at once (all buffers live through a step).
    public var prediction: (peakResidentBytes: Int, virtualBytes: Int) {
        (components.reduce(0) { $0 + $1.residentBytes }, components.reduce(0) { $0 + $1.virtualBytes })
    }

    /// Bytes the original C system's 94 idle sphere records cost (≈10.5 KB each, notes/origin.md §2).
    public static let originalIdleRecord = 10_752
}
