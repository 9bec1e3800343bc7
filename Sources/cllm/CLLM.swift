import ArgumentParser
import CLLMModel

/// `cllm`: train, run, evaluate and inspect small GPT-2 models on CPU.
@main
struct CLLM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cllm",
        abstract: "Crystalline Lattice Language Model: train and run small GPT-2 models on CPU.",
        discussion: """
            Checkpoints are safetensors files with Hugging Face GPT-2 tensor names and a config.json, so \
            transformers.GPT2LMHeadModel.from_pretrained(<checkpoint>) loads them.

            The matrix kernels run their AVX-512 build where the CPU has it, else their AVX2 build; both give \
            the same bits. CLLM_KERNELS=avx2 forces the AVX2 build.
            """,
        subcommands: [Train.self, Infer.self, Eval.self, Inspect.self, Simulate.self, Bench.self])

    /// Refuses to start on a CPU the kernels cannot run on, instead of dying with SIGILL.
    static func checkCPU() throws {
        if let missing = CPUFeatures.missingFeatures() { throw CLIError(missing) }
    }
}

/// One readable sentence for the user; ArgumentParser prints it as "Error: …" and exits with status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
