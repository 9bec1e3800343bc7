import ArgumentParser
import CLLMModel

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mean cross-entropy of a checkpoint over the validation split (last 10%) of a corpus.",
        discussion: "Windows are non-overlapping and as long as the model's context, as the PyTorch peer computes it.")

    @Argument(help: "Checkpoint folder or run folder.") var checkpoint: String
    @Option(help: "Corpus (default: the one the checkpoint was trained on).") var data: String?

    func run() throws {
        try CLLM.checkCPU()
        let (path, ckpt) = try CheckpointArgument.load(checkpoint)
        let source = data ?? ckpt.state.dataSource
        let ids: [Int32]
        let dataset: TokenDataset
        do {
            let corpus = try Corpus.load(path: source)
            ids = try ckpt.state.tokenizer.encode(corpus.text)
            dataset = try TokenDataset(ids: ids, contextLength: ckpt.config.contextLength)
        } catch {
            throw CLIError("\(source): \(error)")
        }
        let layout = ParameterLayout(ckpt.config)
        let params = FloatBuffer(count: layout.count)
        ckpt.parameters.withUnsafeBufferPointer { params.pointer.update(from: $0.baseAddress!, count: layout.count) }
        let loss = Evaluation.validationLoss(parameters: params.pointer, layout: layout, validation: dataset.validation)
        let windows = dataset.validationWindows(contextLength: ckpt.config.contextLength)
        print("checkpoint \(path) (step \(ckpt.state.step)) on \(source)")
        print("validation loss \(fmt(loss, 4)) over \(windows) windows of \(ckpt.config.contextLength) tokens")
    }
}
