import CLLMModel
import CLLMRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Renders training events: a live, rewritten status line on a terminal; plain lines every N steps otherwise
/// (logs, CI). Machine-readable metrics go to the run folder's metrics.jsonl, not here.
final class ProgressDisplay {
    let isTerminal = isatty(STDOUT_FILENO) != 0
    let logInterval: Int
    private var lineOpen = false

    let sphereTable: Bool

    init(logInterval: Int, sphereTable: Bool = false) {
        self.logInterval = logInterval
        self.sphereTable = sphereTable
    }

    func handle(_ event: TrainingEvent) {
        switch event {
        case .started(let p):
            let m = p.model
            say("model: \(m.layers) layers, \(m.heads) heads, width \(m.width), context \(m.contextLength), vocabulary \(m.vocabSize) (\(p.tokenizer.rawValue)); \(p.parameterCount) parameters")
            say("data: \(p.dataSource): \(p.corpusFiles) file\(p.corpusFiles == 1 ? "" : "s"), \(p.trainTokens) training and \(p.validationTokens) validation tokens")
            if !p.skippedFiles.isEmpty {
                say("note: skipped \(p.skippedFiles.count) file\(p.skippedFiles.count == 1 ? "" : "s"), e.g. \(p.skippedFiles[0])")
            }
            if let r = p.resumedFrom { say("resuming from \(r) at step \(p.firstStep)") }
            say("training steps \(p.firstStep + 1)…\(p.steps), batch \(p.batchSize) × \(m.contextLength) tokens; run folder \(p.outputDirectory)")
            say("kernels: \(p.kernels.rawValue) (\(p.kernels.tile) register tile)")
        case .step(let s):
            let line = "step \(s.step)/\(s.steps)  loss \(fmt(s.loss, 4))  lr \(sci(s.learningRate))  \(Int(s.averageTokensPerSecond.rounded())) tok/s  ETA \(duration(s.etaSeconds))"
            if isTerminal {
                print("\r\u{1B}[2K" + line, terminator: "")
                fflush(nil)
                lineOpen = true
            } else if s.step % logInterval == 0 || s.step == s.steps {
                print(line)
            }
        case .evaluated(let step, let v):
            say("step \(step): validation loss \(fmt(v, 4))")
        case .checkpointed(let step, let path):
            say("step \(step): checkpoint \(path)")
        case .skippedCheckpoint(let path, let reason):
            say("warning: skipping checkpoint \(path): \(reason)")
        case .recovered(let r):
            say("step \(r.step + 1): sphere \(r.sphere) failed; Node Zero replaced it and recomputed its micro-batch in \(fmt(Double(r.nanoseconds) / 1e6, 1)) ms")
        case .sample(let text):
            say("sample:\n\(text)")
        case .spheres(let rows, let nodeZero):
            let active = rows.filter { $0.state != .idle }
            let maxStack = (active + [nodeZero]).map(\.stackHighWater).max() ?? 0
            say("spheres: \(active.count) active, \(rows.count - active.count) idle; deepest thread stack \(maxStack / 1024) KiB")
            guard sphereTable else { break }
            say("position level group state    micro-batches   tokens  arena MiB (resident)  thread        stack KiB")
            for r in [nodeZero] + rows {
                let pos = r.position < 0 ? "node-0" : String(r.position)
                say("\(pad(pos, 8)) \(pad(r.level < 0 ? "-" : String(r.level), 5)) \(pad(r.group < 0 ? "-" : String(r.group), 5)) \(pad(r.state.description, 8)) \(pad(String(r.microBatches), 13)) \(pad(String(r.tokens), 8))  \(pad(fmt(Double(r.arenaAllocated) / 1_048_576, 1), 7)) (\(fmt(Double(r.arenaResident) / 1_048_576, 1)))        \(pad(r.thread, 12)) \(r.stackHighWater / 1024)")
            }
        }
    }

    func finish(_ s: TrainingSummary) {
        let v = s.validationLoss.map { fmt($0, 4) } ?? "n/a"
        defer {
            // Last line in the PyTorch peer's format, for benchmark scripts.
            let tps = s.steadyTokensPerSecond ?? s.tokensPerSecond
            print("tokens_per_s=\(fmt(tps, 1)) val_loss=\(v) peak_rss_mb=\(fmt(Double(s.memory.peakResidentBytes) / 1_048_576, 1))")
        }
        let phases = s.gradientSeconds + s.mergeSeconds + s.optimizerSeconds
        if phases > 0 {
            say("step phases: gradients \(fmt(100 * s.gradientSeconds / phases, 1))%, merge \(fmt(100 * s.mergeSeconds / phases, 1))%, optimizer \(fmt(100 * s.optimizerSeconds / phases, 1))%")
        }
        if let p = s.profile {
            say("stage profile: \(p.passes) passes (\(p.steps) steps), ms per pass of one sphere's micro-batch:")
            for row in p.stages where row.millisecondsPerPass > 0 {
                let share = p.measuredMillisecondsPerPass > 0 ? 100 * row.millisecondsPerPass / p.measuredMillisecondsPerPass : 0
                say("  \(pad(row.stage, 46)) \(pad(fmt(row.millisecondsPerPass, 3), 8)) \(fmt(share, 1))%")
            }
            say("  \(pad("all stages", 46)) \(fmt(p.measuredMillisecondsPerPass, 3)); gradient phase \(fmt(p.gradientPhaseMillisecondsPerStep, 3)) ms per step (wall)")
        }
        say("done: step \(s.finalStep)/\(s.steps), validation loss \(v), \(Int(s.tokensPerSecond.rounded())) tokens/s over \(fmt(s.trainingSeconds, 1)) s of training; peak RSS \(s.memory.peakResidentBytes / 1_048_576) MiB, VmSize \(s.memory.virtualBytes / 1_048_576) MiB")
    }

    func clearLine() {
        if lineOpen { print(""); lineOpen = false }
    }

    private func say(_ s: String) {
        clearLine()
        print(s)
        fflush(nil)
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

func fmt(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let r = (abs(x) * p).rounded()
    let whole = Int(r / p), frac = Int(r.truncatingRemainder(dividingBy: p))
    var fs = String(frac)
    while fs.count < digits { fs = "0" + fs }
    return (x < 0 ? "-" : "") + "\(whole)" + (digits > 0 ? "." + fs : "")
}

func sci(_ x: Double) -> String {
    guard x > 0, x.isFinite else { return "\(x)" }
    var e = 0, m = x
    while m >= 10 { m /= 10; e += 1 }
    while m < 1 { m *= 10; e -= 1 }
    return "\(fmt(m, 2))e\(e)"
}

func duration(_ s: Double) -> String {
    guard s.isFinite, s >= 0 else { return "?" }
    let t = Int(s.rounded())
    if t >= 3600 { return "\(t / 3600)h\(t % 3600 / 60)m" }
    if t >= 60 { return "\(t / 60)m\(t % 60)s" }
    return "\(t)s"
}
