import CLLMKernels
import CLLMModel
#if canImport(Glibc)
import Glibc
#endif

/// Wires one training run: data → model → steps → evaluations → checkpoints, with `metrics.jsonl` beside them.
///
/// Everything that can be wrong with the input (options, corpus, checkpoint, output folder) is found in
/// `init`, before any file is written, so a refused run leaves nothing behind.
public final class Trainer {
    public let options: TrainingOptions
    public let layout: ParameterLayout
    public let tokenizer: Tokenizer
    public let dataset: TokenDataset
    public let plan: BatchPlan
    public let hyperparameters: Hyperparameters
    public let dataSource: String
    /// Size and CRC-32C of the corpus text, checked on resume.
    public let dataFingerprint: String
    public private(set) var step: Int
    /// Node Zero, the spheres and their threads.
    public let runtime: SphereRuntime
    let corpusFiles: Int
    let skippedFiles: [String]
    let resumedFrom: String?
    let skippedCheckpoints: [(String, String)]

    public init(options: TrainingOptions) throws(RuntimeError) {
        try options.validate()
        self.options = options
        let out = options.outputDirectory

        // A checkpoint to continue from, newest good one first.
        var restored: Checkpoint? = nil
        var skipped: [(String, String)] = []
        if options.resume {
            let candidates = Checkpoint.candidates(in: out)
            if candidates.isEmpty {
                throw .checkpoint("nothing to resume: \(Checkpoint.checkpointsDirectory(in: out)) holds no checkpoint")
            }
            var firstError: String? = nil
            for c in candidates {
                do {
                    restored = try Checkpoint.read(from: c.path, requireOptimizer: true)
                    break
                } catch {
                    firstError = firstError ?? "\(error)"
                    skipped.append((c.path, "\(error)"))
                }
            }
            if restored == nil {
                throw .checkpoint("cannot resume: no readable checkpoint in \(Checkpoint.checkpointsDirectory(in: out)); newest: \(firstError ?? "unknown error")")
            }
        } else if !Checkpoint.candidates(in: out).isEmpty {
            throw .output("\(out) already holds a training run; pass --resume to continue it, or choose another --out")
        }
        skippedCheckpoints = skipped
        resumedFrom = restored.map { Checkpoint.directory(in: out, step: $0.state.step) }

        // Data: the corpus text and its full id array stay inside `loadData`, so they are freed (and purged
        // below) before the runtime allocates its buffers and never add to the run's peak RSS.
        let data = try Trainer.loadData(options: options, restored: restored)
        dataSource = data.source
        dataFingerprint = data.fingerprint
        corpusFiles = data.files
        skippedFiles = data.skipped
        tokenizer = data.tokenizer
        dataset = data.dataset
        let config = data.config
        layout = ParameterLayout(config)
        hyperparameters = restored?.state.hyperparameters ?? options.hyperparameters
        plan = BatchPlan(seed: hyperparameters.seed, trainCount: dataset.train.count, contextLength: config.contextLength)

        // The output folder must be writable before any work starts.
        try Trainer.prepareOutput(out)

        // The runtime: threads, arenas, spheres and their buffers.
        var runtimeConfig = options.runtime
        if restored != nil && options.runtime.spheres != 1 && hyperparameters.batchSize % options.runtime.spheres != 0 {
            throw .invalidOption("the resumed run's batch of \(hyperparameters.batchSize) cannot be split across \(options.runtime.spheres) spheres")
        }
        runtimeConfig.spheres = options.runtime.spheres
        Jemalloc.purgeAll()
        runtime = try SphereRuntime(
            configuration: runtimeConfig, layout: layout, batchSize: hyperparameters.batchSize, faults: options.faults)
        self.restored = restored
        step = restored?.state.step ?? 0
    }

    /// What a run takes from its corpus.
    struct LoadedData {
        var source: String, fingerprint: String, files: Int, skipped: [String]
        var tokenizer: Tokenizer, config: ModelConfig, dataset: TokenDataset
    }

    /// Reads and tokenizes the corpus (the checkpoint's, when resuming and no --data is given), checks it
    /// against a resumed run's fingerprint, and splits it.
    static func loadData(options: TrainingOptions, restored: Checkpoint?) throws(RuntimeError) -> LoadedData {
        let source = options.dataPath ?? restored?.state.dataSource ?? TrainingOptions.defaultCorpus
        let corpus: Corpus
        do {
            corpus = try Corpus.load(path: source)
        } catch {
            if options.dataPath == nil && source == TrainingOptions.defaultCorpus, case .notFound = error {
                throw .data("the default corpus \(source) is missing: install Debian's fortunes package (apt-get install fortunes) or pass --data FILE")
            }
            throw .data("\(error)")
        }
        var crc = CRC32C()
        corpus.text.utf8.withContiguousStorageIfAvailable { crc.update(UnsafeRawBufferPointer($0)) }
        let fingerprint = "\(corpus.byteCount):\(crc.hex)"
        if let recorded = restored?.state.dataFingerprint, recorded != fingerprint {
            throw .data("cannot resume on \(source): it is not the corpus this run was trained on (\(restored?.state.dataSource ?? "?"); fingerprint \(recorded), this corpus \(fingerprint))")
        }
        let tokenizer = restored?.state.tokenizer ?? Tokenizer(kind: options.tokenizer, corpus: corpus.text)
        let ids: [Int32]
        do {
            ids = try tokenizer.encode(corpus.text)
        } catch {
            throw .data("the corpus does not fit the checkpoint's tokenizer: \(error)")
        }
        let config = restored?.config ?? options.modelConfig(tokenizer.vocabularySize)
        do { try config.validate() } catch { throw .invalidOption("invalid model: \(error)") }
        let dataset: TokenDataset
        do {
            dataset = try TokenDataset(ids: ids, contextLength: config.contextLength)
        } catch {
            throw .data("\(source): \(error)")
        }
        // Recorded absolute, so eval and resume find it from any working directory.
        return LoadedData(
            source: Trainer.absolutePath(source), fingerprint: fingerprint, files: corpus.files.count,
            skipped: corpus.skipped.map { "\($0)" }, tokenizer: tokenizer, config: config, dataset: dataset)
    }

    /// The checkpoint to continue from, consumed by `prepare()`.
    private var restored: Checkpoint?

    /// Loads the starting weights into Node Zero: the checkpoint's, or a fresh initialisation.
    private func prepare() async {
        if let r = restored {
            await runtime.nodeZero.restore(
                parameters: r.parameters, firstMoment: r.firstMoment ?? [], secondMoment: r.secondMoment ?? [],
                step: r.state.step)
            restored = nil
        } else if step == 0 {
            await runtime.nodeZero.initialize(seed: hyperparameters.seed)
        }
        Jemalloc.purgeAll()
    }

    deinit { runtime.shutdown() }

    /// Creates the run folder (and parents) and proves it writable with a probe file.
    static func prepareOutput(_ dir: String) throws(RuntimeError) {
        var path = dir.hasPrefix("/") ? "/" : ""
        for part in dir.split(separator: "/") {
            path += (path.isEmpty || path == "/" ? "" : "/") + part
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw .output("cannot create output folder \(dir): \(path): \(String(cString: strerror(errno)))")
            }
        }
        var st = stat()
        guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw .output("output folder \(dir) is not a directory")
        }
        let probe = dir + "/.cllm-write-probe"
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 { throw .output("cannot write to output folder \(dir): \(String(cString: strerror(errno)))") }
        close(fd)
        unlink(probe)
    }

    /// Runs from the current step to the end (or to `stopAfter`), reporting to `observer`.
    public func run(observer: (TrainingEvent) -> Void = { _ in }) async throws(RuntimeError) -> TrainingSummary {
        // The loop runs on Node Zero's thread (it only awaits Node Zero, writes metrics and reports): each
        // step's call to Node Zero then needs no hop to another thread and back.
        // The sample is model compute, which Node Zero's thread never does: it runs after, where `run` was called.
        let summary = try await withTaskExecutorPreference(runtime.nodeZeroExecutor) { () async throws(RuntimeError) in
            try await loop(observer: observer)
        }
        if options.sampleLength > 0 {
            observer(.sample(await sample(length: options.sampleLength)))
        }
        return summary
    }

    private func loop(observer: (TrainingEvent) -> Void) async throws(RuntimeError) -> TrainingSummary {
        await prepare()
        let out = options.outputDirectory
        // A fresh run starts a fresh log; a resumed one appends to its own.
        let metrics = try MetricsLog(path: out + "/metrics.jsonl", append: resumedFrom != nil)
        let h = hyperparameters
        let cfg = layout.config
        for (path, reason) in skippedCheckpoints { observer(.skippedCheckpoint(path: path, reason: reason)) }
        observer(.started(TrainingPlan(
            model: cfg, parameterCount: layout.count, tokenizer: tokenizer.kind, dataSource: dataSource,
            corpusFiles: corpusFiles, skippedFiles: skippedFiles, trainTokens: dataset.train.count,
            validationTokens: dataset.validation.count, firstStep: step, steps: h.steps, batchSize: h.batchSize,
            outputDirectory: out, resumedFrom: resumedFrom, kernels: KernelBuild.current)))

        let last = min(h.steps, options.stopAfter ?? h.steps)
        let tokensPerStep = Double(h.batchSize * cfg.contextLength)
        var trainSeconds = 0.0, trainedSteps = 0
        // The peer leaves its first 10 steps out of its tokens/s (warm-up); so does `steadyTokensPerSecond`.
        var steadySeconds = 0.0, steadySteps = 0
        var phaseNanoseconds: (gradient: UInt64, merge: UInt64, optimizer: UInt64) = (0, 0, 0)
        var lastLoss = Double.nan
        var lastEval: Double? = nil
        let clock = ContinuousClock()
        // Profiling starts with the steady steps (after 10), or at once in a shorter run.
        var profiling = false
        var profiledGradientNanoseconds: UInt64 = 0
        // Steps run in runs (`NodeZero.steps`) that end where the loop has something to do besides metrics
        // (an evaluation, a checkpoint, a status record, the start of profiling) and last about a quarter of
        // a second, so a terminal's progress line stays live. How many steps a run holds never changes the bits.
        var stepsPerRun = 1
        while step < last {
            if options.profile && !profiling && (trainedSteps == 10 || (trainedSteps == 0 && last - step <= 10)) {
                await runtime.nodeZero.setProfiling(true)
                profiling = true
            }
            var end = min(last, step + stepsPerRun)
            for interval in [options.evalInterval, options.checkpointInterval, options.statusInterval] where interval > 0 {
                end = min(end, (step / interval + 1) * interval)
            }
            if options.profile && !profiling { end = min(end, step + 10 - trainedSteps) }
            let started = clock.now
            let outcomes = await runtime.nodeZero.steps(step..<end, plan: plan, train: dataset.train, hyperparameters: h)
            var runSeconds = 0.0
            for outcome in outcomes {
                let lr = h.learningRate(at: step)
                let norm = outcome.gradientNorm
                phaseNanoseconds.gradient += outcome.gradientNanoseconds
                if profiling { profiledGradientNanoseconds += outcome.gradientNanoseconds }
                phaseNanoseconds.merge += outcome.mergeNanoseconds
                phaseNanoseconds.optimizer += outcome.optimizerNanoseconds
                for r in outcome.recoveries {
                    metrics.write("recovery", r)
                    observer(.recovered(r))
                }
                step += 1
                let seconds = Double(outcome.nanoseconds) * 1e-9
                runSeconds += seconds
                trainSeconds += seconds
                trainedSteps += 1
                if trainedSteps > 10 { steadySeconds += seconds; steadySteps += 1 }
                lastLoss = outcome.loss
                if !lastLoss.isFinite {
                    throw .data("training diverged at step \(step): loss is \(lastLoss); lower the learning rate")
                }
                let average = Double(trainedSteps) * tokensPerStep / trainSeconds
                let m = StepMetrics(
                    step: step, steps: h.steps, loss: lastLoss, learningRate: lr, gradientNorm: norm, seconds: seconds,
                    tokensPerSecond: tokensPerStep / seconds, averageTokensPerSecond: average,
                    etaSeconds: Double(last - step) * tokensPerStep / average)
                metrics.write("step", m)
                if step % options.logInterval == 0 || step == last { observer(.step(m)) }
            }
            // The next run's length from this one's pace (the clock around the call, hand-offs included).
            let perStep = max(runSeconds, Trainer.seconds(clock.now - started), 1e-9) / Double(outcomes.count)
            stepsPerRun = max(1, Int(min(Double(Trainer.maximumStepsPerRun), Trainer.secondsPerRun / perStep)))

            if options.statusInterval > 0 && step % options.statusInterval == 0 {
                metrics.write("spheres", SpheresRecord(step: step, spheres: runtime.status(), nodeZero: runtime.nodeZeroStatus()))
            }
            if options.evalInterval > 0 && step % options.evalInterval == 0 && step < h.steps {
                let v = await validationLoss()
                lastEval = v
                metrics.write("eval", EvalRecord(step: step, validationLoss: v))
                observer(.evaluated(step: step, validationLoss: v))
            }
            if options.checkpointInterval > 0 && step % options.checkpointInterval == 0 && step < last {
                let path = try await saveCheckpoint()
                metrics.write("checkpoint", CheckpointRecord(step: step, path: path))
                observer(.checkpointed(step: step, path: path))
            }
        }
        if step == h.steps || lastEval == nil {
            let v = await validationLoss()
            lastEval = v
            metrics.write("eval", EvalRecord(step: step, validationLoss: v))
            observer(.evaluated(step: step, validationLoss: v))
        }
        let path = try await saveCheckpoint()
        metrics.write("checkpoint", CheckpointRecord(step: step, path: path))
        observer(.checkpointed(step: step, path: path))
        var profile: StageProfileReport? = nil
        if let times = await runtime.nodeZero.stageTimes(), times.passes > 0 {
            let report = StageProfileReport(
                times: times, spheres: options.runtime.spheres, gradientPhaseNanoseconds: profiledGradientNanoseconds)
            metrics.write("profile", report)
            profile = report
        }
        let spheres = runtime.status()
        metrics.write("spheres", SpheresRecord(step: step, spheres: spheres, nodeZero: runtime.nodeZeroStatus()))
        observer(.spheres(spheres, nodeZero: runtime.nodeZeroStatus()))
        return TrainingSummary(
            finalStep: step, steps: h.steps, lastLoss: lastLoss, validationLoss: lastEval,
            tokensPerSecond: trainSeconds > 0 ? Double(trainedSteps) * tokensPerStep / trainSeconds : 0,
            steadyTokensPerSecond: steadySteps > 0 ? Double(steadySteps) * tokensPerStep / steadySeconds : nil,
            trainingSeconds: trainSeconds, checkpoint: path, memory: ProcessMemory.current(),
            gradientSeconds: Double(phaseNanoseconds.gradient) * 1e-9, mergeSeconds: Double(phaseNanoseconds.merge) * 1e-9,
            optimizerSeconds: Double(phaseNanoseconds.optimizer) * 1e-9, profile: profile)
    }

    /// Mean cross-entropy over the whole validation split (windows shared among the spheres).
    public func validationLoss() async -> Double {
        await runtime.nodeZero.validationLoss(validation: dataset.validation)
    }

    /// Writes the current state as `checkpoints/step-N` atomically and returns its path.
    @discardableResult
    public func saveCheckpoint() async throws(RuntimeError) -> String {
        let dir = Checkpoint.directory(in: options.outputDirectory, step: step)
        var rng = RandomSource(seed: RandomSource.mix(hyperparameters.seed, UInt64(step)))
        _ = rng.next()
        var state = TrainingState(
            step: step, hyperparameters: hyperparameters, tokenizer: tokenizer, model: layout.config,
            rngState: rng.state, dataSource: dataSource, spheres: options.runtime.spheres)
        state.dataFingerprint = dataFingerprint
        do {
            try await runtime.nodeZero.writeCheckpoint(to: dir, state: state)
        } catch {
            throw .checkpoint("\(error)")
        }
        Jemalloc.purgeAll()
        return dir
    }

    /// Sample text from the model as it stands.
    public func sample(length: Int, temperature: Double = 0.8, seed: UInt64 = 1) async -> String {
        let prompt: [Int32] = (try? tokenizer.encode("\n")) ?? [0]
        let weights = await runtime.nodeZero.weights()
        let ids = weights.withUnsafeBufferPointer {
            Generation(temperature: temperature, topK: 40, seed: seed).generate(
                parameters: $0.baseAddress!, layout: layout, prompt: prompt, count: length)
        }
        return tokenizer.decode(ids)
    }

    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// About how long one call to `NodeZero.steps` runs, and the most steps it takes.
    static let secondsPerRun = 0.25
    static let maximumStepsPerRun = 256

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}

/// The outcome of `Trainer.run`.
public struct TrainingSummary: Sendable {
    public var finalStep: Int
    public var steps: Int
    public var lastLoss: Double
    public var validationLoss: Double?
    public var tokensPerSecond: Double
    /// Tokens per second after the first 10 steps of this invocation (the PyTorch peer's definition).
    public var steadyTokensPerSecond: Double?
    public var trainingSeconds: Double
    public var checkpoint: String
    public var memory: ProcessMemory
    /// Time in each phase of the steps: forward/backward, lock-free merge (sum and norm), AdamW.
    public var gradientSeconds: Double
    public var mergeSeconds: Double
    public var optimizerSeconds: Double
    /// Time per stage of the spheres' passes, with `TrainingOptions.profile`.
    public var profile: StageProfileReport?
}

struct EvalRecord: Encodable {
    let step: Int
    let validationLoss: Double
}

struct SpheresRecord: Encodable {
    let step: Int
    let spheres: [SphereStatus]
    let nodeZero: SphereStatus
}

struct CheckpointRecord: Encodable {
    let step: Int
    let path: String
}
