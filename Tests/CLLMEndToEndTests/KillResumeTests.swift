import Foundation
import Testing

/// `kill -9` at random moments of `cllm train`, then `--resume` until the run completes: the final
/// checkpoint must be byte-identical to an uninterrupted run's. 4 trials by default, 20 with CLLM_STRESS=1.
@Suite("End-to-end: kill and resume", .tags(.endToEnd), .timeLimit(.minutes(10)))
struct KillResumeTests {
    static var trials: Int { ProcessInfo.processInfo.environment["CLLM_STRESS"] == "1" ? 20 : 4 }
    static let overrides: [String: String?] = [
        "--steps": "30", "--checkpoint-interval": "2", "--sample-length": "0", "--spheres": "2", "--threads": "2",
    ]

    @Test("killed at random moments and resumed, runs end with the uninterrupted run's bytes")
    func killAndResume() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train(out: "reference", Self.overrides, extra: ["--no-preflight"]))
        let final = checkpointDirectory("reference", step: 30)
        let referenceModel = try ws.bytes(final + "/model.safetensors")
        let referenceOptimizer = try ws.bytes(final + "/optimizer.safetensors")
        var rng = SystemRandomNumberGenerator()
        var kills = 0
        for trial in 0..<Self.trials {
            let out = "trial-\(trial)"
            var attempts = 0
            while true {
                attempts += 1
                try #require(attempts < 40, "trial \(trial) never completed")
                let resume = !ws.list(out + "/checkpoints").filter { !$0.contains(".tmp-") }.isEmpty
                // The first attempts die at a random moment; later ones (rarely needed) run to the end.
                let killAfter: Double? = attempts <= 3 ? Double.random(in: 0.05...0.6, using: &rng) : nil
                let r = try await ws.run(
                    TinyRun.train(out: out, Self.overrides, extra: ["--no-preflight"] + (resume ? ["--resume"] : [])),
                    killAfter: killAfter)
                if r.succeeded { break }
                if killAfter != nil && !r.exited { kills += 1; continue }
                Issue.record("trial \(trial): a run failed on its own\n\(r)")
                return
            }
            let dir = checkpointDirectory(out, step: 30)
            #expect(try ws.bytes(dir + "/model.safetensors") == referenceModel, "trial \(trial): model differs")
            #expect(try ws.bytes(dir + "/optimizer.safetensors") == referenceOptimizer, "trial \(trial): optimizer differs")
        }
        #expect(kills >= Self.trials, "only \(kills) runs were killed before finishing")
    }
}
