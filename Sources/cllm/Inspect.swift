import ArgumentParser
import CLLMModel

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint: model, tokenizer, training state, tensors (checksums are verified).")

    @Argument(help: "Checkpoint folder or run folder.") var checkpoint: String

    func run() throws {
        let (path, c) = try CheckpointArgument.load(checkpoint)
        let m = c.config, s = c.state, h = s.hyperparameters
        let layout = ParameterLayout(m)
        print("checkpoint \(path)")
        print("model: GPT-2, \(m.layers) layers, \(m.heads) heads, width \(m.width), context \(m.contextLength), vocabulary \(m.vocabSize); \(layout.count) parameters")
        switch s.tokenizer {
        case .byte: print("tokenizer: byte (256 values)")
        case .char(let v): print("tokenizer: char, \(v.count) characters")
        }
        print("step \(s.step) of \(h.steps); data \(s.dataSource); spheres \(s.spheres)")
        print("optimizer: AdamW lr \(h.learningRate) → \(h.minLearningRate) (warm-up \(h.warmupSteps)), betas \(h.beta1)/\(h.beta2), weight decay \(h.weightDecay), clip \(h.gradientClip), batch \(h.batchSize), seed \(h.seed); moments \(c.firstMoment == nil ? "absent (weights only)" : "present")")
        print("tensors:")
        for t in layout.tensors {
            var sum = 0.0, sq = 0.0
            for i in t.offset..<(t.offset + t.count) { let x = Double(c.parameters[i]); sum += x; sq += x * x }
            let mean = sum / Double(t.count)
            let std = max(0, sq / Double(t.count) - mean * mean).squareRoot()
            print("  \(t.name) \(t.shape)  mean \(fmt(mean, 5))  std \(fmt(std, 5))")
        }
        print("checksums verified: \(s.checksums.keys.sorted().joined(separator: ", "))")
    }
}
