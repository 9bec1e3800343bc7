import Foundation
import Testing

/// train → inspect → eval → infer on a tiny model, checking what each command promises.
@Suite("End-to-end: happy path", .tags(.endToEnd), .timeLimit(.minutes(5)))
struct HappyPathEndToEndTests {
    /// GPT-2 parameter count with a tied head: wte + wpe + blocks + final LayerNorm.
    static func gpt2Parameters(vocab: Int, context: Int, layers: Int, width c: Int) -> Int {
        vocab * c + context * c + layers * (12 * c * c + 13 * c) + 2 * c
    }

    @Test("train writes a complete checkpoint and metrics; inspect, eval and infer read it")
    func trainInspectEvalInfer() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        let train = try await ws.succeed(TinyRun.train())
        #expect(train.stdout.contains("training steps 1…6"), "\(train)")
        #expect(train.stdout.contains("step 6: checkpoint out/checkpoints/step-00000006"), "\(train)")
        #expect(train.stdout.contains("done: step 6/6"), "\(train)")
        #expect(train.stdout.contains("sample:"), "\(train)")
        #expect(train.stderr.isEmpty, "a successful run should print nothing on stderr\n\(train)")

        // The run folder: exactly one checkpoint, with its four files, and metrics.jsonl.
        let checkpoint = checkpointDirectory("out", step: 6)
        #expect(ws.list("out/checkpoints") == ["step-00000006"])
        for file in ["model.safetensors", "config.json", "optimizer.safetensors", "state.json"] {
            let bytes = try ws.bytes("\(checkpoint)/\(file)")
            #expect(bytes.count > 8, "\(file) is empty or tiny")
        }
        #expect(!ws.list(checkpoint).contains(where: { $0.contains("tmp") }), "leftover temporary files: \(ws.list(checkpoint))")
        #expect(!ws.list("out").contains(".cllm-write-probe"))

        let metrics = try jsonLines(try ws.text("out/metrics.jsonl"))
        let steps = metrics.filter { $0["kind"] as? String == "step" }
        #expect(steps.count == 6, "metrics.jsonl: \(metrics)")
        #expect(steps.compactMap { $0["step"] as? Int } == Array(1...6))
        for s in steps {
            let loss = try #require(s["loss"] as? Double)
            #expect(loss.isFinite && loss > 0)
        }
        #expect(metrics.contains { $0["kind"] as? String == "eval" && $0["step"] as? Int == 6 })
        #expect(metrics.contains { $0["kind"] as? String == "checkpoint" && $0["step"] as? Int == 6 })

        // config.json is a Hugging Face GPT2Config describing the flags.
        let config = try #require(
            try JSONSerialization.jsonObject(with: Data(try ws.bytes("\(checkpoint)/config.json"))) as? [String: Any])
        #expect(config["model_type"] as? String == "gpt2")
        #expect(config["n_layer"] as? Int == 1)
        #expect(config["n_head"] as? Int == 2)
        #expect(config["n_embd"] as? Int == 16)
        #expect(config["n_positions"] as? Int == 16)
        let vocab = try #require(config["vocab_size"] as? Int)
        let distinct = Set(Corpus.english.unicodeScalars).count
        #expect(vocab == distinct, "char vocabulary should be the corpus's \(distinct) distinct characters")

        // inspect: parameter count (computed independently here) and verified checksums.
        let parameters = Self.gpt2Parameters(vocab: vocab, context: 16, layers: 1, width: 16)
        for target in ["out", checkpoint] {
            let inspect = try await ws.succeed(["inspect", target])
            #expect(inspect.stdout.contains("; \(parameters) parameters"), "expected \(parameters) parameters\n\(inspect)")
            #expect(inspect.stdout.contains("checkpoint out/checkpoints/step-00000006"), "\(inspect)")
            #expect(inspect.stdout.contains("step 6 of 6"), "\(inspect)")
            #expect(inspect.stdout.contains("tokenizer: char, \(vocab) characters"), "\(inspect)")
            #expect(inspect.stdout.contains("moments present"), "\(inspect)")
            #expect(inspect.stdout.contains("checksums verified: model.safetensors, optimizer.safetensors"), "\(inspect)")
            #expect(inspect.stdout.contains("transformer.wte.weight [\(vocab), 16]"), "\(inspect)")
        }

        // eval: the same validation loss train reported at its end, near ln(vocab) for an untrained model.
        let eval = try await ws.succeed(["eval", "out"])
        #expect(eval.stdout.contains("validation loss"), "\(eval)")
        let evalLoss = try #require(number(after: "validation loss", in: eval.stdout), "\(eval)")
        let trainLoss = try #require(number(after: "step 6: validation loss", in: train.stdout), "\(train)")
        #expect(abs(evalLoss - trainLoss) <= 1.5e-4, "eval \(evalLoss) vs train \(trainLoss)")
        #expect(evalLoss > 0 && evalLoss < 2 * log(Double(vocab)), "loss \(evalLoss)")
        #expect(eval.stdout.contains("(step 6)"), "\(eval)")

        // infer, greedy: deterministic, and the run folder resolves to its newest checkpoint.
        let greedy = ["--prompt", "The ", "--tokens", "20", "--temperature", "0"]
        let g1 = try await ws.succeed(["infer", "out"] + greedy)
        let g2 = try await ws.succeed(["infer", "out"] + greedy)
        let g3 = try await ws.succeed(["infer", checkpoint] + greedy)
        #expect(g1.stdout == g2.stdout, "greedy decoding differs between runs:\n\(g1)\n\(g2)")
        #expect(g1.stdout == g3.stdout, "run folder and checkpoint folder give different text")
        #expect(g1.stdout.hasPrefix("The "), "infer should echo the prompt\n\(g1)")
        // Char tokenizer: one token per character; prompt + 20 characters + final newline.
        #expect(g1.stdout.unicodeScalars.count == 4 + 20 + 1, "expected 20 generated characters\n\(g1)")

        // infer, sampled: the same seed gives the same text; another seed other text.
        let sampled = ["--prompt", "The ", "--tokens", "40", "--temperature", "1"]
        let s1 = try await ws.succeed(["infer", "out"] + sampled + ["--seed", "42"])
        let s2 = try await ws.succeed(["infer", "out"] + sampled + ["--seed", "42"])
        let s3 = try await ws.succeed(["infer", "out"] + sampled + ["--seed", "43"])
        #expect(s1.stdout == s2.stdout, "same seed, different text:\n\(s1)\n\(s2)")
        #expect(s1.stdout != s3.stdout, "seeds 42 and 43 gave the same 40 sampled characters")
        #expect(s1.stdout.unicodeScalars.count == 4 + 40 + 1, "\(s1)")
    }

    @Test("a directory corpus: text files joined, a binary file skipped and reported")
    func directoryCorpus() async throws {
        let ws = try Workspace()
        let half = Corpus.english.count / 2
        try ws.write("data/a.txt", String(Corpus.english.prefix(half)))
        try ws.write("data/sub/b.txt", String(Corpus.english.dropFirst(half)))
        try ws.write("data/image.bin", [0x89, 0x50, 0x4E, 0x47, 0x00, 0x00, 0x01, 0xFF])
        try ws.write("data/.hidden", [0x00, 0x01])
        let r = try await ws.succeed(TinyRun.train(data: "data"))
        #expect(r.stdout.contains("\(ws.path("data")): 2 files"), "\(r)")
        #expect(r.stdout.contains("note: skipped 1 file, e.g. data/image.bin"), "\(r)")
        #expect(ws.exists(checkpointDirectory("out", step: 6) + "/model.safetensors"))
    }

    @Test("--profile times the stages of the steps after the first 10, on every sphere, and logs them")
    func profile() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        let r = try await ws.succeed(TinyRun.train(["--steps": "14"], extra: ["--profile", "--spheres", "2"]))
        #expect(r.stdout.contains("stage profile: 8 passes (4 steps)"), "\(r)")
        #expect(r.stdout.contains("backward attention "), "\(r)")
        let metrics = try jsonLines(try ws.text("out/metrics.jsonl"))
        let profile = try #require(metrics.first { $0["kind"] as? String == "profile" }, "\(metrics)")
        #expect(profile["passes"] as? Int == 8)
        let stages = try #require(profile["stages"] as? [[String: Any]])
        #expect(stages.count == 20)
        #expect(stages.allSatisfy { ($0["millisecondsPerPass"] as? Double ?? -1) >= 0 })
        let plain = try await ws.succeed(TinyRun.train(out: "out2", ["--steps": "14"]))
        #expect(!plain.stdout.contains("stage profile"), "\(plain)")
    }

    @Test(
        "byte tokenizer on Tiny Shakespeare: any prompt encodes",
        .enabled(if: FileManager.default.fileExists(atPath: "/work/shared/data/tinyshakespeare.txt")))
    func byteTokenizerOnShakespeare() async throws {
        let ws = try Workspace()
        let all = try Data(contentsOf: URL(fileURLWithPath: "/work/shared/data/tinyshakespeare.txt"))
        try ws.write("shakespeare.txt", Array(all.prefix(6000)))
        try await ws.succeed(TinyRun.train(data: "shakespeare.txt", ["--steps": "3"], extra: ["--tokenizer", "byte"]))
        let inspect = try await ws.succeed(["inspect", "out"])
        #expect(inspect.stdout.contains("tokenizer: byte (256 values)"), "\(inspect)")
        #expect(inspect.stdout.contains("vocabulary 256"), "\(inspect)")
        // "日本" is not in the corpus, but every byte is in a byte vocabulary.
        let infer = try await ws.succeed(["infer", "out", "--prompt", "日本", "--tokens", "12", "--temperature", "0"])
        #expect(infer.stdout.hasPrefix("日本"), "\(infer)")
    }
}
