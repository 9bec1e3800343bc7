import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// `metrics.jsonl` in the run folder: one JSON object per line (steps, evaluations, checkpoints), appended
/// and flushed as they happen, so a killed run keeps everything up to its last step.
final class MetricsLog {
    private let file: UnsafeMutablePointer<FILE>
    private let encoder: JSONEncoder

    init(path: String, append: Bool) throws(RuntimeError) {
        guard let f = fopen(path, append ? "a" : "w") else {
            throw .output("cannot open \(path) for writing: \(String(cString: strerror(errno)))")
        }
        file = f
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
    }

    deinit { fclose(file) }

    func write<T: Encodable>(_ kind: String, _ value: T) {
        guard let data = try? encoder.encode(Line(kind: kind, value: value)) else { return }
        data.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, file) }
        fputc(0x0A, file)
        fflush(file)
    }
}

/// A metrics record with its kind ("step", "eval", …) merged into the same JSON object.
private struct Line<V: Encodable>: Encodable {
    let kind: String
    let value: V
    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
        var c = encoder.container(keyedBy: K.self)
        try c.encode(kind, forKey: .kind)
    }
    enum K: String, CodingKey { case kind }
}
