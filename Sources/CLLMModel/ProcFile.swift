#if canImport(Glibc)
import Glibc
#endif

/// Reads Linux's "key: value" files under /proc (cpuinfo, status, meminfo) the one way every caller needs:
/// the first line that starts with a key.
public enum ProcFile {
    /// The first line of `path` starting with `prefix`, without its newline; nil when absent or unreadable.
    public static func line(startingWith prefix: String, in path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0 {
            guard let l = line else { break }
            let s = String(cString: l)
            if s.hasPrefix(prefix) { return s.hasSuffix("\n") ? String(s.dropLast()) : s }
        }
        return nil
    }

    /// The number after `prefix` on its line ("VmRSS:  1234 kB" → 1234).
    public static func number(after prefix: String, in path: String) -> Int? {
        guard let l = line(startingWith: prefix, in: path) else { return nil }
        let fields = l.split(whereSeparator: { $0 == " " || $0 == "\t" })
        return fields.count > 1 ? Int(fields[1]) : nil
    }
}
