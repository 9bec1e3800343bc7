/// Where large float buffers come from. The runtime supplies one backed by a sphere's own jemalloc arena and
/// the simulation one that only accounts; the model itself never decides where its memory lives.
public protocol FloatAllocator: Sendable {
    func allocate(floats count: Int) -> UnsafeMutablePointer<Float>
    func deallocate(_ pointer: UnsafeMutablePointer<Float>, floats count: Int)
}

/// The process heap, 64-byte aligned (one cache line, two AVX2 vectors).
public struct SystemAllocator: FloatAllocator {
    public init() {}
    public func allocate(floats count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }
    public func deallocate(_ pointer: UnsafeMutablePointer<Float>, floats count: Int) {
        UnsafeMutableRawPointer(pointer).deallocate()
    }
}

/// An owned, zero-initialised, fixed-size float array with a stable address, freed through its allocator.
///
/// A class so that kernels can hold raw pointers into it for the duration of a call without copies.
/// Not `Sendable`: one owner at a time; the runtime hands buffers between phases explicitly.
public final class FloatBuffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let allocator: any FloatAllocator

    public init(count: Int, allocator: any FloatAllocator = SystemAllocator()) {
        precondition(count >= 0, "negative buffer size")
        self.count = count
        self.allocator = allocator
        self.pointer = allocator.allocate(floats: count)
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { allocator.deallocate(pointer, floats: count) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "buffer size mismatch")
        pointer.update(from: other.pointer, count: count)
    }

    /// The values as an array (tests, checkpoints).
    public var array: [Float] { Array(buffer) }
}
