import CLLMModel

/// The kernel's view of this process's memory, from /proc/self/status: resident (VmRSS), its peak (VmHWM)
/// and virtual size (VmSize) kept apart, because a smaller thread stack changes only the last.
public struct ProcessMemory: Sendable, Equatable, Codable {
    public var residentBytes: Int
    public var peakResidentBytes: Int
    public var virtualBytes: Int
    public var threads: Int

    public static func current() -> ProcessMemory {
        let path = "/proc/self/status"
        return ProcessMemory(
            residentBytes: (ProcFile.number(after: "VmRSS:", in: path) ?? 0) * 1024,
            peakResidentBytes: (ProcFile.number(after: "VmHWM:", in: path) ?? 0) * 1024,
            virtualBytes: (ProcFile.number(after: "VmSize:", in: path) ?? 0) * 1024,
            threads: ProcFile.number(after: "Threads:", in: path) ?? 0)
    }
}
