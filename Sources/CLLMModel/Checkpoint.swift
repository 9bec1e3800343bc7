#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A training run frozen at one step: one directory that PyTorch can load as a GPT-2 model and that
/// `--resume` continues bit for bit.
///
/// - `model.safetensors`: the parameters, Hugging Face GPT-2 names (`lm_head` tied, not stored).
/// - `config.json`: Hugging Face `GPT2Config`.
/// - `optimizer.safetensors`: AdamW moments `exp_avg.<name>`, `exp_avg_sq.<name>`; absent in a weights-only export.
/// - `state.json`: `TrainingState`, including checksums of the tensor files.
public struct Checkpoint: Equatable, Sendable {
    public static let modelFile = "model.safetensors"
    public static let configFile = "config.json"
    public static let optimizerFile = "optimizer.safetensors"
    public static let stateFile = "state.json"

    public var config: ModelConfig
    /// The flat parameter vector in `ParameterLayout(config)` order.
    public var parameters: [Float]
    /// AdamW first moment, same layout as `parameters`; nil for a weights-only checkpoint.
    public var firstMoment: [Float]?
    /// AdamW second moment; present exactly when `firstMoment` is.
    public var secondMoment: [Float]?
    public var state: TrainingState

    public init(
        config: ModelConfig, parameters: [Float], firstMoment: [Float]? = nil, secondMoment: [Float]? = nil,
        state: TrainingState
    ) {
        self.config = config
        self.parameters = parameters
        self.firstMoment = firstMoment
        self.secondMoment = secondMoment
        self.state = state
    }
}

// MARK: Writing

extension Checkpoint {
    /// Writes atomically: everything goes into a sibling temp dir "<dir>.tmp-<pid>", each file fsynced,
    /// the temp dir fsynced, then renamed over `dir` (an existing `dir` is renamed aside first, then
    /// removed), then the parent fsynced. On failure the temp dir is removed, the error names the path
    /// and the system's reason, and a previous checkpoint at `dir` stays intact. Missing parent
    /// directories are created. `state.checksums` and `state.formatVersion` are filled in here.
    public func write(to dir: String) throws(CheckpointError) {
        try write(to: dir, beforeWriting: nil)
    }

    /// `beforeWriting` is called with each file's path just before it is written: tests use it to make
    /// a real write fail midway.
    func write(to dir: String, beforeWriting: ((String) -> Void)?) throws(CheckpointError) {
        let (m, v) = (firstMoment ?? [], secondMoment ?? [])
        let hasMoments = firstMoment != nil || secondMoment != nil
        if hasMoments && (firstMoment == nil || secondMoment == nil) {
            throw .inconsistent("a checkpoint needs both AdamW moments or neither")
        }
        try parameters.withUnsafeBufferPointer { (p) throws(CheckpointError) in
            try m.withUnsafeBufferPointer { (mp) throws(CheckpointError) in
                try v.withUnsafeBufferPointer { (vp) throws(CheckpointError) in
                    try Checkpoint.write(
                        to: dir, config: config, state: state, parameters: p,
                        moments: hasMoments ? (mp, vp) : nil, beforeWriting: beforeWriting)
                }
            }
        }
    }

    /// Writes a checkpoint straight from live buffers (a trainer's parameters and AdamW moments), with the
    /// same atomicity as `write(to:)`. Files are encoded and written one at a time, so the extra memory is
    /// one file's bytes, not the whole checkpoint's.
    public static func write(
        to dir: String, config: ModelConfig, state: TrainingState, parameters: UnsafeBufferPointer<Float>,
        moments: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>)?
    ) throws(CheckpointError) {
        try write(to: dir, config: config, state: state, parameters: parameters, moments: moments, beforeWriting: nil)
    }

    static func write(
        to dir: String, config: ModelConfig, state inputState: TrainingState, parameters: UnsafeBufferPointer<Float>,
        moments: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>)?, beforeWriting: ((String) -> Void)?
    ) throws(CheckpointError) {
        // Everything that can be refused is refused before the disk is touched.
        do { try config.validate() } catch { throw .inconsistent("cannot write a checkpoint of an invalid model: \(error)") }
        let layout = ParameterLayout(config)
        if parameters.count != layout.count {
            throw .inconsistent("\(parameters.count) parameters given but the model has \(layout.count)")
        }
        if inputState.model != config {
            throw .inconsistent("the training state's model config \(inputState.model) differs from the checkpoint's \(config)")
        }
        if let (m, v) = moments, m.count != layout.count || v.count != layout.count {
            throw .inconsistent("optimizer moments have \(m.count) and \(v.count) values but the model has \(layout.count)")
        }
        var state = inputState
        state.formatVersion = TrainingState.currentFormatVersion
        state.checksums = [:]
        let names = layout.tensors.map { (name: $0.name, shape: $0.shape) }

        let target = Checkpoint.trimmingTrailingSlashes(dir)
        let parent = AtomicFile.parent(of: target)
        let pid = getpid()
        let temporary = "\(target).tmp-\(pid)"
        let aside = "\(target).tmp-\(pid).old"
        do throws(FileError) {
            try AtomicFile.makeDirectories(parent)
            try AtomicFile.removeTree(temporary)  // a leftover of an earlier process with the same pid
            try AtomicFile.makeDirectories(temporary)
            func put(_ name: String, _ bytes: [UInt8]) throws(FileError) {
                let path = "\(temporary)/\(name)"
                beforeWriting?(path)
                try AtomicFile.writeDurably(bytes, to: path)
            }
            /// A safetensors file written from the header and the live tensors, checksummed on the way.
            func putTensors(
                _ name: String, layout: [(name: String, shape: [Int])], _ segments: [UnsafeBufferPointer<Float>]
            ) throws(FileError) {
                #if _endian(little)
                let header = Safetensors.header(layout, metadata: ["format": "pt"])
                let path = "\(temporary)/\(name)"
                beforeWriting?(path)
                let result = header.withUnsafeBytes { h in
                    let chunks = [h] + segments.map { UnsafeRawBufferPointer($0) }
                    var crc = CRC32C()
                    for c in chunks { crc.update(c) }
                    return Result { () throws(FileError) in
                        try AtomicFile.writeDurably(chunks: chunks, to: path)
                        return crc.hex
                    }
                }
                state.checksums[name] = try result.get()
                #else
                let bytes = Safetensors.encode(segments: segments, layout: layout, metadata: ["format": "pt"])
                state.checksums[name] = CRC32C.hex(CRC32C.checksum(bytes))
                try put(name, bytes)
                #endif
            }
            // Tensor files first; state.json last, since it vouches for the others.
            try putTensors(Checkpoint.modelFile, layout: names, [parameters])
            if let (m, v) = moments {
                try putTensors(
                    Checkpoint.optimizerFile,
                    layout: names.map { ("exp_avg." + $0.name, $0.shape) } + names.map { ("exp_avg_sq." + $0.name, $0.shape) },
                    [m, v])
            }
            try put(Checkpoint.configFile, HuggingFaceConfig.encode(config))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            guard let json = try? encoder.encode(state) else {
                throw FileError("encode", "\(temporary)/\(Checkpoint.stateFile)", code: EINVAL)
            }
            try put(Checkpoint.stateFile, Array(json) + [0x0A])
            try AtomicFile.syncDirectory(temporary)
            if AtomicFile.exists(target) {
                try AtomicFile.removeTree(aside)
                try AtomicFile.rename(target, to: aside)
                do throws(FileError) {
                    try AtomicFile.rename(temporary, to: target)
                } catch {
                    try? AtomicFile.rename(aside, to: target)
                    throw error
                }
                try AtomicFile.syncDirectory(parent)
                // The new checkpoint is durable; a failure to delete the old one only leaves a
                // "*.tmp-*" directory that listing ignores.
                try? AtomicFile.removeTree(aside)
            } else {
                try AtomicFile.rename(temporary, to: target)
                try AtomicFile.syncDirectory(parent)
            }
        } catch {
            try? AtomicFile.removeTree(temporary)
            throw .writeFailed(directory: target, error)
        }
    }

    static func trimmingTrailingSlashes(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        return String(p)
    }
}

// MARK: Reading

extension Checkpoint {
    /// Reads and validates a checkpoint directory; every problem is reported once, naming the file.
    /// Without `requireOptimizer`, a weights-only checkpoint reads with nil moments.
    public static func read(from dir: String, requireOptimizer: Bool) throws(CheckpointError) -> Checkpoint {
        let dir = trimmingTrailingSlashes(dir)
        if !AtomicFile.exists(dir) { throw .missingDirectory(dir) }
        if !AtomicFile.isDirectory(dir) { throw .notADirectory(dir) }

        let configPath = "\(dir)/\(configFile)"
        let configBytes = try readFile(configPath)
        let config: ModelConfig
        do { config = try HuggingFaceConfig.decode(configBytes) } catch { throw .config(path: configPath, error) }
        do { try config.validate() } catch { throw .invalidModel(path: configPath, error) }

        let state = try readState(from: dir)
        if state.model != config {
            throw .configMismatch(configJSON: config, stateJSON: state.model)
        }

        let layout = ParameterLayout(config)
        let modelPath = "\(dir)/\(modelFile)"
        let parameters = try readTensors(
            path: modelPath, expectedChecksum: state.checksums[modelFile], layout: layout, prefixes: [""])[0]

        let optimizerPath = "\(dir)/\(optimizerFile)"
        var moments: [[Float]]? = nil
        if AtomicFile.exists(optimizerPath) {
            moments = try readTensors(
                path: optimizerPath, expectedChecksum: state.checksums[optimizerFile], layout: layout,
                prefixes: ["exp_avg.", "exp_avg_sq."])
        } else if state.checksums[optimizerFile] != nil {
            throw .missingFile(optimizerPath)
        } else if requireOptimizer {
            throw .missingOptimizer(optimizerPath)
        }
        return Checkpoint(
            config: config, parameters: parameters, firstMoment: moments?[0], secondMoment: moments?[1], state: state)
    }

    /// Reads and validates `state.json` alone: enough to list checkpoints and to plan a resume.
    public static func readState(from dir: String) throws(CheckpointError) -> TrainingState {
        let path = "\(trimmingTrailingSlashes(dir))/\(stateFile)"
        let bytes = try readFile(path)
        let state: TrainingState
        do {
            state = try JSONDecoder().decode(TrainingState.self, from: Data(bytes))
        } catch {
            throw .malformedState(path: path, JSONValue.describe(error))
        }
        do { try state.validate() } catch { throw .invalidState(path: path, error.description) }
        do { try state.model.validate() } catch { throw .invalidModel(path: path, error) }
        return state
    }

    private static func readFile(_ path: String) throws(CheckpointError) -> [UInt8] {
        do {
            return try AtomicFile.read(path)
        } catch {
            if error.code == ENOENT { throw .missingFile(path) }
            throw .file(error)
        }
    }

    /// Decodes one tensor file and cuts it into flat vectors in layout order, one per name prefix.
    private static func readTensors(
        path: String, expectedChecksum: String?, layout: ParameterLayout, prefixes: [String]
    ) throws(CheckpointError) -> [[Float]] {
        let bytes = try readFile(path)
        let contents: Safetensors.Contents
        do { contents = try Safetensors.decode(bytes) } catch { throw .safetensors(path: path, error) }
        var index: [String: Safetensors.Entry] = [:]
        for entry in contents.entries { index[entry.name] = entry }
        var expectedNames = Set<String>()
        for prefix in prefixes {
            for tensor in layout.tensors {
                let name = prefix + tensor.name
                expectedNames.insert(name)
                guard let entry = index[name] else { throw .missingTensor(path: path, tensor: name) }
                if entry.shape != tensor.shape {
                    throw .shapeMismatch(path: path, tensor: name, actual: entry.shape, expected: tensor.shape)
                }
            }
        }
        if let extra = contents.entries.first(where: { !expectedNames.contains($0.name) }) {
            throw .unexpectedTensor(path: path, tensor: extra.name)
        }
        // Checked after names and shapes: a well-formed file of another model deserves that message, not "corrupt".
        guard let expected = expectedChecksum else { throw .missingChecksum(path) }
        let actual = CRC32C.hex(CRC32C.checksum(bytes))
        if actual != expected.lowercased() { throw .checksumMismatch(path: path, actual: actual, expected: expected) }

        // Every expected tensor is present with the right shape and nothing else is: the data holds
        // exactly prefixes × layout.count floats, so the allocations below are bounded by the file size.
        let inOrder = contents.entries.map(\.name) == prefixes.flatMap { p in layout.tensors.map { p + $0.name } }
        if inOrder, prefixes.count == 1 { return [contents.values] }
        return prefixes.map { prefix in
            if inOrder, let first = index[prefix + (layout.tensors.first?.name ?? "")] {
                return Array(contents.values[first.range.lowerBound..<(first.range.lowerBound + layout.count)])
            }
            var flat = [Float](repeating: 0, count: layout.count)
            for tensor in layout.tensors {
                guard let entry = index[prefix + tensor.name] else { continue }
                flat[tensor.offset..<(tensor.offset + tensor.count)] = contents.values[entry.range]
            }
            return flat
        }
    }
}

// MARK: Finding checkpoints in a run

extension Checkpoint {
    /// One `step-NNNNNNNN` directory of a run, not yet validated.
    public struct Candidate: Equatable, Sendable {
        public var step: Int
        public var path: String
    }

    /// "step-00000100": zero-padded so names sort in step order.
    public static func directoryName(step: Int) -> String {
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// Where a run keeps its checkpoints: `<run>/checkpoints`.
    public static func checkpointsDirectory(in runDir: String) -> String {
        "\(trimmingTrailingSlashes(runDir))/checkpoints"
    }

    /// `<run>/checkpoints/step-NNNNNNNN`.
    public static func directory(in runDir: String, step: Int) -> String {
        "\(checkpointsDirectory(in: runDir))/\(directoryName(step: step))"
    }

    /// Every `step-*` directory of a run, newest first, unvalidated; half-written `*.tmp-*` ones are
    /// skipped. Resume walks this list to fall back to an older checkpoint when the newest is damaged.
    public static func candidates(in runDir: String) -> [Candidate] {
        let root = checkpointsDirectory(in: runDir)
        guard let names = try? AtomicFile.list(root) else { return [] }
        var found: [Candidate] = []
        for name in names where name.hasPrefix("step-") && !name.contains(".tmp-") {
            let digits = name.dropFirst(5)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let step = Int(digits) else { continue }
            let path = "\(root)/\(name)"
            if AtomicFile.isDirectory(path) { found.append(Candidate(step: step, path: path)) }
        }
        return found.sorted { ($0.step, $0.path) > ($1.step, $1.path) }
    }

    /// The newest checkpoint whose `state.json` reads and validates, or nil when the run has none.
    public static func latest(in runDir: String) -> Candidate? {
        candidates(in: runDir).first { (try? readState(from: $0.path)) != nil }
    }
}

// MARK: Errors

public enum CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    case missingDirectory(String)
    case notADirectory(String)
    case missingFile(String)
    /// Weights-only checkpoint where training needs the optimizer state.
    case missingOptimizer(String)
    case file(FileError)
    case writeFailed(directory: String, FileError)
    case safetensors(path: String, SafetensorsError)
    case config(path: String, HuggingFaceConfigError)
    case invalidModel(path: String, ModelConfigError)
    case malformedState(path: String, String)
    case invalidState(path: String, String)
    case configMismatch(configJSON: ModelConfig, stateJSON: ModelConfig)
    case missingChecksum(String)
    case checksumMismatch(path: String, actual: String, expected: String)
    case missingTensor(path: String, tensor: String)
    case unexpectedTensor(path: String, tensor: String)
    case shapeMismatch(path: String, tensor: String, actual: [Int], expected: [Int])
    /// The in-memory checkpoint contradicts itself (a caller's bug), found before anything is written.
    case inconsistent(String)

    public var description: String {
        switch self {
        case .missingDirectory(let dir): "checkpoint directory \(dir) does not exist"
        case .notADirectory(let dir): "checkpoint \(dir) is not a directory"
        case .missingFile(let path): "checkpoint is incomplete: \(path) does not exist"
        case .missingOptimizer(let path):
            "\(path) does not exist: this is a weights-only checkpoint, which cannot resume training"
        case .file(let error): "\(error)"
        case .writeFailed(let dir, let error): "cannot write checkpoint \(dir): \(error)"
        case .safetensors(let path, let error): "\(path): \(error)"
        case .config(let path, let error): "\(path) is \(error)"
        case .invalidModel(let path, let error): "\(path) describes an invalid model: \(error)"
        case .malformedState(let path, let reason): "\(path) is malformed: \(reason)"
        case .invalidState(let path, let reason): "\(path) is invalid: \(reason)"
        case .configMismatch(let c, let s):
            "config.json and state.json disagree about the model: config.json says \(Checkpoint.describe(c)), state.json says \(Checkpoint.describe(s))"
        case .missingChecksum(let path): "state.json records no checksum for \(path)"
        case .checksumMismatch(let path, let actual, let expected):
            "\(path) is corrupt: checksum \(actual), expected \(expected)"
        case .missingTensor(let path, let tensor): "\(path) lacks tensor \(tensor)"
        case .unexpectedTensor(let path, let tensor): "\(path) has unexpected tensor \(tensor)"
        case .shapeMismatch(let path, let tensor, let actual, let expected):
            "\(path): tensor \(tensor) has shape \(actual) but the config says \(expected)"
        case .inconsistent(let reason): reason
        }
    }
}

extension Checkpoint {
    fileprivate static func describe(_ c: ModelConfig) -> String {
        "vocab \(c.vocabSize), context \(c.contextLength), \(c.layers) layers, \(c.heads) heads, width \(c.width)"
    }
}
