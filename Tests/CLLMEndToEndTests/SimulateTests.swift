import Foundation
import Testing

/// `cllm simulate` through the built binary: a scenario runs and passes; bad scenario files are refused
/// with one clear message each.
@Suite("End-to-end: simulate", .tags(.endToEnd), .timeLimit(.minutes(5)))
struct SimulateEndToEndTests {
    static let valid = """
        {"name": "tiny", "spheres": 3, "threads": 2, "batchSize": 6, "steps": 2, "seeds": 5,
         "model": {"layers": 1, "heads": 2, "width": 16, "context": 16, "vocabulary": 30}}
        """

    @Test("a scenario file runs every seed and reports the memory model")
    func runs() async throws {
        let ws = try Workspace()
        try ws.write("tiny.json", Self.valid)
        let r = try await ws.run(["simulate", ws.path("tiny.json")])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("5 run, 5 passed, 0 failed"))
        #expect(r.stdout.contains("replay of seed 1: same trace"))
        #expect(r.stdout.contains("predicted peak"))
        let one = try await ws.run(["simulate", ws.path("tiny.json"), "--seed", "3", "--json"])
        #expect(one.status == 0)
        #expect(one.stdout.contains("\"distinctTraces\" : 1"))
        #expect(one.stdout.contains("\"distinctTracesCapped\" : false"))
        #expect(one.stdout.contains("\"failedCount\" : 0"))
        #expect(one.stderr.isEmpty, "a short run prints no progress: \(one.stderr)")
    }

    struct BadScenario: Sendable, CustomTestStringConvertible {
        var text: String
        var phrase: String
        var testDescription: String { phrase }
    }

    static let bad: [BadScenario] = [
        BadScenario(text: "{\"name\": \"x\", \"spheres\": ", phrase: "is not valid JSON"),
        BadScenario(text: "[1, 2]", phrase: "the top level must be a JSON object"),
        BadScenario(text: "{\"name\": \"x\", \"spherez\": 3}", phrase: "unknown field 'spherez'"),
        BadScenario(text: "{\"name\": \"x\", \"faults\": {\"failureRat\": 0.1}}", phrase: "unknown field 'faults.failureRat'"),
        BadScenario(text: "{\"name\": \"x\", \"spheres\": 0}", phrase: "field 'spheres' must be at least 1, got 0"),
        BadScenario(text: "{\"name\": \"x\", \"stackSize\": 4096}", phrase: "field 'stackSize'"),
        BadScenario(text: "{\"name\": \"x\", \"spheres\": 4, \"batchSize\": 6}", phrase: "cannot be split evenly across 4 spheres"),
        BadScenario(text: "{\"name\": \"x\", \"spheres\": \"many\"}", phrase: "field 'spheres' has the wrong type"),
        BadScenario(text: "{\"spheres\": 2}", phrase: "field 'name' is required"),
        BadScenario(text: "{\"name\": \"x\", \"faults\": {\"failureRate\": 2}}", phrase: "must be between 0 and 1"),
        BadScenario(text: "{\"name\": \"x\", \"policy\": \"chaos\"}", phrase: "field 'policy' has an invalid value"),
        // Every step's reference weights are kept: a trillion steps cannot fit, and is refused before it starts.
        BadScenario(text: "{\"name\": \"x\", \"steps\": 1000000000000}", phrase: "use fewer steps or spheres"),
    ]

    @Test("a bad scenario file is refused with one clear message", arguments: bad)
    func badScenario(_ c: BadScenario) async throws {
        let ws = try Workspace()
        try ws.write("bad.json", c.text)
        let r = try await ws.run(["simulate", ws.path("bad.json")])
        expectRefusal(r, mentioning: [c.phrase])
    }

    @Test("a missing scenario is refused")
    func missing() async throws {
        let ws = try Workspace()
        let r = try await ws.run(["simulate", ws.path("nope.json")])
        expectRefusal(r, mentioning: ["scenario", "not found"])
    }

    @Test("bench memory measures 2, 63 and 157-full spheres at 1 and 8 MiB stacks: same RSS, 7 MiB of VmSize a thread")
    func benchMemoryLayouts() async throws {
        // The memory table: every layout at both stack sizes, on the same allocator (arenas). A bigger
        // stack is address space only: each runtime thread (Node Zero and one per sphere) maps 7 MiB more.
        let ws = try Workspace()
        _ = try await ws.succeed(["bench", "memory", "--steps", "0", "--json", ws.path("memory.json")])
        let rows = try #require(
            try JSONSerialization.jsonObject(with: Data(try ws.bytes("memory.json"))) as? [[String: String]])
        func row(_ label: String) throws -> (rss: Double, vm: Double) {
            let r = try #require(rows.first { $0["configuration"] == label }, "no row \(label) in \(rows)")
            let rss = try #require(Double(r["measuredPeakResidentBytes"] ?? "")), vm = try #require(Double(r["measuredVirtualBytes"] ?? ""))
            return (rss / 1_048_576, vm / 1_048_576)
        }
        // Runtime threads whose stacks VmSize is checked against; none for 2 spheres (see below).
        let layouts: [(String, runtimeThreads: Double?)] = [("2 spheres", nil), ("63 active", 64), ("157 full (63 working)", 64)]
        for (layout, runtimeThreads) in layouts {
            let small = try row("\(layout), 1 MiB stacks"), large = try row("\(layout), 8 MiB stacks")
            #expect(abs(large.rss - small.rss) < 0.05 * small.rss, "\(layout): peak RSS \(large.rss) against \(small.rss) MiB")
            // VmSize also moves between runs, by a jemalloc mapping step (up to 6 MiB) and by Swift's own pool
            // threads (8 MiB stacks, more of them under load): as large as the 21 MiB that 2 spheres' three
            // runtime threads add, small against the 448 MiB of 64.
            if let runtimeThreads {
                #expect(abs(large.vm - small.vm - 7 * runtimeThreads) < 24, "\(layout): VmSize \(large.vm) against \(small.vm) MiB")
            }
        }
    }

    @Test("the memory model predicts a real 16-sphere runtime's peak RSS and VmSize within 3%")
    func memoryModelMatchesTheRuntime() async throws {
        // The model's constants were fitted once; this catches them drifting as the code changes (they had
        // drifted to 6% before this test). The probe is the real runtime: 16 spheres on 16 threads, one arena
        // each, reference model, 2 sequences per sphere, one step.
        let ws = try Workspace()
        try ws.write("probe.json", """
            {"name": "probe-16", "spheres": 16, "threads": 16, "batchSize": 32, "steps": 1, "seeds": 1}
            """)
        let model = try await ws.succeed(["simulate", ws.path("probe.json"), "--json"])
        let prediction = try #require(
            try JSONSerialization.jsonObject(with: Data(model.stdout.utf8)) as? [String: Any])
        let probe = try await ws.succeed([
            "bench", "memory", "--probe", "--spheres", "16", "--threads", "16", "--stack-size", "1048576",
            "--hierarchy", "active", "--allocator", "arenas", "--steps", "1",
        ])
        let measured = try #require(
            try JSONSerialization.jsonObject(with: Data(probe.stdout.utf8)) as? [String: Any])
        for (predictedKey, measuredKey) in [("predictedPeakResidentBytes", "peakResidentBytes"), ("predictedVirtualBytes", "virtualBytes")] {
            let p = try #require(prediction[predictedKey] as? Int, "\(model.stdout)")
            let m = try #require(measured[measuredKey] as? Int, "\(probe.stdout)")
            let error = Double(p - m) / Double(m)
            #expect(abs(error) < 0.03, "\(predictedKey) \(p) against measured \(measuredKey) \(m): \(error * 100)%")
        }
    }
}
