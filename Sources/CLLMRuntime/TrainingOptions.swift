import CLLMModel

/// What a user asks of one `cllm train` invocation. The CLI fills it from flags; tests fill it directly.
public struct TrainingOptions: Sendable {
    /// Corpus file or directory; nil means the default corpus.
    public var dataPath: String?
    public var tokenizer: Tokenizer.Kind = .char
    public var layers = 4
    public var heads = 4
    public var width = 128
    public var contextLength = 64
    public var hyperparameters = Hyperparameters()
    /// Run folder: checkpoints, metrics.jsonl.
    public var outputDirectory: String
    /// Full validation every N steps (0: only at the end).
    public var evalInterval = 500
    /// Checkpoint every N steps (0: only at the end).
    public var checkpointInterval = 500
    /// Progress events every N steps.
    public var logInterval = 1
    /// Continue from the newest good checkpoint in `outputDirectory`.
    public var resume = false
    /// Stop (with a checkpoint) after this many completed steps, though the schedule runs to `steps`.
    public var stopAfter: Int? = nil
    /// Characters of sample text generated at the end (0: none).
    public var sampleLength = 200
    /// Spheres, threads, stacks and hierarchy of the data-parallel runtime.
    public var runtime = RuntimeConfiguration()
    /// Write each sphere's status (state, work done, arena bytes, stack high-water) to metrics.jsonl
    /// every this many steps (0: only at the end).
    public var statusInterval = 0
    /// Time each stage of every sphere's forward and backward passes (after the first 10 steps, like the
    /// steady tokens/s) and report it at the end and in metrics.jsonl.
    public var profile = false
    /// Faults to inject into the spheres (fault-recovery tests and demonstrations).
    public var faults: (any FaultInjector)? = nil

    /// Debian's `fortunes` package: real English text any Debian machine can install.
    public static let defaultCorpus = "/usr/share/games/fortunes"

    public init(outputDirectory: String) {
        self.outputDirectory = outputDirectory
    }

    var modelConfig: (Int) -> ModelConfig {
        { vocab in ModelConfig(vocabSize: vocab, contextLength: contextLength, layers: layers, heads: heads, width: width) }
    }

    /// Checks every setting that can be checked before reading data, naming the first bad one.
    public func validate() throws(RuntimeError) {
        do {
            // Vocabulary is not known yet; 1 stands in for it.
            try modelConfig(1).validate()
            try hyperparameters.validate()
        } catch let e as ModelConfigError {
            throw .invalidOption("invalid model: \(e)")
        } catch let e as HyperparameterError {
            throw .invalidOption("invalid training setting: \(e)")
        } catch {
            throw .invalidOption("\(error)")
        }
        if evalInterval < 0 { throw .invalidOption("eval interval must not be negative, got \(evalInterval)") }
        if checkpointInterval < 0 { throw .invalidOption("checkpoint interval must not be negative, got \(checkpointInterval)") }
        if logInterval <= 0 { throw .invalidOption("log interval must be positive, got \(logInterval)") }
        if let s = stopAfter, s <= 0 { throw .invalidOption("stop-after must be positive, got \(s)") }
        if sampleLength < 0 { throw .invalidOption("sample length must not be negative, got \(sampleLength)") }
        if outputDirectory.isEmpty { throw .invalidOption("output folder must not be empty") }
        if statusInterval < 0 { throw .invalidOption("status interval must not be negative, got \(statusInterval)") }
        try runtime.validate(batchSize: hyperparameters.batchSize)
    }
}
