import Foundation
import Testing

/// A second `train` into a run folder that already holds a run is refused unless it says --resume, and the
/// refusal leaves the first run exactly as it was.
@Suite("End-to-end: run folder reuse", .tags(.endToEnd), .timeLimit(.minutes(5)))
struct SameOutputEndToEndTests {
    func snapshot(_ ws: Workspace) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = ["metrics.jsonl": try ws.bytes("out/metrics.jsonl")]
        for step in ws.list("out/checkpoints") {
            for file in ws.list("out/checkpoints/" + step) {
                files["\(step)/\(file)"] = try ws.bytes("out/checkpoints/\(step)/\(file)")
            }
        }
        return files
    }

    @Test("training twice into the same --out without --resume is refused and changes nothing", arguments: [
        [String: String](),  // the very same command
        ["--steps": "8", "--seed": "5"],  // a different run
    ])
    func secondRunRefused(_ overrides: [String: String]) async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train())
        let before = try snapshot(ws)
        #expect(before.count == 5, "\(before.keys.sorted())")
        let listing = ws.list("out")

        let r = try await ws.run(TinyRun.train(overrides))
        expectRefusal(r, mentioning: ["out already holds a training run", "--resume"])
        #expect(!r.stdout.contains("step 1"), "no training may start\n\(r)")
        #expect(try snapshot(ws) == before, "the existing run was modified")
        #expect(ws.list("out") == listing)
    }

    @Test("--out given with a trailing slash is the same run folder")
    func trailingSlash() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train())
        let before = try snapshot(ws)
        let r = try await ws.run(TinyRun.train(out: "out/"))
        expectRefusal(r, mentioning: ["already holds a training run"])
        #expect(try snapshot(ws) == before)
    }
}
