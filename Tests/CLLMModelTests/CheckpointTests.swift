import Testing
@testable import CLLMModel
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp; the caller removes it (`defer`), so its lifetime is the test's scope.
func temporaryDirectory() throws -> String {
    var random = SystemRandomNumberGenerator()
    let path = "/tmp/cllm-tests-\(String(random.next() as UInt64, radix: 16))"
    try AtomicFile.makeDirectories(path)
    return path
}

@Suite struct CheckpointTests {
    static let config = ModelConfig(vocabSize: 11, contextLength: 8, layers: 2, heads: 2, width: 8)

    func makeCheckpoint(step: Int = 7, seed: UInt64 = 1, optimizer: Bool = true, config: ModelConfig = config) -> Checkpoint {
        let count = ParameterLayout(config).count
        var rng = RandomSource(seed: seed)
        let parameters = (0..<count).map { _ in Float(rng.nextNormal() * 0.02) }
        let m = (0..<count).map { _ in Float(rng.nextNormal() * 1e-3) }
        let v = (0..<count).map { _ in Float(rng.nextUnit() * 1e-6) }
        var hyperparameters = Hyperparameters()
        hyperparameters.seed = 0xDEAD_BEEF_CAFE_F00D
        hyperparameters.decaySteps = 1500
        let state = TrainingState(
            step: step, hyperparameters: hyperparameters,
            tokenizer: Tokenizer(kind: .char, corpus: "hello world"), model: config,
            rngState: rng.state, dataSource: "data/tiny.txt", spheres: 2)
        return Checkpoint(
            config: config, parameters: parameters, firstMoment: optimizer ? m : nil,
            secondMoment: optimizer ? v : nil, state: state)
    }

    func readError(_ dir: String, requireOptimizer: Bool = true) -> CheckpointError? {
        do {
            _ = try Checkpoint.read(from: dir, requireOptimizer: requireOptimizer)
            return nil
        } catch {
            return error
        }
    }

    /// Replaces a tensor file and records its new checksum, as a careful hand edit would: the reader
    /// must then catch the problem by its structure, not by the checksum.
    func replace(_ name: String, in dir: String, with bytes: [UInt8]) throws {
        try AtomicFile.write(bytes, to: "\(dir)/\(name)")
        var state = try Checkpoint.readState(from: dir)
        state.checksums[name] = CRC32C.hex(CRC32C.checksum(bytes))
        let encoder = JSONEncoder()
        try AtomicFile.write(Array(try encoder.encode(state)), to: "\(dir)/state.json")
    }

    func names(in dir: String) throws -> [String] { try AtomicFile.list(dir) }

    // MARK: Round trips

    @Test func roundTripWithOptimizer() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = "\(tmp)/run/checkpoints/step-00000007"
        let original = makeCheckpoint()
        try original.write(to: dir)
        #expect(try names(in: dir) == ["config.json", "model.safetensors", "optimizer.safetensors", "state.json"])

        let back = try Checkpoint.read(from: dir, requireOptimizer: true)
        #expect(back.config == original.config)
        #expect(firstBitDifference(back.parameters, original.parameters) == nil)
        #expect((back.firstMoment == nil) == (original.firstMoment == nil) && (back.secondMoment == nil) == (original.secondMoment == nil))
        #expect(firstBitDifference(back.firstMoment ?? [], original.firstMoment ?? []) == nil)
        #expect(firstBitDifference(back.secondMoment ?? [], original.secondMoment ?? []) == nil)
        var expectedState = original.state
        expectedState.checksums = back.state.checksums
        #expect(back.state == expectedState)
        #expect(back.state.rngState == original.state.rngState)
        #expect(Set(back.state.checksums.keys) == ["model.safetensors", "optimizer.safetensors"])
        #expect(back.state.checksums.values.allSatisfy { $0.count == 8 })
    }

    @Test func modelFileHoldsLayoutTensorsInOrder() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        try makeCheckpoint().write(to: tmp + "/c")
        let contents = try Safetensors.decode(try AtomicFile.read(tmp + "/c/model.safetensors"))
        let layout = ParameterLayout(Self.config)
        #expect(contents.entries.map(\.name) == layout.tensors.map(\.name))
        #expect(contents.entries.map(\.shape) == layout.tensors.map(\.shape))
        #expect(!contents.entries.contains { $0.name == "lm_head.weight" })
        #expect(contents.metadata == ["format": "pt"])
        let optimizer = try Safetensors.decode(try AtomicFile.read(tmp + "/c/optimizer.safetensors"))
        #expect(optimizer.entries.map(\.name)
            == layout.tensors.map { "exp_avg." + $0.name } + layout.tensors.map { "exp_avg_sq." + $0.name })
    }

    @Test func configJSONIsHuggingFaceGPT2() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        try makeCheckpoint().write(to: tmp + "/c")
        let bytes = try AtomicFile.read(tmp + "/c/config.json")
        guard case .object(let o) = try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
            Issue.record("config.json is not an object")
            return
        }
        #expect(o["model_type"] == .string("gpt2"))
        #expect(o["architectures"] == .array([.string("GPT2LMHeadModel")]))
        #expect(o["vocab_size"] == .int(11) && o["n_positions"] == .int(8) && o["n_ctx"] == .int(8))
        #expect(o["n_embd"] == .int(8) && o["n_layer"] == .int(2) && o["n_head"] == .int(2))
        #expect(o["n_inner"] == .null)
        #expect(o["activation_function"] == .string("gelu_new"))
        #expect(o["layer_norm_epsilon"] == .double(1e-5))
        #expect(o["tie_word_embeddings"] == .bool(true) && o["scale_attn_weights"] == .bool(true))
        #expect(try HuggingFaceConfig.decode(bytes) == Self.config)
    }

    @Test func writingIsDeterministic() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let checkpoint = makeCheckpoint()
        try checkpoint.write(to: tmp + "/a")
        try checkpoint.write(to: tmp + "/b")
        for name in try names(in: tmp + "/a") {
            #expect(try AtomicFile.read("\(tmp)/a/\(name)") == AtomicFile.read("\(tmp)/b/\(name)"), "\(name)")
        }
    }

    @Test func weightsOnlyCheckpoint() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/weights"
        let original = makeCheckpoint(optimizer: false)
        try original.write(to: dir)
        #expect(try names(in: dir) == ["config.json", "model.safetensors", "state.json"])
        let back = try Checkpoint.read(from: dir, requireOptimizer: false)
        #expect(back.parameters == original.parameters)
        #expect(back.firstMoment == nil && back.secondMoment == nil)
        let error = try #require(readError(dir, requireOptimizer: true))
        #expect(error == .missingOptimizer(dir + "/optimizer.safetensors"))
        #expect(error.description.contains("weights-only"))
    }

    @Test func missingSpheresDefaultsToOne() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        let text = String(decoding: try AtomicFile.read(dir + "/state.json"), as: UTF8.self)
        let edited = text.split(separator: "\n").filter { !$0.contains("\"spheres\"") }.joined(separator: "\n")
        #expect(edited != text)
        try AtomicFile.write(Array(edited.utf8), to: dir + "/state.json")
        #expect(try Checkpoint.read(from: dir, requireOptimizer: true).state.spheres == 1)
    }

    // MARK: Atomic replacement

    @Test func replacingLeavesNoTemporaryDirectories() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/checkpoints/step-00000001"
        try makeCheckpoint(step: 1, seed: 1).write(to: dir)
        let newer = makeCheckpoint(step: 2, seed: 2)
        try newer.write(to: dir)
        let back = try Checkpoint.read(from: dir, requireOptimizer: true)
        #expect(back.state.step == 2)
        #expect(back.parameters == newer.parameters)
        #expect(try names(in: tmp + "/checkpoints") == ["step-00000001"])
    }

    @Test func writeUnderARegularFileFailsClearly() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        try AtomicFile.write(Array("not a directory".utf8), to: tmp + "/blocker")
        let error = try #require(throws: CheckpointError.self) {
            try makeCheckpoint().write(to: tmp + "/blocker/step-00000001")
        }
        guard case .writeFailed(directory: tmp + "/blocker/step-00000001", let fileError) = error else {
            Issue.record("expected writeFailed, got \(error)")
            return
        }
        #expect(fileError.code == ENOTDIR)
        #expect(error.description.contains(tmp + "/blocker"))
        #expect(error.description.contains("Not a directory"))
        #expect(try names(in: tmp) == ["blocker"])
    }

    @Test func failedWriteKeepsPreviousCheckpoint() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/step-00000001"
        let previous = makeCheckpoint(step: 1, seed: 1)
        try previous.write(to: dir)
        // A directory where state.json should go makes the real open(2) fail with EISDIR midway.
        let error = try #require(throws: CheckpointError.self) {
            try makeCheckpoint(step: 2, seed: 2).write(to: dir) { path in
                if path.hasSuffix("/state.json") { mkdir(path, 0o755) }
            }
        }
        guard case .writeFailed(directory: dir, let fileError) = error else {
            Issue.record("expected writeFailed, got \(error)")
            return
        }
        #expect(fileError.code == EISDIR)
        #expect(fileError.path.hasSuffix("state.json"))
        #expect(error.description.contains("Is a directory"))
        let back = try Checkpoint.read(from: dir, requireOptimizer: true)
        #expect(back.state.step == 1)
        #expect(back.parameters == previous.parameters)
        #expect(try names(in: tmp) == ["step-00000001"])
    }

    @Test func inconsistentCheckpointIsRefusedBeforeWriting() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        var checkpoint = makeCheckpoint()
        checkpoint.parameters.removeLast()
        #expect(throws: CheckpointError.self) { try checkpoint.write(to: tmp + "/c") }
        var halfOptimizer = makeCheckpoint()
        halfOptimizer.secondMoment = nil
        #expect(throws: CheckpointError.inconsistent("a checkpoint needs both AdamW moments or neither")) {
            try halfOptimizer.write(to: tmp + "/c")
        }
        #expect(try names(in: tmp).isEmpty)
    }

    // MARK: Damaged checkpoints

    @Test func missingDirectoryAndFiles() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        #expect(readError(tmp + "/nope") == .missingDirectory(tmp + "/nope"))
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        unlink(dir + "/model.safetensors")
        #expect(readError(dir) == .missingFile(dir + "/model.safetensors"))
        try makeCheckpoint().write(to: dir)
        unlink(dir + "/state.json")
        #expect(readError(dir) == .missingFile(dir + "/state.json"))
        try makeCheckpoint().write(to: dir)
        unlink(dir + "/optimizer.safetensors")
        // state.json vouches for an optimizer file, so its absence is damage, not a weights-only export.
        #expect(readError(dir, requireOptimizer: false) == .missingFile(dir + "/optimizer.safetensors"))
    }

    @Test func truncatedModelFile() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        let bytes = try AtomicFile.read(dir + "/model.safetensors")
        try AtomicFile.write(Array(bytes.dropLast(10)), to: dir + "/model.safetensors")
        let error = try #require(readError(dir))
        guard case .safetensors(path: dir + "/model.safetensors", .outOfBounds) = error else {
            Issue.record("expected out-of-bounds error, got \(error)")
            return
        }
        #expect(error.description.contains("model.safetensors"))
        #expect(error.description.contains("truncated"))
        try AtomicFile.write(Array(bytes.prefix(5)), to: dir + "/model.safetensors")
        #expect(readError(dir) == .safetensors(path: dir + "/model.safetensors", .fileTooShort(byteCount: 5)))
    }

    @Test func flippedByteFailsChecksum() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        for name in ["model.safetensors", "optimizer.safetensors"] {
            var bytes = try AtomicFile.read("\(dir)/\(name)")
            bytes[bytes.count - 3] ^= 0x10
            try AtomicFile.write(bytes, to: "\(dir)/\(name)")
            let error = try #require(readError(dir))
            guard case .checksumMismatch(path: "\(dir)/\(name)", let actual, let expected) = error else {
                Issue.record("expected checksum mismatch for \(name), got \(error)")
                continue
            }
            #expect(actual != expected)
            #expect(error.description.contains("\(name) is corrupt: checksum"))
            bytes[bytes.count - 3] ^= 0x10
            try AtomicFile.write(bytes, to: "\(dir)/\(name)")
        }
        #expect(readError(dir) == nil)
    }

    @Test func shapeMismatchAgainstConfig() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        let checkpoint = makeCheckpoint()
        try checkpoint.write(to: dir)
        // Same element count, transposed wte: only the shape check can catch it.
        let layout = ParameterLayout(Self.config).tensors.map { (name: $0.name, shape: $0.shape) }
        let transposed = layout.map { $0.name == "transformer.wte.weight" ? ($0.name, [8, 11]) : $0 }
        try replace("model.safetensors", in: dir, with: Safetensors.encode(
            values: checkpoint.parameters, layout: transposed, metadata: ["format": "pt"]))
        let error = try #require(readError(dir))
        #expect(error == .shapeMismatch(path: dir + "/model.safetensors", tensor: "transformer.wte.weight", actual: [8, 11], expected: [11, 8]))
        #expect(error.description.hasSuffix("tensor transformer.wte.weight has shape [8, 11] but the config says [11, 8]"))
    }

    @Test func missingAndExtraTensors() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        let tensors = try Safetensors.decode(try AtomicFile.read(dir + "/model.safetensors")).tensors
        try replace("model.safetensors", in: dir, with: Safetensors.encode(
            tensors.filter { $0.name != "transformer.h.1.ln_1.weight" }, metadata: ["format": "pt"]))
        let missing = try #require(readError(dir))
        #expect(missing == .missingTensor(path: dir + "/model.safetensors", tensor: "transformer.h.1.ln_1.weight"))
        #expect(missing.description == "\(dir)/model.safetensors lacks tensor transformer.h.1.ln_1.weight")

        let wte = try #require(tensors.first)
        let extra = tensors + [Safetensors.Tensor(name: "lm_head.weight", shape: wte.shape, values: wte.values)]
        try replace("model.safetensors", in: dir, with: Safetensors.encode(extra, metadata: ["format": "pt"]))
        #expect(readError(dir) == .unexpectedTensor(path: dir + "/model.safetensors", tensor: "lm_head.weight"))
    }

    @Test func tensorsInAnotherOrderStillRead() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        let checkpoint = makeCheckpoint()
        try checkpoint.write(to: dir)
        // Hugging Face's save_pretrained sorts tensors by name; cllm must read that order too.
        let tensors = try Safetensors.decode(try AtomicFile.read(dir + "/model.safetensors")).tensors
        try replace("model.safetensors", in: dir, with: Safetensors.encode(tensors.sorted { $0.name < $1.name }, metadata: ["format": "pt"]))
        let optimizer = try Safetensors.decode(try AtomicFile.read(dir + "/optimizer.safetensors")).tensors
        try replace("optimizer.safetensors", in: dir, with: Safetensors.encode(optimizer.reversed(), metadata: ["format": "pt"]))
        let back = try Checkpoint.read(from: dir, requireOptimizer: true)
        #expect(back.parameters == checkpoint.parameters)
        #expect(back.firstMoment == checkpoint.firstMoment && back.secondMoment == checkpoint.secondMoment)
    }

    @Test func wrongDtypeInModelFile() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        var bytes = try AtomicFile.read(dir + "/model.safetensors")
        let header = Array(#""dtype":"F32""#.utf8)
        let at = try #require((0..<(bytes.count - header.count)).first { Array(bytes[$0..<($0 + header.count)]) == header })
        bytes[at + 10] = UInt8(ascii: "1")
        bytes[at + 11] = UInt8(ascii: "6")
        try replace("model.safetensors", in: dir, with: bytes)
        let error = try #require(readError(dir))
        #expect(error == .safetensors(path: dir + "/model.safetensors", .unsupportedDType(tensor: "transformer.wte.weight", dtype: "F16")))
        #expect(error.description.hasSuffix("tensor transformer.wte.weight has dtype F16; cllm reads F32 only"))
    }

    @Test func malformedConfigJSON() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        try AtomicFile.write(Array("{ \"n_embd\": ".utf8), to: dir + "/config.json")
        let error = try #require(readError(dir))
        guard case .config(path: dir + "/config.json", .malformed) = error else {
            Issue.record("expected malformed config.json, got \(error)")
            return
        }
        try AtomicFile.write(Array(#"{"n_embd": 8, "n_layer": 2}"#.utf8), to: dir + "/config.json")
        #expect(readError(dir) == .config(path: dir + "/config.json", .malformed("lacks vocab_size")))
        var text = String(decoding: HuggingFaceConfig.encode(Self.config), as: UTF8.self)
        text = text.replacing("gelu_new", with: "relu")
        try AtomicFile.write(Array(text.utf8), to: dir + "/config.json")
        let unsupported = try #require(readError(dir))
        guard case .config(path: _, .unsupported) = unsupported else {
            Issue.record("expected unsupported activation, got \(unsupported)")
            return
        }
        #expect(unsupported.description.contains("relu"))
    }

    @Test func malformedStateJSON() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        try AtomicFile.write(Array("{\"step\": 3}".utf8), to: dir + "/state.json")
        let error = try #require(readError(dir))
        guard case .malformedState(path: dir + "/state.json", _) = error else {
            Issue.record("expected malformed state.json, got \(error)")
            return
        }
    }

    @Test func configDisagreeingWithState() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        var other = Self.config
        other.layers = 3
        try AtomicFile.write(HuggingFaceConfig.encode(other), to: dir + "/config.json")
        #expect(readError(dir) == .configMismatch(configJSON: other, stateJSON: Self.config))
    }

    @Test func invalidModelConfig() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        var bad = Self.config
        bad.heads = 3
        try AtomicFile.write(HuggingFaceConfig.encode(bad), to: dir + "/config.json")
        #expect(readError(dir) == .invalidModel(path: dir + "/config.json", .headsDoNotDivideWidth(heads: 3, width: 8)))
    }

    @Test func newerFormatVersionIsRefused() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let dir = tmp + "/c"
        try makeCheckpoint().write(to: dir)
        var state = try Checkpoint.readState(from: dir)
        state.formatVersion = 99
        try AtomicFile.write(Array(try JSONEncoder().encode(state)), to: dir + "/state.json")
        let error = try #require(readError(dir))
        guard case .invalidState(path: dir + "/state.json", let reason) = error else {
            Issue.record("expected invalid state, got \(error)")
            return
        }
        #expect(reason.contains("newer"))
    }

    // MARK: Listing a run

    @Test func directoryNames() {
        #expect(Checkpoint.directoryName(step: 0) == "step-00000000")
        #expect(Checkpoint.directoryName(step: 1500) == "step-00001500")
        #expect(Checkpoint.directoryName(step: 123_456_789) == "step-123456789")
        #expect(Checkpoint.directory(in: "/runs/a/", step: 5) == "/runs/a/checkpoints/step-00000005")
    }

    @Test func latestSkipsTemporaryAndBrokenCheckpoints() throws {
        let tmp = try temporaryDirectory()
        defer { try? AtomicFile.removeTree(tmp) }
        let run = tmp + "/run"
        #expect(Checkpoint.latest(in: run) == nil)
        for step in [1, 20, 3] {
            try makeCheckpoint(step: step).write(to: Checkpoint.directory(in: run, step: step))
        }
        try makeCheckpoint(step: 30).write(to: Checkpoint.directory(in: run, step: 30) + ".tmp-999")
        try makeCheckpoint(step: 25).write(to: Checkpoint.directory(in: run, step: 25))
        try AtomicFile.write(Array("{".utf8), to: Checkpoint.directory(in: run, step: 25) + "/state.json")
        try AtomicFile.write([], to: Checkpoint.checkpointsDirectory(in: run) + "/step-00000099")  // a file, not a dir
        try AtomicFile.makeDirectories(Checkpoint.checkpointsDirectory(in: run) + "/step-abc")

        #expect(Checkpoint.candidates(in: run).map(\.step) == [25, 20, 3, 1])
        let latest = try #require(Checkpoint.latest(in: run))
        #expect(latest == Checkpoint.Candidate(step: 20, path: Checkpoint.directory(in: run, step: 20)))
        #expect(try Checkpoint.read(from: latest.path, requireOptimizer: true).state.step == 20)
    }

    // MARK: Checksum

    @Test func crc32cKnownValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.hex(0xAB) == "000000ab")
    }

    @Test func crc32cIncrementalMatchesOneShot() {
        var rng = RandomSource(seed: 9)
        let bytes = (0..<1000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let whole = CRC32C.checksum(bytes)
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            var crc = CRC32C()
            crc.update(Array(bytes[..<split]))
            crc.update(Array(bytes[split...]))
            #expect(crc.value == whole, "split at \(split)")
        }
    }
}
