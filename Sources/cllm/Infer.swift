import ArgumentParser
import CLLMModel
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a checkpoint.",
        discussion: "The checkpoint may be a checkpoint folder or a run folder (its newest checkpoint is used).")

    @Argument(help: "Checkpoint folder or run folder.") var checkpoint: String
    @Option(help: "Text to continue.") var prompt = "\n"
    @Option(parsing: .unconditional, help: "Tokens to generate.") var tokens = 200
    @Option(parsing: .unconditional, help: "Sampling temperature; 0 is greedy (argmax).") var temperature = 0.8
    @Option(parsing: .unconditional, help: "Sample among the k most likely tokens (0: all).") var topK = 40
    @Option(parsing: .unconditional, help: "Seed of the sampler.") var seed: UInt64 = 1
    @Option(help: "Also write the prompt's logits as JSON to this file (for comparing with other tools).")
    var dumpLogits: String?

    func run() throws {
        try CLLM.checkCPU()
        if tokens < 0 { throw CLIError("--tokens must not be negative, got \(tokens)") }
        if !(temperature >= 0) || !temperature.isFinite { throw CLIError("--temperature must be 0 or positive, got \(temperature)") }
        if topK < 0 { throw CLIError("--top-k must not be negative, got \(topK)") }
        let (_, ckpt) = try CheckpointArgument.load(checkpoint)
        let tokenizer = ckpt.state.tokenizer
        let ids: [Int32]
        do { ids = try tokenizer.encode(prompt) } catch { throw CLIError("prompt: \(error)") }
        let layout = ParameterLayout(ckpt.config)
        let params = FloatBuffer(count: layout.count)
        ckpt.parameters.withUnsafeBufferPointer { params.pointer.update(from: $0.baseAddress!, count: layout.count) }
        if let path = dumpLogits {
            try writeLogits(ids: ids, layout: layout, params: params, to: path)
        }
        print(prompt, terminator: "")
        let generation = Generation(temperature: temperature, topK: topK, seed: seed)
        var pending: [Int32] = []
        generation.generate(parameters: params.pointer, layout: layout, prompt: ids, count: tokens) { id in
            // Byte tokenizers may split a character across tokens: print only whole UTF-8 sequences.
            pending.append(id)
            let text = tokenizer.decode(pending)
            if !text.unicodeScalars.contains("\u{FFFD}") || pending.count > 4 {
                print(text, terminator: "")
                fflush(nil)
                pending.removeAll()
            }
        }
        if !pending.isEmpty { print(tokenizer.decode(pending), terminator: "") }
        print("")
    }

    func writeLogits(ids: [Int32], layout: ParameterLayout, params: FloatBuffer, to path: String) throws {
        let window = Array(ids.suffix(layout.config.contextLength))
        guard !window.isEmpty else { throw CLIError("--dump-logits needs a non-empty prompt") }
        let act = Activations(config: layout.config, batch: 1, time: window.count, forBackward: false)
        for (i, id) in window.enumerated() { act.inputs[i] = id }
        GPT.forward(parameters: params.pointer, layout: layout, activations: act, computeLoss: false)
        struct Dump: Encodable { let ids: [Int32]; let logits: [[Float]] }
        let dump = Dump(ids: window, logits: (0..<window.count).map { Array(act.logitsRow($0)) })
        let data = try JSONEncoder().encode(dump)
        guard let f = fopen(path, "w") else { throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(f) }
        _ = data.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    }
}
