#if canImport(Glibc)
import Glibc
#endif

/// How much of a thread's stack was ever used, measured without touching it: pages of the stack mapping
/// that are resident were touched at some point (they are never given back while the thread lives).
enum StackUsage {
    static func touchedBytes(low: UInt, size: Int) -> Int {
        guard low != 0, size > 0 else { return 0 }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = size / page
        var residency = [UInt8](repeating: 0, count: pages)
        let rc = residency.withUnsafeMutableBufferPointer {
            mincore(UnsafeMutableRawPointer(bitPattern: low), size, $0.baseAddress)
        }
        guard rc == 0 else { return 0 }
        // The stack grows down from low + size; the lowest resident page marks the deepest use.
        guard let lowest = residency.firstIndex(where: { $0 & 1 != 0 }) else { return 0 }
        return (pages - lowest) * page
    }
}
