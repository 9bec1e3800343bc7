import CLLMModel

/// What `cllm train --profile` reports: each stage's mean time per forward/backward pass of one sphere,
/// measured inside training, against the wall time of the gradient phase of the same steps.
public struct StageProfileReport: Sendable, Encodable {
    public struct Row: Sendable, Encodable {
        public var stage: String
        public var millisecondsPerPass: Double
    }

    /// Forward/backward passes measured (steps × spheres).
    public var passes: Int
    /// Steps measured.
    public var steps: Int
    /// Stages in pass order, each averaged over the passes.
    public var stages: [Row]
    /// Sum of the stages, per pass.
    public var measuredMillisecondsPerPass: Double
    /// Wall time of the gradient phase per step (all spheres in parallel, plus the hand-offs).
    public var gradientPhaseMillisecondsPerStep: Double

    public init(times: StageTimes, spheres: Int, gradientPhaseNanoseconds: UInt64) {
        let passes = max(times.passes, 1)
        self.passes = times.passes
        steps = times.passes / max(spheres, 1)
        stages = Stage.allCases.map {
            Row(stage: $0.label, millisecondsPerPass: Double(times[$0]) / Double(passes) * 1e-6)
        }
        measuredMillisecondsPerPass = Double(times.total) / Double(passes) * 1e-6
        gradientPhaseMillisecondsPerStep = steps > 0 ? Double(gradientPhaseNanoseconds) / Double(steps) * 1e-6 : 0
    }
}
