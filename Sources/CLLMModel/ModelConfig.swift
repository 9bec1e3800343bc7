/// The shape of a GPT-2 model: what a checkpoint's `config.json` records and what every buffer size follows from.
public struct ModelConfig: Codable, Equatable, Hashable, Sendable {
    /// Distinct token ids (65 for Tiny Shakespeare's characters, 256 for bytes).
    public var vocabSize: Int
    /// Longest sequence the model sees; the number of learned position embeddings.
    public var contextLength: Int
    /// Transformer blocks.
    public var layers: Int
    /// Attention heads per block; must divide `width`.
    public var heads: Int
    /// Embedding width (GPT-2's `n_embd`).
    public var width: Int

    public init(vocabSize: Int, contextLength: Int, layers: Int, heads: Int, width: Int) {
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.layers = layers
        self.heads = heads
        self.width = width
    }

    /// Width of one attention head.
    public var headSize: Int { width / heads }
    /// Width of the MLP's hidden layer (4C, as in GPT-2).
    public var hiddenWidth: Int { 4 * width }

    /// Refuses shapes no model can have, naming the offending setting.
    public func validate() throws(ModelConfigError) {
        let sizes: [(String, Int)] = [
            ("vocabulary size", vocabSize), ("context length", contextLength), ("layers", layers),
            ("heads", heads), ("width", width),
        ]
        for (name, value) in sizes where value <= 0 {
            throw .notPositive(name, value)
        }
        if width % heads != 0 { throw .headsDoNotDivideWidth(heads: heads, width: width) }
        if vocabSize > 1 << 24 { throw .tooLarge("vocabulary size", vocabSize) }
        if width > 1 << 16 { throw .tooLarge("width", width) }
        if contextLength > 1 << 16 { throw .tooLarge("context length", contextLength) }
        if layers > 1024 { throw .tooLarge("layers", layers) }
    }
}

public enum ModelConfigError: Error, Equatable, CustomStringConvertible {
    case notPositive(String, Int)
    case headsDoNotDivideWidth(heads: Int, width: Int)
    case tooLarge(String, Int)

    public var description: String {
        switch self {
        case .notPositive(let name, let value): "\(name) must be positive, got \(value)"
        case .headsDoNotDivideWidth(let heads, let width):
            "heads (\(heads)) must divide the width (\(width)): \(width) is not a multiple of \(heads)"
        case .tooLarge(let name, let value): "\(name) \(value) is larger than cllm supports"
        }
    }
}
