/// A corpus's token ids split into training and validation text, exactly as the PyTorch peer splits them
/// (first 90% train, the rest validation), so both implementations learn from and are judged on the same
/// tokens.
public struct TokenDataset: Sendable, Equatable {
    public let train: [Int32]
    public let validation: [Int32]

    /// Splits `ids`; refuses a corpus too short for one window of `contextLength` in either split, as
    /// training would otherwise fail later with an out-of-range window.
    public init(ids: [Int32], contextLength: Int) throws(DatasetError) {
        guard contextLength > 0 else { throw .contextLengthNotPositive(contextLength) }
        // The peer's `int(len(ids) * 0.9)`: the same double product truncated, so the boundary matches.
        let trainCount = Int(Double(ids.count) * 0.9)
        let train = Array(ids[..<trainCount])
        let validation = Array(ids[trainCount...])
        if train.count < contextLength + 1 {
            throw .trainingTooShort(tokens: train.count, contextLength: contextLength)
        }
        if validation.count < contextLength + 1 {
            throw .validationTooShort(tokens: validation.count, contextLength: contextLength)
        }
        self.train = train
        self.validation = validation
    }

    /// Non-overlapping validation windows of `contextLength`: window i reads inputs
    /// `validation[i*T ..< (i+1)*T]` and targets shifted by one, the peer's full-validation pass.
    public func validationWindows(contextLength: Int) -> Int {
        precondition(contextLength > 0, "context length must be positive")
        return max(0, validation.count - 1) / contextLength
    }
}

public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case contextLengthNotPositive(Int)
    case trainingTooShort(tokens: Int, contextLength: Int)
    case validationTooShort(tokens: Int, contextLength: Int)

    public var description: String {
        switch self {
        case .contextLengthNotPositive(let t): "context length must be positive, got \(t)"
        case .trainingTooShort(let n, let t):
            "corpus too short: \(n) tokens of training text, need at least \(t + 1) for one window of context \(t)"
        case .validationTooShort(let n, let t):
            "corpus too short: \(n) tokens of validation text (the last 10%), need at least \(t + 1) for one window of context \(t)"
        }
    }
}
