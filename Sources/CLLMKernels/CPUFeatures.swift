#if canImport(Glibc)
import Glibc
#endif

/// What the kernels need from the processor. They are compiled for AVX2 with FMA (x86-64-v3) on x86_64;
/// running them on an older CPU would die with SIGILL, so the tool checks first and explains.
public enum CPUFeatures {
    /// nil when the kernels can run here; otherwise a sentence saying what is missing.
    public static func missingFeatures() -> String? {
        #if arch(x86_64) && os(Linux)
        guard let flags = cpuFlags() else { return nil }  // cannot tell: let it run
        let needed = ["avx2", "fma"]
        let missing = needed.filter { !flags.contains($0) }
        if missing.isEmpty { return nil }
        return "this CPU lacks \(missing.joined(separator: " and ")); cllm's kernels need AVX2 with FMA (x86-64-v3: Intel Haswell, AMD Zen or newer)"
        #else
        return nil
        #endif
    }

    #if os(Linux)
    static func cpuFlags() -> Set<String>? {
        guard let f = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0 {
            guard let l = line else { break }
            let s = String(cString: l)
            if s.hasPrefix("flags") {
                let parts = s.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { return nil }
                return Set(parts[1].split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init))
            }
        }
        return nil
    }
    #endif
}
