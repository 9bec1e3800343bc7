import CLLMModel

/// What the trainer tells its observer (the CLI's progress display, a test) as a run proceeds.
public enum TrainingEvent: Sendable {
    case started(TrainingPlan)
    case step(StepMetrics)
    case evaluated(step: Int, validationLoss: Double)
    case checkpointed(step: Int, path: String)
    case skippedCheckpoint(path: String, reason: String)
    case sample(String)
    /// Node Zero replaced a failed sphere and recomputed its micro-batch.
    case recovered(RecoveryRecord)
    /// Per-sphere status at the end of the run (Node Zero separately).
    case spheres([SphereStatus], nodeZero: SphereStatus)
}

/// The run as it was set up: shown once at the start.
public struct TrainingPlan: Sendable {
    public var model: ModelConfig
    public var parameterCount: Int
    public var tokenizer: Tokenizer.Kind
    public var dataSource: String
    public var corpusFiles: Int
    public var skippedFiles: [String]
    public var trainTokens: Int
    public var validationTokens: Int
    public var firstStep: Int
    public var steps: Int
    public var batchSize: Int
    public var outputDirectory: String
    public var resumedFrom: String?
    /// The build of the matrix kernels this process runs (`KernelBuild`): same bits, different speed.
    public var kernels: KernelBuild
}

/// One optimizer step's figures.
public struct StepMetrics: Sendable, Codable {
    public var step: Int
    public var steps: Int
    public var loss: Double
    public var learningRate: Double
    public var gradientNorm: Double
    /// Seconds this step took.
    public var seconds: Double
    /// Tokens per second of this step.
    public var tokensPerSecond: Double
    /// Tokens per second over the run so far (training time only).
    public var averageTokensPerSecond: Double
    /// Seconds of training left at the average rate.
    public var etaSeconds: Double
}
