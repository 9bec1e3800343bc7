import CLLMModel
import Synchronization

/// The simulation's allocator: real memory from the system heap, with every byte counted, so the simulated
/// run's own buffers can be checked against the memory model's arithmetic.
public final class AccountingAllocator: FloatAllocator {
    private let live = Atomic<Int>(0)
    private let peakBytes = Atomic<Int>(0)

    public init() {}

    public func allocate(floats count: Int) -> UnsafeMutablePointer<Float> {
        let now = live.add(count * 4, ordering: .relaxed).newValue
        var peak = peakBytes.load(ordering: .relaxed)
        while now > peak {
            let (exchanged, original) = peakBytes.compareExchange(expected: peak, desired: now, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
        return SystemAllocator().allocate(floats: count)
    }

    public func deallocate(_ pointer: UnsafeMutablePointer<Float>, floats count: Int) {
        live.subtract(count * 4, ordering: .relaxed)
        SystemAllocator().deallocate(pointer, floats: count)
    }

    public var liveBytes: Int { live.load(ordering: .relaxed) }
    public var peak: Int { peakBytes.load(ordering: .relaxed) }
}
