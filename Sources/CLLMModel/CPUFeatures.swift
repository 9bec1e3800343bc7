#if canImport(Glibc)
import Glibc
#endif

/// What the kernels need from the processor. They are compiled for AVX2 with FMA (x86-64-v3) on x86_64;
/// running them on an older CPU would die with SIGILL, so the tool checks first and explains. This check
/// lives outside the kernels' module, which is itself compiled for AVX2 and could fault before saying why.
public enum CPUFeatures {
    /// nil when the kernels can run here; otherwise a sentence saying what is missing.
    public static func missingFeatures() -> String? {
        #if arch(x86_64) && os(Linux)
        guard let flags = cpuFlags() else { return nil }  // cannot tell: let it run
        let needed = ["avx2", "fma"]
        let missing = needed.filter { !flags.contains($0) }
        if !missing.isEmpty {
            return "this CPU lacks \(missing.joined(separator: " and ")); cllm's kernels need AVX2 with FMA (x86-64-v3: Intel Haswell, AMD Zen or newer)"
        }
        if let requested = KernelBuild.requested {
            if requested == "avx512" && !hasAVX512 {
                return "\(KernelBuild.override)=avx512, but this CPU (or its kernel) does not offer AVX-512 F, BW, CD, DQ and VL; unset it or use avx2"
            }
            if !["avx2", "avx512", "auto", ""].contains(requested) {
                return "\(KernelBuild.override) must be avx2, avx512 or auto, got '\(requested)'"
            }
        }
        #endif
        return nil
    }

    /// Whether the AVX-512 build of the GEMM can run here: the x86-64-v4 set (F, BW, CD, DQ, VL) as the
    /// kernel reports it. Linux lists these flags only when it also saves the 512-bit registers.
    public static let hasAVX512: Bool = {
        #if arch(x86_64) && os(Linux)
        guard let flags = cpuFlags() else { return false }
        return ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
        #else
        return false
        #endif
    }()

    #if os(Linux)
    static func cpuFlags() -> Set<String>? {
        guard let l = ProcFile.line(startingWith: "flags", in: "/proc/cpuinfo") else { return nil }
        let parts = l.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        return Set(parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init))
    }
    #endif
}
