import CLLMModel
import CLLMRuntime
import CLLMSimulation
#if canImport(Glibc)
import Glibc
#endif

/// Before a real run: a short simulation of the run's own layout (its spheres, threads, hierarchy, on a
/// small model) proves the merge exact under several schedules, and the memory model predicts the run's
/// peak. The run is refused if a check fails or the prediction exceeds the memory the machine has free.
enum Preflight {
    static func check(options o: TrainingOptions, tokenizer: Tokenizer.Kind, say: (String) -> Void) throws {
        var s = Scenario(name: "preflight")
        s.description = "the training run's own layout"
        s.spheres = o.runtime.spheres
        s.threads = o.runtime.workerThreads
        s.stackSize = o.runtime.stackSize
        s.hierarchy = o.runtime.hierarchy
        s.allocator = o.runtime.allocator == .arenas ? .arenas : .shared
        // The vocabulary is known only after the corpus is read: 256 bounds both tokenizers' usual sizes.
        s.model = Scenario.Model(layers: o.layers, heads: o.heads, width: o.width, context: o.contextLength, vocabulary: 256)
        s.batchSize = o.hyperparameters.batchSize
        s.corpusTokens = corpusBytes(o.dataPath ?? TrainingOptions.defaultCorpus) ?? s.corpusTokens
        s.steps = 2
        s.seeds = 8
        do { try s.validate() } catch { throw CLIError("preflight: \(error)") }
        let clock = ContinuousClock()
        let started = clock.now
        let simulation = Simulation(scenario: s)
        for seed in UInt64(1)...UInt64(s.seeds) {
            let r = simulation.run(seed: seed)
            if !r.passed {
                throw CLIError("preflight simulation failed for seed \(seed): \(r.failures.joined(separator: "; ")) (skip with --no-preflight at your own risk)")
            }
        }
        let elapsed = clock.now - started
        let seconds = elapsed.seconds
        let model = MemoryModel(scenario: s)
        let predicted = model.prediction
        let available = availableMemory()
        func mib(_ b: Int) -> String { "\(b / 1_048_576) MiB" }
        say("preflight: \(s.seeds) simulated schedules of \(s.spheres) sphere\(s.spheres == 1 ? "" : "s") on \(s.threads) thread\(s.threads == 1 ? "" : "s"): merge exact, steps live, no escapes (\(fmt(seconds, 2)) s); predicted peak RSS \(mib(predicted.peakResidentBytes)), VmSize \(mib(predicted.virtualBytes))\(available.map { " (\(mib($0)) available)" } ?? "")")
        if let available, predicted.peakResidentBytes > available {
            throw CLIError("the run is predicted to need \(mib(predicted.peakResidentBytes)) resident but only \(mib(available)) is available: use fewer spheres or a smaller batch or model (or --no-preflight)")
        }
    }

    /// Size of a corpus file (tokens are at most bytes); nil for directories and unreadable paths.
    static func corpusBytes(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(st.st_size)
    }

    /// MemAvailable from /proc/meminfo, in bytes.
    static func availableMemory() -> Int? {
        ProcFile.number(after: "MemAvailable:", in: "/proc/meminfo").map { $0 * 1024 }
    }
}
