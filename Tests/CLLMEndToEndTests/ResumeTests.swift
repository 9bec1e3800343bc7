import Foundation
import Testing

/// Determinism of training: a stopped and resumed run equals a straight one, byte for byte; the seed
/// decides everything.
@Suite("End-to-end: resume and seeds", .tags(.endToEnd), .timeLimit(.minutes(5)))
struct ResumeEndToEndTests {
    static let tensorFiles = ["model.safetensors", "optimizer.safetensors"]

    @Test("8 steps straight equal 4 steps, stop, --resume to 8: identical model and optimizer bytes")
    func resumeIsBitIdentical() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train(out: "straight", ["--steps": "8"]))

        let stopped = try await ws.succeed(TinyRun.train(out: "sameB", ["--steps": "8", "--stop-after": "4"]))
        #expect(stopped.stdout.contains("done: step 4/8"), "\(stopped)")
        #expect(ws.list("sameB/checkpoints") == ["step-00000004"])

        let resumed = try await ws.succeed(TinyRun.train(out: "sameB", ["--steps": "8"], extra: ["--resume"]))
        #expect(resumed.stdout.contains("resuming from sameB/checkpoints/step-00000004 at step 4"), "\(resumed)")
        #expect(resumed.stdout.contains("training steps 5…8"), "\(resumed)")
        #expect(resumed.stdout.contains("done: step 8/8"), "\(resumed)")
        #expect(ws.list("sameB/checkpoints") == ["step-00000004", "step-00000008"])

        for file in Self.tensorFiles {
            let a = try ws.bytes(checkpointDirectory("straight", step: 8) + "/" + file)
            let b = try ws.bytes(checkpointDirectory("sameB", step: 8) + "/" + file)
            #expect(a.count == b.count && a == b, "\(file) differs between the straight and the resumed run")
        }
        // The training state agrees too, apart from nothing: same step, rng state, checksums.
        let stateA = try ws.text(checkpointDirectory("straight", step: 8) + "/state.json")
        let stateB = try ws.text(checkpointDirectory("sameB", step: 8) + "/state.json")
        #expect(stateA == stateB)

        // metrics.jsonl of the resumed run holds each step once, in order.
        let steps = try jsonLines(try ws.text("sameB/metrics.jsonl"))
            .filter { $0["kind"] as? String == "step" }.compactMap { $0["step"] as? Int }
        #expect(steps == Array(1...8))
        // Losses logged after resuming equal the straight run's.
        let straight = try jsonLines(try ws.text("straight/metrics.jsonl")).filter { $0["kind"] as? String == "step" }
        let both = try jsonLines(try ws.text("sameB/metrics.jsonl")).filter { $0["kind"] as? String == "step" }
        #expect(straight.map { $0["loss"] as? Double } == both.map { $0["loss"] as? Double })
    }

    @Test("a 2-sphere run resumed without --spheres keeps 2 spheres: the straight run's bytes, not 1 sphere's")
    func resumeKeepsSphereCount() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train(out: "two", ["--steps": "6", "--spheres": "2"]))
        try await ws.succeed(TinyRun.train(out: "one", ["--steps": "6"]))
        try await ws.succeed(TinyRun.train(out: "stopped", ["--steps": "6", "--spheres": "2", "--stop-after": "3"]))
        let resumed = try await ws.succeed(TinyRun.train(out: "stopped", ["--steps": "6"], extra: ["--resume"]))
        #expect(resumed.stdout.contains("done: step 6/6"), "\(resumed)")
        let model = { (run: String) in try ws.bytes(checkpointDirectory(run, step: 6) + "/model.safetensors") }
        #expect(try model("stopped") == model("two"), "the resumed run did not keep its 2 spheres")
        // The check above can fail: one sphere sums the same batch in another order.
        #expect(try model("one") != model("two"), "1 and 2 spheres gave identical bytes")
    }

    @Test("the same seed twice gives identical bytes; another seed different ones")
    func seedDecidesEverything() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train(out: "first", ["--steps": "4", "--seed": "7"]))
        try await ws.succeed(TinyRun.train(out: "second", ["--steps": "4", "--seed": "7"]))
        try await ws.succeed(TinyRun.train(out: "other", ["--steps": "4", "--seed": "8"]))
        let dir = { (run: String) in checkpointDirectory(run, step: 4) }
        for file in Self.tensorFiles {
            let first = try ws.bytes(dir("first") + "/" + file)
            #expect(first == (try ws.bytes(dir("second") + "/" + file)), "\(file): same seed, different bytes")
            #expect(first != (try ws.bytes(dir("other") + "/" + file)), "\(file): seeds 7 and 8 gave identical bytes")
        }
    }

    @Test("a corrupt newest checkpoint: resume falls back to the previous one and rebuilds the same bytes")
    func resumeSkipsCorruptCheckpoint() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train(["--steps": "4", "--checkpoint-interval": "2"]))
        #expect(ws.list("out/checkpoints") == ["step-00000002", "step-00000004"])
        let newest = checkpointDirectory("out", step: 4) + "/model.safetensors"
        let original = try ws.bytes(newest)
        var damaged = original
        damaged[damaged.count - 10] ^= 0x40
        try ws.write(newest, damaged)

        // Readers fall back to the newest checkpoint that reads.
        let inspect = try await ws.succeed(["inspect", "out"])
        #expect(inspect.stdout.contains("checkpoint out/checkpoints/step-00000002"), "\(inspect)")

        let resumed = try await ws.succeed(TinyRun.train(["--steps": "4"], extra: ["--resume"]))
        #expect(resumed.stdout.contains("warning: skipping checkpoint out/checkpoints/step-00000004"), "\(resumed)")
        #expect(resumed.stdout.contains("corrupt"), "\(resumed)")
        #expect(resumed.stdout.contains("resuming from out/checkpoints/step-00000002 at step 2"), "\(resumed)")
        #expect(try ws.bytes(newest) == original, "re-training steps 3…4 should reproduce the lost checkpoint exactly")
        #expect(!ws.list("out/checkpoints").contains(where: { $0.contains("tmp") }), "\(ws.list("out/checkpoints"))")
    }
}
