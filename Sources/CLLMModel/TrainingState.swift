/// Everything besides tensors that `--resume` needs to continue a run exactly where it stopped; a
/// checkpoint's `state.json`.
public struct TrainingState: Codable, Equatable, Sendable {
    /// Bumped when the checkpoint layout changes incompatibly, so an old cllm refuses a newer checkpoint
    /// instead of misreading it.
    public static let currentFormatVersion = 1

    public var formatVersion: Int
    /// Optimizer steps completed; training resumes at this (0-based) step.
    public var step: Int
    public var hyperparameters: Hyperparameters
    public var tokenizer: Tokenizer
    public var model: ModelConfig
    /// A `RandomSource` state, so sampling and data order continue the same stream.
    public var rngState: [UInt64]
    /// Where the training text came from (a path or a corpus name), to refuse resuming on other data.
    public var dataSource: String
    /// "<bytes>:<CRC-32C>" of the corpus text, so `--resume` refuses other data however it is named.
    public var dataFingerprint: String?
    /// Spheres (data-parallel workers) the run used; 1 for older checkpoints that did not record it.
    public var spheres: Int
    /// CRC-32C (8 hex digits) of each tensor file, keyed by file name. `Checkpoint.write` fills it.
    public var checksums: [String: String]

    public init(
        step: Int, hyperparameters: Hyperparameters, tokenizer: Tokenizer, model: ModelConfig,
        rngState: [UInt64], dataSource: String, spheres: Int = 1, checksums: [String: String] = [:]
    ) {
        self.formatVersion = TrainingState.currentFormatVersion
        self.step = step
        self.hyperparameters = hyperparameters
        self.tokenizer = tokenizer
        self.model = model
        self.rngState = rngState
        self.dataSource = dataSource
        self.spheres = spheres
        self.checksums = checksums
    }

    private enum CodingKeys: String, CodingKey {
        case formatVersion, step, hyperparameters, tokenizer, model, rngState, dataSource, dataFingerprint, spheres, checksums
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        step = try c.decode(Int.self, forKey: .step)
        hyperparameters = try c.decode(Hyperparameters.self, forKey: .hyperparameters)
        tokenizer = try c.decode(Tokenizer.self, forKey: .tokenizer)
        model = try c.decode(ModelConfig.self, forKey: .model)
        rngState = try c.decode([UInt64].self, forKey: .rngState)
        dataSource = try c.decode(String.self, forKey: .dataSource)
        dataFingerprint = try c.decodeIfPresent(String.self, forKey: .dataFingerprint)
        spheres = try c.decodeIfPresent(Int.self, forKey: .spheres) ?? 1
        checksums = try c.decodeIfPresent([String: String].self, forKey: .checksums) ?? [:]
    }

    /// Refuses states no run can continue from, saying what is wrong.
    public func validate() throws(TrainingStateError) {
        if formatVersion > TrainingState.currentFormatVersion {
            throw .invalid("format version \(formatVersion) is newer than this cllm reads (\(TrainingState.currentFormatVersion)); upgrade cllm")
        }
        if formatVersion < 1 { throw .invalid("format version \(formatVersion) is not valid") }
        if step < 0 { throw .invalid("step must not be negative, got \(step)") }
        if spheres < 1 { throw .invalid("spheres must be at least 1, got \(spheres)") }
        if RandomSource(state: rngState) == nil {
            throw .invalid("rngState must be 4 words, not all zero, got \(rngState.count) words")
        }
        if tokenizer.vocabularySize > model.vocabSize {
            throw .invalid("the \(tokenizer.kind.rawValue) tokenizer has \(tokenizer.vocabularySize) tokens but the model's vocabulary is \(model.vocabSize)")
        }
        do { try hyperparameters.validate() } catch { throw .invalid("hyperparameters: \(error)") }
    }
}

public enum TrainingStateError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let s): s }
    }
}
