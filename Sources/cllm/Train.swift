import ArgumentParser
import CLLMModel
import CLLMRuntime
#if canImport(Glibc)
import Glibc
#endif

struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a GPT-2 model on a text corpus.",
        discussion: """
            Without --data, trains on Debian's fortunes package (/usr/share/games/fortunes). The run folder \
            (--out) receives checkpoints/step-N/ (safetensors + config.json + optimizer state) and \
            metrics.jsonl. --resume continues the newest good checkpoint there, bit-identically.

            Runtime: Node Zero (a control thread that never computes a batch) drives --spheres data-parallel \
            workers on --threads OS threads. The global batch is split into equal micro-batches, one per \
            sphere; gradients merge with no lock, in a fixed order, so the weights are the same bits for \
            any --threads.
            """)

    @Option(help: "Corpus: a text file or a directory (read recursively; binary files are skipped).")
    var data: String?
    @Option(help: "Tokenizer: char (sorted distinct characters of the corpus) or byte (256 values).")
    var tokenizer: Tokenizer.Kind = .char
    @OptionGroup var shape: ModelShapeOptions
    // Numeric options take the next argument whatever it starts with (`parsing: .unconditional`), here and in
    // every command: `--lr -1` then reaches the setting's own check ("must be positive") instead of reading
    // as a flag and failing with "Missing value".
    @Option(parsing: .unconditional, help: "Optimizer steps.") var steps = 2000
    @Option(name: .customLong("lr"), parsing: .unconditional, help: "Peak learning rate.") var learningRate = 1e-3
    @Option(name: .customLong("min-lr"), parsing: .unconditional, help: "Learning rate at the end of the cosine decay.") var minLearningRate = 1e-4
    @Option(parsing: .unconditional, help: "Linear warm-up steps.") var warmup = 100
    @Option(parsing: .unconditional, help: "Step at which the cosine decay ends (default: --steps).") var decaySteps: Int?
    @Option(parsing: .unconditional, help: "AdamW weight decay (2-D tensors only).") var weightDecay = 0.1
    @Option(parsing: .unconditional, help: "AdamW beta1.") var beta1 = 0.9
    @Option(parsing: .unconditional, help: "AdamW beta2.") var beta2 = 0.99
    @Option(parsing: .unconditional, help: "Global gradient-norm clip (0 disables).") var clip = 1.0
    @Option(parsing: .unconditional, help: "Seed of initialisation and data order.") var seed: UInt64 = 1337
    @Option(help: "Run folder (default: runs/run-<date>-<time>).") var out: String?
    @Flag(help: "Continue the run in --out from its newest good checkpoint.") var resume = false
    @Option(parsing: .unconditional, help: "Full validation every N steps (0: only at the end).") var evalInterval = 500
    @Option(parsing: .unconditional, help: "Checkpoint every N steps (0: only at the end).") var checkpointInterval = 500
    @Option(parsing: .unconditional, help: "Print a progress line every N steps when output is not a terminal.") var logInterval = 100
    @Option(parsing: .unconditional, help: "Stop after N completed steps (checkpointed); the schedule still spans --steps.") var stopAfter: Int?
    @Option(parsing: .unconditional, help: "Characters of sample text printed at the end (0: none).") var sampleLength = 200
    @Option(parsing: .unconditional, help: "Data-parallel spheres; --batch-size must be a multiple (default 1, or the resumed run's).")
    var spheres: Int?
    @Option(parsing: .unconditional, help: "OS threads running the spheres (default: one per core, at most one per sphere).") var threads: Int?
    @Option(help: "Stack size of every runtime thread: bytes, or with K/M suffix (e.g. 1M, 512K).")
    var stackSize = "1M"
    @Option(help: "active: create only the active spheres; full: also allocate every idle position of the covering hierarchy levels (the original's 157-for-63 layout).")
    var hierarchy: SphereHierarchy.Mode = .active
    @Option(parsing: .unconditional, help: "Limit the kissing-sphere hierarchy to this many levels (1, 13, 157, 1885 … positions).") var levels: Int?
    @Option(parsing: .unconditional, help: "Record every sphere's status in metrics.jsonl every N steps (0: only at the end).") var statusInterval = 0
    @Flag(help: "Print the per-sphere status table at the end.") var sphereTable = false
    @Flag(help: "Time each stage of the spheres' forward and backward passes inside training (after the first 10 steps) and print the table at the end; also in metrics.jsonl.")
    var profile = false
    @Flag(help: "Skip the preflight simulation and memory prediction of this run's layout.") var noPreflight = false
    @Option(help: ArgumentHelp("Make sphere S fail its micro-batch of step T (0-based), as S@T; repeatable. For fault-recovery tests.", visibility: .hidden))
    var injectFailure: [String] = []

    func run() async throws {
        try CLLM.checkCPU()
        var h = Hyperparameters()
        h.batchSize = shape.batchSize; h.steps = steps; h.learningRate = learningRate; h.minLearningRate = minLearningRate
        h.warmupSteps = warmup; h.decaySteps = decaySteps; h.weightDecay = weightDecay; h.beta1 = beta1
        h.beta2 = beta2; h.gradientClip = clip; h.seed = seed
        if resume && out == nil { throw CLIError("--resume needs --out: the run folder to continue") }
        // The trainer reports every step (a terminal's progress line is live); this is the display's own.
        if logInterval < 1 { throw CLIError("--log-interval must be at least 1, got \(logInterval)") }
        var o = TrainingOptions(outputDirectory: out ?? Train.defaultRunFolder())
        o.dataPath = data; o.tokenizer = tokenizer; o.layers = shape.layers; o.heads = shape.heads; o.width = shape.width
        o.contextLength = shape.context; o.hyperparameters = h; o.evalInterval = evalInterval
        o.checkpointInterval = checkpointInterval; o.resume = resume; o.stopAfter = stopAfter
        o.sampleLength = sampleLength; o.logInterval = 1
        // A resumed run keeps its sphere count unless told otherwise (the micro-batches, and so the bits,
        // depend on it).
        var sphereCount = spheres ?? 1
        if resume, spheres == nil, let out, let latest = Checkpoint.latest(in: out),
           let state = try? Checkpoint.readState(from: latest.path) {
            sphereCount = state.spheres
        }
        var r = RuntimeConfiguration()
        r.spheres = sphereCount; r.threads = threads; r.hierarchy = hierarchy; r.levels = levels
        r.stackSize = try Train.parseSize(stackSize)
        o.runtime = r; o.statusInterval = statusInterval; o.profile = profile
        if !injectFailure.isEmpty {
            var points: [ScheduledFailures.SpherePoint] = []
            for spec in injectFailure {
                let parts = spec.split(separator: "@")
                guard parts.count == 2, let s = Int(parts[0]), let t = Int(parts[1]), s >= 0, t >= 0, s < sphereCount else {
                    throw CLIError("--inject-failure \(spec) is not SPHERE@STEP with 0 ≤ SPHERE < --spheres (\(sphereCount))")
                }
                points.append(ScheduledFailures.SpherePoint(sphere: s, step: t))
            }
            o.faults = ScheduledFailures(points)
        }
        let display = ProgressDisplay(logInterval: logInterval, sphereTable: sphereTable)
        do {
            try o.validate()
            if !noPreflight {
                try Preflight.check(options: o, tokenizer: tokenizer) { print($0) }
            }
            let trainer = try Trainer(options: o)
            let summary = try await trainer.run { display.handle($0) }
            display.finish(summary)
        } catch {
            display.clearLine()
            throw CLIError("\(error)")
        }
    }

    /// "1048576", "1024K", "1M" → bytes.
    static func parseSize(_ text: String) throws -> Int {
        let t = String(text.filter { $0 != " " })
        var digits = Substring(t), unit = 1
        if let last = t.last, "kKmMgG".contains(last) {
            digits = t.dropLast()
            unit = "kK".contains(last) ? 1 << 10 : "mM".contains(last) ? 1 << 20 : 1 << 30
        }
        guard let n = Int(digits), n > 0 else {
            throw CLIError("--stack-size \(text) is not a size: use bytes or a number with K, M or G (e.g. 1M)")
        }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: unit)
        if overflow { throw CLIError("--stack-size \(text) is too large") }
        return bytes
    }

    static func defaultRunFolder() -> String {
        var now = time(nil)
        var tm = tm()
        gmtime_r(&now, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "runs/run-\(tm.tm_year + 1900)\(two(tm.tm_mon + 1))\(two(tm.tm_mday))-\(two(tm.tm_hour))\(two(tm.tm_min))\(two(tm.tm_sec))"
    }
}

extension Tokenizer.Kind: ExpressibleByArgument {}
extension SphereHierarchy.Mode: ExpressibleByArgument {}
