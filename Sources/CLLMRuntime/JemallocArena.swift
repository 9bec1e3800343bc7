#if CLLM_NO_JEMALLOC
import CLLMModel
import Synchronization

// Sanitizer builds (CLLM_SANITIZE=1): the sanitizer owns malloc, so "arenas" are labels over its heap and
// report no statistics. Everything else about the runtime is unchanged.
public struct JemallocArena: FloatAllocator, Hashable {
    public let index: UInt32
    static let next = Atomic<UInt32>(1)
    public static func create() throws(RuntimeError) -> JemallocArena {
        JemallocArena(index: next.add(1, ordering: .relaxed).newValue)
    }
    public func bindCurrentThread() throws(RuntimeError) {}
    public func allocate(floats count: Int) -> UnsafeMutablePointer<Float> { SystemAllocator().allocate(floats: count) }
    public func deallocate(_ pointer: UnsafeMutablePointer<Float>, floats count: Int) {
        SystemAllocator().deallocate(pointer, floats: count)
    }
    public func stats() -> ArenaStats { ArenaStats(arena: index, allocated: 0, active: 0, resident: 0) }
}

public enum Jemalloc {
    public static func refresh() {}
    public static func purgeAll() {}
    public static func totals() -> (allocated: Int, resident: Int) { (0, 0) }
}
#else
import CJemalloc
import CLLMModel

/// One jemalloc arena, and an allocator that places float buffers in it explicitly (`mallocx` with
/// `MALLOCX_ARENA`), so a sphere's gradient and activation bytes are attributable through jemalloc's
/// per-arena statistics.
///
/// Arenas are never destroyed: runtime-facts.md §3 records a use-after-free when an arena a Swift thread
/// was bound to is destroyed, and an arena costs only a few pages of metadata when idle.
public struct JemallocArena: FloatAllocator, Hashable {
    public let index: UInt32

    /// Creates a fresh arena.
    public static func create() throws(RuntimeError) -> JemallocArena {
        var index: UInt32 = 0
        var size = MemoryLayout<UInt32>.size
        let rc = mallctl("arenas.create", &index, &size, nil, 0)
        guard rc == 0 else { throw .jemalloc("arenas.create failed (error \(rc))") }
        return JemallocArena(index: index)
    }

    /// Binds the calling thread's ordinary allocations (Swift objects, arrays) to this arena.
    public func bindCurrentThread() throws(RuntimeError) {
        var idx = index
        let rc = mallctl("thread.arena", nil, nil, &idx, MemoryLayout<UInt32>.size)
        guard rc == 0 else { throw .jemalloc("thread.arena \(index) failed (error \(rc))") }
    }

    public func allocate(floats count: Int) -> UnsafeMutablePointer<Float> {
        // 64-byte alignment (2^6): a cache line, two AVX2 vectors.
        guard let raw = mallocx(max(count, 1) * 4, cllm_jem_flags_arena_aligned(index, 6)) else {
            fatalError("out of memory: \(count * 4) bytes from jemalloc arena \(index)")
        }
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public func deallocate(_ pointer: UnsafeMutablePointer<Float>, floats count: Int) {
        sdallocx(pointer, max(count, 1) * 4, cllm_jem_flags_arena_aligned(index, 6))
    }

    /// This arena's statistics after refreshing jemalloc's epoch.
    public func stats() -> ArenaStats {
        Jemalloc.refresh()
        let pageSize = Jemalloc.read(Int.self, "arenas.page") ?? 4096
        let active = Jemalloc.read(Int.self, "stats.arenas.\(index).pactive") ?? 0
        return ArenaStats(
            arena: index,
            allocated: (Jemalloc.read(Int.self, "stats.arenas.\(index).small.allocated") ?? 0)
                + (Jemalloc.read(Int.self, "stats.arenas.\(index).large.allocated") ?? 0),
            active: active * pageSize,
            resident: Jemalloc.read(Int.self, "stats.arenas.\(index).resident") ?? 0)
    }
}


/// Process-wide jemalloc controls.
public enum Jemalloc {
    /// Makes the next statistics reads current (jemalloc caches them per epoch).
    public static func refresh() {
        var newEpoch: UInt64 = 1
        var oldEpoch: UInt64 = 0
        var size = MemoryLayout<UInt64>.size
        _ = mallctl("epoch", &oldEpoch, &size, &newEpoch, MemoryLayout<UInt64>.size)
    }

    static func read<T: FixedWidthInteger>(_: T.Type, _ name: String) -> T? {
        var value: T = 0
        var size = MemoryLayout<T>.size
        return mallctl(name, &value, &size, nil, 0) == 0 ? value : nil
    }

    /// Returns every arena's freed-but-resident pages to the system now, instead of after jemalloc's decay
    /// delay (10 s): called between phases (after setup, after a checkpoint) so transient buffers of one
    /// phase do not stay resident through the next.
    public static func purgeAll() {
        // MALLCTL_ARENAS_ALL (4096) addresses every arena.
        _ = mallctl("arena.4096.purge", nil, nil, nil, 0)
    }

    /// Total bytes allocated and resident, as jemalloc sees them (0 when a sanitizer owns malloc).
    public static func totals() -> (allocated: Int, resident: Int) {
        refresh()
        return (read(Int.self, "stats.allocated") ?? 0, read(Int.self, "stats.resident") ?? 0)
    }
}
#endif

/// Bytes jemalloc attributes to one arena.
public struct ArenaStats: Sendable, Equatable, Codable {
    public var arena: UInt32
    /// Bytes handed out by malloc and not yet freed.
    public var allocated: Int
    /// Bytes in pages holding live allocations.
    public var active: Int
    /// Bytes of the arena's pages resident in RAM (including its metadata).
    public var resident: Int
}
