/// Everything that decides a training run's numbers besides the model shape and the data: saved in every
/// checkpoint so `--resume` continues the same run.
public struct Hyperparameters: Codable, Equatable, Sendable {
    /// Sequences per optimizer step (the global batch, split across spheres by the runtime).
    public var batchSize: Int = 12
    /// Optimizer steps of the whole run.
    public var steps: Int = 2000
    public var learningRate: Double = 1e-3
    public var minLearningRate: Double = 1e-4
    public var warmupSteps: Int = 100
    /// Step at which cosine decay reaches `minLearningRate`; nil means `steps`.
    public var decaySteps: Int? = nil
    public var weightDecay: Double = 0.1
    public var beta1: Double = 0.9
    public var beta2: Double = 0.99
    public var epsilon: Double = 1e-8
    /// Global gradient-norm clip; 0 disables clipping.
    public var gradientClip: Double = 1.0
    /// Seed of initialisation and of the data plan.
    public var seed: UInt64 = 1337

    public init() {}

    /// The learning rate of step `step` (0-based): linear warm-up, then cosine decay to the floor.
    /// Same formula as the PyTorch peer's `lr_at`, so the two runs are comparable step for step.
    public func learningRate(at step: Int) -> Double {
        let decay = decaySteps ?? steps
        if step < warmupSteps { return learningRate * Double(step + 1) / Double(warmupSteps + 1) }
        if step > decay { return minLearningRate }
        let ratio = Double(step - warmupSteps) / Double(max(1, decay - warmupSteps))
        return minLearningRate + 0.5 * (1 + _cos(Double.pi * ratio)) * (learningRate - minLearningRate)
    }

    /// Refuses settings that cannot train, naming the setting.
    public func validate() throws(HyperparameterError) {
        if batchSize <= 0 { throw .invalid("batch size must be positive, got \(batchSize)") }
        if steps <= 0 { throw .invalid("steps must be positive, got \(steps)") }
        if !(learningRate > 0) || !learningRate.isFinite { throw .invalid("learning rate must be positive, got \(learningRate)") }
        if !(minLearningRate >= 0) || minLearningRate > learningRate {
            throw .invalid("minimum learning rate must be between 0 and the learning rate, got \(minLearningRate)")
        }
        if warmupSteps < 0 { throw .invalid("warm-up steps must not be negative, got \(warmupSteps)") }
        if let d = decaySteps, d <= 0 { throw .invalid("decay steps must be positive, got \(d)") }
        if !(weightDecay >= 0) { throw .invalid("weight decay must not be negative, got \(weightDecay)") }
        if !(beta1 >= 0 && beta1 < 1) { throw .invalid("beta1 must be in [0, 1), got \(beta1)") }
        if !(beta2 >= 0 && beta2 < 1) { throw .invalid("beta2 must be in [0, 1), got \(beta2)") }
        if !(epsilon > 0) { throw .invalid("epsilon must be positive, got \(epsilon)") }
        if !(gradientClip >= 0) { throw .invalid("gradient clip must not be negative (0 disables it), got \(gradientClip)") }
    }
}

public enum HyperparameterError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let s): s }
    }
}
