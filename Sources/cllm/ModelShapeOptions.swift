import ArgumentParser

/// The model's shape and the global batch: the options `cllm train` and `cllm bench kernels` share, so both
/// describe a model the same way.
struct ModelShapeOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Transformer blocks.") var layers = 4
    @Option(parsing: .unconditional, help: "Attention heads; must divide --width.") var heads = 4
    @Option(parsing: .unconditional, help: "Embedding width.") var width = 128
    @Option(parsing: .unconditional, help: "Context length in tokens.") var context = 64
    @Option(parsing: .unconditional, help: "Sequences per optimizer step.") var batchSize = 12
}
