import Foundation
import Testing

/// What a run remembers of its corpus: an absolute path (so eval and resume work from anywhere) and a
/// fingerprint (so resume refuses other text, whatever its name); and its metrics.jsonl belongs to it alone.
@Suite("End-to-end: data source and metrics", .tags(.endToEnd), .timeLimit(.minutes(5)))
struct DataSourceEndToEndTests {
    @Test("eval from another working directory finds the training corpus (recorded as an absolute path)")
    func evalFromAnotherDirectory() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train())
        let state = try #require(
            try JSONSerialization.jsonObject(with: Data(try ws.bytes(checkpointDirectory("out", step: 6) + "/state.json")))
                as? [String: Any])
        let source = try #require(state["dataSource"] as? String)
        #expect(source.hasPrefix("/") && source.hasSuffix("/corpus.txt"), "dataSource \(source)")

        try FileManager.default.createDirectory(atPath: ws.path("elsewhere"), withIntermediateDirectories: false)
        let r = try await ws.succeed(["eval", ws.path("out")], in: ws.path("elsewhere"))
        #expect(r.stdout.contains("validation loss"), "\(r)")
        #expect(r.stdout.contains("on \(source)"), "\(r)")
    }

    @Test("--resume from another working directory, without --data, continues bit-identically")
    func resumeFromAnotherDirectory() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train(out: "straight", ["--steps": "8"]))
        try await ws.succeed(TinyRun.train(out: "stopped", ["--steps": "8", "--stop-after": "4"]))
        try FileManager.default.createDirectory(atPath: ws.path("elsewhere"), withIntermediateDirectories: false)
        let resumed = try await ws.succeed(
            TinyRun.train(data: nil, out: ws.path("stopped"), ["--steps": "8"], extra: ["--resume"]), in: ws.path("elsewhere"))
        #expect(resumed.stdout.contains("at step 4"), "\(resumed)")
        for file in ["model.safetensors", "optimizer.safetensors"] {
            #expect(
                try ws.bytes(checkpointDirectory("straight", step: 8) + "/" + file)
                    == (try ws.bytes(checkpointDirectory("stopped", step: 8) + "/" + file)), "\(file) differs")
        }
        #expect(ws.list("elsewhere").isEmpty, "nothing may be written to the working directory: \(ws.list("elsewhere"))")
    }

    @Test("--resume on other text is refused and leaves the run untouched")
    func resumeOnOtherData() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        // Same characters, other text: the tokenizer alone would accept it.
        try ws.write("other.txt", String(Corpus.english.reversed()))
        try await ws.succeed(TinyRun.train(["--steps": "8", "--stop-after": "4"]))
        let metrics = try ws.bytes("out/metrics.jsonl")
        let checkpoint = try ws.bytes(checkpointDirectory("out", step: 4) + "/model.safetensors")
        let r = try await ws.run(TinyRun.train(data: "other.txt", ["--steps": "8"], extra: ["--resume"]))
        expectRefusal(r, mentioning: ["cannot resume on other.txt", "not the corpus this run was trained on", "corpus.txt"])
        #expect(ws.list("out/checkpoints") == ["step-00000004"])
        #expect(try ws.bytes("out/metrics.jsonl") == metrics)
        #expect(try ws.bytes(checkpointDirectory("out", step: 4) + "/model.safetensors") == checkpoint)
    }

    @Test("--resume on the same text under another name is accepted and stays bit-identical")
    func resumeOnRenamedCopy() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try ws.copy("corpus.txt", to: "copy.txt")
        try await ws.succeed(TinyRun.train(out: "straight", ["--steps": "8"]))
        try await ws.succeed(TinyRun.train(out: "stopped", ["--steps": "8", "--stop-after": "4"]))
        try await ws.succeed(TinyRun.train(data: "copy.txt", out: "stopped", ["--steps": "8"], extra: ["--resume"]))
        #expect(
            try ws.bytes(checkpointDirectory("straight", step: 8) + "/model.safetensors")
                == (try ws.bytes(checkpointDirectory("stopped", step: 8) + "/model.safetensors")))
    }

    @Test("a diverged run is refused cleanly without a checkpoint; a new run in its folder starts a fresh metrics.jsonl")
    func metricsAfterDivergedRun() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        let diverged = try await ws.run(TinyRun.train(["--lr": "1e30"]))
        expectRefusal(diverged, mentioning: ["training diverged at step", "lower the learning rate"])
        #expect(ws.list("out/checkpoints").isEmpty, "a diverged run must not checkpoint")

        try await ws.succeed(TinyRun.train())
        let steps = try jsonLines(try ws.text("out/metrics.jsonl"))
            .filter { $0["kind"] as? String == "step" }.compactMap { $0["step"] as? Int }
        #expect(steps == Array(1...6), "step lines in metrics.jsonl: \(steps)")
    }
}
