import Foundation
import Synchronization
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
                let saved = ws.list(out + "/checkpoints").filter { !$0.contains(".tmp-") }
                let resumed = saved.compactMap { Int($0.dropFirst("step-".count)) }.max() ?? 0
                // The first attempts die at a random moment of a random step still to run (a step's metrics
                // line, then up to 5 ms more: inside a later step or a checkpoint write); a fixed time
                // window let runs finish first on a fast or lightly loaded machine. Later attempts (rarely
                // needed) run to the end.
                var killWhen: (@Sendable () -> Bool)? = nil
                if attempts <= 3 && resumed < 28 {
                    let step = Int.random(in: (resumed + 1)...28, using: &rng)
                    let delay = Duration.microseconds(Int.random(in: 0...5_000, using: &rng))
                    let metrics = ws.path(out + "/metrics.jsonl")
                    let earlier = ((try? FileManager.default.attributesOfItem(atPath: metrics))?[.size] as? Int) ?? 0
                    killWhen = Self.killTrigger(metrics: metrics, after: earlier, step: step, delay: delay)
                }
                let r = try await ws.run(
                    TinyRun.train(out: out, Self.overrides, extra: ["--no-preflight"] + (saved.isEmpty ? [] : ["--resume"])),
                    killWhen: killWhen)
                if r.succeeded { break }
                if killWhen != nil && !r.exited { kills += 1; continue }
                Issue.record("trial \(trial): a run failed on its own\n\(r)")
                return
            }
            let dir = checkpointDirectory(out, step: 30)
            #expect(try ws.bytes(dir + "/model.safetensors") == referenceModel, "trial \(trial): model differs")
            #expect(try ws.bytes(dir + "/optimizer.safetensors") == referenceOptimizer, "trial \(trial): optimizer differs")
        }
        #expect(kills >= Self.trials, "only \(kills) runs were killed before finishing")
    }

    /// True once the run's metrics (past the `after` bytes earlier attempts wrote) record `step` or a later
    /// one, and `delay` more has passed.
    static func killTrigger(metrics path: String, after: Int, step: Int, delay: Duration) -> @Sendable () -> Bool {
        let reachedAt = Mutex<ContinuousClock.Instant?>(nil)
        return {
            let clock = ContinuousClock()
            if let t = reachedAt.withLock({ $0 }) { return clock.now >= t + delay }
            guard let data = FileManager.default.contents(atPath: path), data.count > after else { return false }
            let text = String(decoding: data.dropFirst(after), as: UTF8.self)
            let last = text.split(separator: "\n").last { $0.contains("\"kind\":\"step\"") }
            guard let last, let range = last.range(of: "\"step\":") else { return false }
            let digits = last[range.upperBound...].prefix { $0.isNumber }
            guard let seen = Int(digits), seen >= step else { return false }
            reachedAt.withLock { $0 = clock.now }
            return delay == .zero
        }
    }
}
