/// Failures of the runtime and trainer, each a sentence a user can act on.
public enum RuntimeError: Error, Equatable, CustomStringConvertible {
    case jemalloc(String)
    case invalidOption(String)
    case data(String)
    case output(String)
    case checkpoint(String)
    case thread(String)

    public var description: String {
        switch self {
        case .jemalloc(let s): "jemalloc: \(s)"
        case .invalidOption(let s): s
        case .data(let s): s
        case .output(let s): s
        case .checkpoint(let s): s
        case .thread(let s): s
        }
    }
}
