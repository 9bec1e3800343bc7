import Foundation
import Testing

/// Behaviour found wrong while writing these tests, pinned with `withKnownIssue`: each test states the
/// expected behaviour; while the bug is there it passes as a known issue, and once fixed Swift Testing
/// reports "known issue was not recorded", a cue to drop the `withKnownIssue` wrapper.
@Suite("End-to-end: known issues", .tags(.endToEnd), .timeLimit(.minutes(5)))
struct KnownIssueEndToEndTests {
    @Test("eval from another working directory finds the training corpus")
    func evalFromAnotherDirectory() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train())
        try FileManager.default.createDirectory(atPath: ws.path("elsewhere"), withIntermediateDirectories: false)
        let r = try await ws.run(["eval", ws.path("out")], in: ws.path("elsewhere"))
        withKnownIssue("state.json records --data as typed (relative), so eval resolves it against the current directory") {
            #expect(r.status == 0, "stderr: \(r.stderr)")
        }
    }

    @Test("a diverged run is refused cleanly; a new run in its folder starts a fresh metrics.jsonl")
    func metricsAfterDivergedRun() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        let diverged = try await ws.run(TinyRun.train(["--lr": "1e30"]))
        expectRefusal(diverged, mentioning: ["training diverged at step", "lower the learning rate"])
        #expect(ws.list("out/checkpoints").isEmpty, "a diverged run must not checkpoint")

        try await ws.succeed(TinyRun.train())
        let steps = try jsonLines(try ws.text("out/metrics.jsonl"))
            .filter { $0["kind"] as? String == "step" }.compactMap { $0["step"] as? Int }
        withKnownIssue("metrics.jsonl is opened for append, so the failed run's step lines stay in front of the new run's") {
            #expect(steps == Array(1...6), "step lines in metrics.jsonl: \(steps)")
        }
    }

    @Test("--resume with a different --data is refused")
    func resumeOnOtherData() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        // Same characters, other text: the tokenizer accepts it.
        try ws.write("other.txt", String(Corpus.english.reversed()))
        try await ws.succeed(TinyRun.train(["--steps": "8", "--stop-after": "4"]))
        let r = try await ws.run(TinyRun.train(data: "other.txt", ["--steps": "8"], extra: ["--resume"]))
        withKnownIssue("TrainingState.dataSource is documented as refusing to resume on other data, but the trainer uses --data silently") {
            #expect(r.status != 0, "resuming on other.txt was accepted")
        }
    }
}
