#if canImport(Glibc)
import Glibc
#endif

/// The kernel's view of this process's memory, from /proc/self/status: resident (VmRSS), its peak (VmHWM)
/// and virtual size (VmSize) kept apart, because a smaller thread stack changes only the last.
public struct ProcessMemory: Sendable, Equatable, Codable {
    public var residentBytes: Int
    public var peakResidentBytes: Int
    public var virtualBytes: Int
    public var threads: Int

    public static func current() -> ProcessMemory {
        var m = ProcessMemory(residentBytes: 0, peakResidentBytes: 0, virtualBytes: 0, threads: 0)
        guard let f = fopen("/proc/self/status", "r") else { return m }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0 {
            guard let l = line else { break }
            let s = String(cString: l)
            // "VmRSS:\t  1234 kB" → 1234
            let fields = s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
            let value = fields.count > 1 ? Int(fields[1]) ?? 0 : 0
            if s.hasPrefix("VmRSS:") { m.residentBytes = value * 1024 }
            else if s.hasPrefix("VmHWM:") { m.peakResidentBytes = value * 1024 }
            else if s.hasPrefix("VmSize:") { m.virtualBytes = value * 1024 }
            else if s.hasPrefix("Threads:") { m.threads = value }
        }
        return m
    }
}
