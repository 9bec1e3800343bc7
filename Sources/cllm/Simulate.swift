import ArgumentParser
import CLLMModel
import CLLMRuntime
import CLLMSimulation
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a scenario's training steps under seeded schedules and check the merge, liveness and memory.",
        discussion: """
            The scenario is a JSON file, or the name of one in Simulations/ (smoke-2, active-63, full-157, \
            active-63-8mib, full-157-1mib, faults-12, levels-4-1885, pct-24). Every seed runs the real Node Zero, \
            spheres and merge on a seeded single-threaded scheduler and checks: merged gradient and weights after \
            each step bit-identical to a sequential reference; each step within a bound of scheduler jobs; no job \
            escaped to Swift's global executor; idle positions did nothing. A failing seed prints the command that \
            replays it. A run longer than 10 seconds prints its progress on stderr every 10 seconds.
            """)

    @Argument(help: "Scenario file or name.") var scenario: String
    @Option(parsing: .unconditional, help: "Seeds to run (default: the scenario's).") var seeds: Int?
    @Option(parsing: .unconditional, help: "Run only this seed.") var seed: UInt64?
    @Flag(help: "Draw spheres, threads, hierarchy, policy and faults from each seed.") var swarm = false
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "Also show the memory model of this scenario side by side.") var compare: String?

    func run() async throws {
        try CLLM.checkCPU()
        let base = try Simulate.loadScenario(scenario)
        if let s = seeds, s < 1 { throw CLIError("--seeds must be at least 1, got \(s)") }
        // A range, not an array: any number of seeds is a long run, never one huge allocation.
        let seedList: ClosedRange<UInt64> = seed.map { $0...$0 } ?? 1...UInt64(seeds ?? base.seeds)
        // One simulation is alive at a time (the replay check below builds its own after the seeds' one is
        // gone); swarm draws are at most `Swarm.maximumSpheres` spheres and `Swarm.maximumSteps` steps.
        var sized = base
        if swarm { sized.spheres = Swarm.maximumSpheres; sized.steps = Swarm.maximumSteps }
        let held = Simulation.heldBytes(scenario: sized)
        if let available = Preflight.availableMemory(), held > Double(available) {
            throw CLIError(
                "scenario \(base.name): the simulation would hold about \(Int(held / 1_048_576)) MiB (every step's reference gradient and weights for \(sized.steps) steps of a \(Simulation.simulatedParameters(base))-parameter model, and \(sized.spheres) spheres' buffers) but only \(available / 1_048_576) MiB is available: use fewer steps or spheres, or a smaller simulatedModel")
        }
        let clock = ContinuousClock()
        let start = clock.now
        // What a run keeps per seed is bounded, so that any number of seeds runs in constant memory: the
        // failures of the first `Simulate.keptFailures` failing seeds (every failure is counted), and trace
        // hashes until `Simulate.countedTraces` distinct ones (a further distinct one marks the count as capped,
        // and the report says "more than").
        var failures: [(UInt64, [String])] = []
        var failedCount = 0
        var jobs = 0, recoveries = 0, maxJobs = 0
        var hashes = Set<UInt64>()
        var tracesCapped = false
        var plain: Simulation? = swarm ? nil : Simulation(scenario: base)
        var nextReport = clock.now + Simulate.progressInterval
        for s in seedList {
            let scenarioForSeed = swarm ? Swarm.scenario(base: base, seed: s) : base
            if swarm { plain = Simulation(scenario: scenarioForSeed) }
            let r = plain!.run(seed: s)
            jobs += r.jobs
            recoveries += r.recoveries
            maxJobs = max(maxJobs, r.maxJobsPerStep)
            if hashes.count < Simulate.countedTraces {
                hashes.insert(r.traceHash)
            } else if !tracesCapped && !hashes.contains(r.traceHash) {
                tracesCapped = true
            }
            if !r.passed {
                failedCount += 1
                if failures.count < Simulate.keptFailures { failures.append((s, r.failures)) }
            }
            // A long run says how far it is on stderr (stdout keeps the report alone, for --json).
            if clock.now >= nextReport {
                let elapsed = (clock.now - start).seconds
                Simulate.progress("simulate \(base.name): \(s - seedList.lowerBound + 1) of \(seedList.count) seeds, \(failedCount) failed, \(fmt(elapsed, 0)) s")
                nextReport = clock.now + Simulate.progressInterval
            }
        }
        let traces = tracesCapped ? "more than \(hashes.count)" : "\(hashes.count)"
        let d = clock.now - start
        let seconds = d.seconds
        // Replay check: the first seed again must give the same trace, on new simulations.
        plain = nil
        let first = seedList.lowerBound
        let replayScenario = swarm ? Swarm.scenario(base: base, seed: first) : base
        let a = Simulation(scenario: replayScenario).run(seed: first)
        let b = Simulation(scenario: replayScenario).run(seed: first)
        let replays = a.traceHash == b.traceHash

        let model = MemoryModel(scenario: base)
        let other = try compare.map { MemoryModel(scenario: try Simulate.loadScenario($0)) }
        if json {
            struct Report: Encodable {
                var scenario: Scenario, seeds: Int, failedCount: Int, failed: [[String: String]], jobs: Int, seconds: Double
                var jobsPerSecond: Double, schedulerJobsPerSecond: Double, maxJobsPerStep: Int, recoveries: Int
                var distinctTraces: Int, distinctTracesCapped: Bool, replays: Bool
                var memory: [MemoryModel.Component], predictedPeakResidentBytes: Int, predictedVirtualBytes: Int
            }
            let report = Report(
                scenario: base, seeds: seedList.count, failedCount: failedCount,
                failed: failures.map { ["seed": "\($0.0)", "failures": $0.1.joined(separator: "; "), "replay": replayCommand($0.0)] },
                jobs: jobs, seconds: seconds, jobsPerSecond: Double(jobs) / seconds,
                schedulerJobsPerSecond: SimulationScheduler.measureThroughput(), maxJobsPerStep: maxJobs,
                recoveries: recoveries, distinctTraces: hashes.count,
                distinctTracesCapped: tracesCapped, replays: replays, memory: model.components,
                predictedPeakResidentBytes: model.prediction.peakResidentBytes, predictedVirtualBytes: model.prediction.virtualBytes)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("scenario \(base.name)\(swarm ? " (swarm)" : ""): \(base.description)")
            if swarm {
                // Spheres, threads, hierarchy, steps, scheduling and faults are each seed's own draw.
                print("layout: drawn per seed (1–\(Swarm.maximumSpheres) spheres, 1–\(Swarm.maximumSteps) steps), \(base.stackSize >> 10) KiB stacks, \(base.allocator.rawValue) allocator")
            } else {
                print("layout: \(base.spheres) spheres (\(base.hierarchy.rawValue) hierarchy), \(base.threads) threads, \(base.stackSize >> 10) KiB stacks, \(base.allocator.rawValue) allocator, \(base.steps) steps, \(base.policy.rawValue) scheduling")
            }
            print("seeds: \(seedList.count) run, \(seedList.count - failedCount) passed, \(failedCount) failed; \(traces) distinct traces; replay of seed \(first): \(replays ? "same trace" : "DIFFERENT TRACE")")
            print("scheduler alone: \(Int(SimulationScheduler.measureThroughput().rounded())) jobs/s (8 lanes × 5,000 hand-offs)")
            print("scheduler: \(jobs) jobs in \(fmt(seconds, 2)) s (\(Int((Double(jobs) / seconds).rounded())) jobs/s); longest step \(maxJobs) jobs (bound \(swarm ? "each seed's own, from its layout" : String(Simulation.jobBound(perStepOf: base)))); \(recoveries) sphere failures recovered")
            printMemory(model, other)
            for (s, f) in failures.prefix(5) {
                print("FAILED seed \(s): \(f.joined(separator: "; "))")
                print("  replay: \(replayCommand(s))")
            }
        }
        if failedCount > 0 || !replays {
            throw ExitCode(1)
        }
    }

    /// Failing seeds whose failures the report keeps (the text report prints the first five).
    static let keptFailures = 100
    /// Distinct trace hashes counted before the count stops growing (8 MiB or so of hashes); a run that meets
    /// one more reports the count as capped.
    static let countedTraces = 1 << 20
    /// How often a long run reports its progress.
    static let progressInterval = Duration.seconds(10)

    static func progress(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    func replayCommand(_ s: UInt64) -> String {
        "cllm simulate \(scenario) --seed \(s)\(swarm ? " --swarm" : "")"
    }

    func printMemory(_ m: MemoryModel, _ other: MemoryModel?) {
        func mib(_ b: Int) -> String { fmt(Double(b) / 1_048_576, 1) }
        print("memory model (reference model: \(m.scenario.model.layers) layers, width \(m.scenario.model.width), batch \(m.scenario.batchSize)), MiB:")
        var header = "  component                                            resident    virtual"
        if let o = other { header += "   | \(o.scenario.name): resident    virtual" }
        print(header)
        var names = m.components.map(\.name)
        for c in other?.components ?? [] where !names.contains(c.name) { names.append(c.name) }
        for name in names {
            let a = m.components.first { $0.name == name }
            var line = "  \(pad(name, 52)) \(pad(mib(a?.residentBytes ?? 0), 10)) \(pad(mib(a?.virtualBytes ?? 0), 10))"
            if let o = other {
                let b = o.components.first { $0.name == name }
                line += "   | \(pad("", o.scenario.name.count + 1)) \(pad(mib(b?.residentBytes ?? 0), 10)) \(mib(b?.virtualBytes ?? 0))"
            }
            print(line)
        }
        var total = "  \(pad("predicted peak", 52)) \(pad(mib(m.prediction.peakResidentBytes), 10)) \(pad(mib(m.prediction.virtualBytes), 10))"
        if let o = other {
            total += "   | \(pad("", o.scenario.name.count + 1)) \(pad(mib(o.prediction.peakResidentBytes), 10)) \(mib(o.prediction.virtualBytes))"
        }
        print(total)
    }

    /// A path to a scenario file, or a name looked up in Simulations/ (current directory, then beside the
    /// package the binary was built in).
    static func loadScenario(_ nameOrPath: String) throws -> Scenario {
        var candidates = [nameOrPath]
        if !nameOrPath.contains("/") {
            let file = nameOrPath.hasSuffix(".json") ? nameOrPath : nameOrPath + ".json"
            candidates.append("Simulations/" + file)
            if let exe = realpath(CommandLine.arguments[0], nil) {
                var dir = String(cString: exe)
                free(exe)
                for _ in 0..<4 {
                    if let i = dir.lastIndex(of: "/") { dir = String(dir[..<i]) }
                    candidates.append(dir + "/Simulations/" + file)
                }
            }
        }
        guard let path = candidates.first(where: { access($0, R_OK) == 0 && !isDirectory($0) }) else {
            throw CLIError("scenario \(nameOrPath) not found (looked for \(candidates.joined(separator: ", ")))")
        }
        do { return try Scenario.load(path: path) } catch { throw CLIError("\(error)") }
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
