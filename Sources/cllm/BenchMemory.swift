import ArgumentParser
import CLLMModel
import CLLMRuntime
import CLLMSimulation
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// `cllm bench memory`: the real runtime in the 157-versus-63 configurations, measured (VmRSS, VmHWM,
/// VmSize, jemalloc arenas) beside the memory model's prediction. Each configuration runs in a fresh child
/// process, since VmHWM is a per-process peak.
struct BenchMemory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Measure the runtime's memory in the 157-versus-63 layouts next to the memory model's prediction.")

    @Option(parsing: .unconditional, help: "Training steps each configuration runs before measuring.") var steps = 2
    @Option(help: "Write the table as JSON to this file too.") var json: String?
    @Flag(help: .hidden) var probe = false
    @Option(parsing: .unconditional, help: .hidden) var spheres = 2
    @Option(parsing: .unconditional, help: .hidden) var threads = 2
    @Option(parsing: .unconditional, help: .hidden) var stackSize = 1 << 20
    @Option(help: .hidden) var hierarchy: SphereHierarchy.Mode = .active
    @Option(help: .hidden) var allocator: RuntimeConfiguration.AllocatorMode = .arenas

    struct Measurement: Codable {
        var residentBytes: Int
        var peakResidentBytes: Int
        var virtualBytes: Int
        var threads: Int
        var arenaAllocatedBytes: Int
        var arenaResidentBytes: Int
        var deepestStackBytes: Int
    }

    /// The configurations compared (DESIGN.md's 157-versus-63 scenarios and their variants): 2 spheres, 63
    /// active and 157 full, each at 1 MiB and 8 MiB stacks with per-sphere arenas, then the original's own
    /// layout (8 MiB stacks, one shared heap).
    static let configurations: [(label: String, scenario: String)] = [
        ("2 spheres, 1 MiB stacks", "smoke-2"),
        ("2 spheres, 8 MiB stacks", "smoke-2-8mib"),
        ("63 active, 1 MiB stacks", "active-63"),
        ("63 active, 8 MiB stacks", "active-63-8mib"),
        ("157 full (63 working), 1 MiB stacks", "full-157-1mib"),
        ("157 full (63 working), 8 MiB stacks", "full-157-arenas"),
        ("157 full (63 working), 8 MiB stacks, shared heap", "full-157"),
    ]

    func validate() throws {
        // Zero steps is allowed: it measures a runtime that is built but has not trained.
        guard steps >= 0 else { throw CLIError("bench memory: --steps must not be negative, got \(steps)") }
    }

    func run() async throws {
        if probe { return try await runProbe() }
        try CLLM.checkCPU()
        let me = CommandLine.arguments[0]
        print("configuration                                   predicted RSS  measured HWM   err   predicted VmSize  measured VmSize   err  threads  arenas MiB  stack KiB")
        var rows: [[String: String]] = []
        for (label, name) in Self.configurations {
            let scenario = try Simulate.loadScenario(name)
            let predicted = MemoryModel(scenario: scenario).prediction
            let args = [
                "bench", "memory", "--probe", "--spheres", "\(scenario.spheres)", "--threads", "\(scenario.threads)",
                "--stack-size", "\(scenario.stackSize)", "--hierarchy", scenario.hierarchy.rawValue,
                "--allocator", scenario.allocator.rawValue, "--steps", "\(steps)",
            ]
            let output = try Self.runChild(me, args)
            guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                  let m = try? JSONDecoder().decode(Measurement.self, from: Data(line.utf8)) else {
                throw CLIError("the memory probe for \(label) printed no measurement:\n\(output)")
            }
            let rssErr = 100 * (Double(predicted.peakResidentBytes) - Double(m.peakResidentBytes)) / Double(m.peakResidentBytes)
            let vmErr = 100 * (Double(predicted.virtualBytes) - Double(m.virtualBytes)) / Double(m.virtualBytes)
            func mib(_ b: Int) -> String { fmt(Double(b) / 1_048_576, 1) + " MiB" }
            print("\(pad(label, 47)) \(pad(mib(predicted.peakResidentBytes), 14)) \(pad(mib(m.peakResidentBytes), 14)) \(pad(fmt(rssErr, 1) + "%", 6)) \(pad(mib(predicted.virtualBytes), 17)) \(pad(mib(m.virtualBytes), 16)) \(pad(fmt(vmErr, 1) + "%", 6)) \(pad(String(m.threads), 8)) \(pad(fmt(Double(m.arenaAllocatedBytes) / 1_048_576, 1), 11)) \(m.deepestStackBytes / 1024)")
            rows.append([
                "configuration": label, "scenario": name,
                "predictedPeakResidentBytes": "\(predicted.peakResidentBytes)", "measuredPeakResidentBytes": "\(m.peakResidentBytes)",
                "predictedVirtualBytes": "\(predicted.virtualBytes)", "measuredVirtualBytes": "\(m.virtualBytes)",
                "measuredResidentBytes": "\(m.residentBytes)", "threads": "\(m.threads)",
                "arenaAllocatedBytes": "\(m.arenaAllocatedBytes)", "deepestStackBytes": "\(m.deepestStackBytes)",
            ])
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(rows)
            guard let f = fopen(json, "w") else { throw CLIError("cannot write \(json): \(String(cString: strerror(errno)))") }
            defer { fclose(f) }
            _ = data.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        }
    }

    /// In the child: build the runtime at the reference model size, train `steps` steps on synthetic
    /// tokens as many as the scenario's corpus, and report the process's memory.
    func runProbe() async throws {
        let scenarioModel = Scenario.Model()
        let layout = ParameterLayout(scenarioModel.config)
        var c = RuntimeConfiguration()
        c.spheres = spheres; c.threads = threads; c.stackSize = stackSize; c.hierarchy = hierarchy; c.allocator = allocator
        let batch = MemoryModel.batch(spheres: spheres)
        let runtime = try SphereRuntime(configuration: c, layout: layout, batchSize: batch)
        var h = Hyperparameters()
        h.batchSize = batch
        var rng = RandomSource(seed: 1)
        let train = (0..<Scenario(name: "probe").corpusTokens).map { _ in Int32(rng.next() % UInt64(scenarioModel.vocabulary)) }
        let plan = BatchPlan(seed: 1, trainCount: train.count, contextLength: scenarioModel.context)
        await runtime.nodeZero.initialize(seed: 1)
        for s in 0..<steps { _ = await runtime.nodeZero.step(s, plan: plan, train: train, hyperparameters: h) }
        let status = runtime.status()
        let memory = ProcessMemory.current()
        let m = Measurement(
            residentBytes: memory.residentBytes, peakResidentBytes: memory.peakResidentBytes,
            virtualBytes: memory.virtualBytes, threads: memory.threads,
            arenaAllocatedBytes: status.reduce(0) { $0 + $1.arenaAllocated } + runtime.nodeZeroStatus().arenaAllocated,
            arenaResidentBytes: status.reduce(0) { $0 + $1.arenaResident } + runtime.nodeZeroStatus().arenaResident,
            deepestStackBytes: (status.map { $0.stackHighWater } + [runtime.nodeZeroStatus().stackHighWater]).max() ?? 0)
        runtime.shutdown()
        let data = try JSONEncoder().encode(m)
        print(String(decoding: data, as: UTF8.self))
    }

    /// Runs this executable with `args` and returns its standard output.
    static func runChild(_ path: String, _ args: [String]) throws -> String {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CLIError("cannot create a pipe: \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        var pid = pid_t()
        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(fds[1])
        guard rc == 0 else { close(fds[0]); throw CLIError("cannot run \(path): \(String(cString: strerror(rc)))") }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        close(fds[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return String(decoding: out, as: UTF8.self)
    }
}

extension RuntimeConfiguration.AllocatorMode: ExpressibleByArgument {}
