import Foundation
import Testing
import CLLMModel

/// Every kind of bad input is refused with exit status 1 and a sentence naming the problem; a run refused
/// before training leaves no run folder behind.
@Suite("End-to-end: bad input", .tags(.endToEnd), .timeLimit(.minutes(5)))
struct BadInputEndToEndTests {
    // MARK: Corpus

    enum DataCase: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case missingPath, emptyFile, directoryWithOnlyBinary, shorterThanOneWindow, emptyDirectory

        var testDescription: String { rawValue }

        /// Prepares the workspace and returns the --data argument.
        func prepare(_ ws: Workspace) throws -> String {
            switch self {
            case .missingPath: return "no-such-corpus.txt"
            case .emptyFile:
                try ws.write("empty.txt", "")
                return "empty.txt"
            case .directoryWithOnlyBinary:
                try ws.write("bin/blob.dat", [0x7F, 0x45, 0x4C, 0x46, 0x00, 0x02, 0x01, 0x00])
                return "bin"
            case .shorterThanOneWindow:
                try ws.write("short.txt", "0123456789")
                return "short.txt"
            case .emptyDirectory:
                try FileManager.default.createDirectory(atPath: ws.path("nothing"), withIntermediateDirectories: false)
                return "nothing"
            }
        }

        var phrases: [String] {
            switch self {
            case .missingPath: ["corpus path no-such-corpus.txt does not exist"]
            case .emptyFile: ["corpus file empty.txt is empty"]
            case .directoryWithOnlyBinary: ["no readable text files under bin", "1 binary"]
            // 10 characters: 9 training tokens after the 90/10 split; one window of 16 needs 17.
            case .shorterThanOneWindow: ["corpus too short", "need at least 17", "context 16"]
            case .emptyDirectory: ["corpus directory nothing contains no files"]
            }
        }
    }

    @Test("unusable corpus", arguments: DataCase.allCases)
    func badCorpus(_ c: DataCase) async throws {
        let ws = try Workspace()
        let data = try c.prepare(ws)
        let r = try await ws.run(TinyRun.train(data: data))
        expectRefusal(r, mentioning: c.phrases)
        #expect(!ws.exists("out"), "a run refused before training must not create its run folder")
    }

    @Test("output folder under a regular file")
    func unwritableOutput() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try ws.write("afile", "not a folder\n")
        let r = try await ws.run(TinyRun.train(out: ws.path("afile/run")))
        expectRefusal(r, mentioning: ["cannot create output folder", "afile/run", "Not a directory"])
        #expect(try ws.text("afile") == "not a folder\n")
        #expect(!r.stdout.contains("step 1"), "no training should start\n\(r)")
    }

    // MARK: Flags

    struct FlagCase: Sendable, CustomTestStringConvertible {
        var overrides: [String: String]
        var phrase: String
        var testDescription: String { overrides.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ") }
    }

    static let flagCases: [FlagCase] = [
        FlagCase(overrides: ["--heads": "3", "--width": "16"], phrase: "heads (3) must divide the width (16)"),
        FlagCase(overrides: ["--layers": "0"], phrase: "layers must be positive, got 0"),
        FlagCase(overrides: ["--width": "-4"], phrase: "width must be positive, got -4"),
        FlagCase(overrides: ["--heads": "0"], phrase: "heads must be positive, got 0"),
        FlagCase(overrides: ["--steps": "0"], phrase: "steps must be positive, got 0"),
        FlagCase(overrides: ["--batch-size": "0"], phrase: "batch size must be positive, got 0"),
        FlagCase(overrides: ["--context": "0"], phrase: "context length must be positive, got 0"),
        FlagCase(overrides: ["--lr": "0"], phrase: "learning rate must be positive"),
        FlagCase(overrides: ["--lr": "-0.001"], phrase: "learning rate must be positive"),
        FlagCase(overrides: ["--min-lr": "1"], phrase: "minimum learning rate must be between 0 and the learning rate"),
        FlagCase(overrides: ["--beta2": "1"], phrase: "beta2 must be in [0, 1)"),
        FlagCase(overrides: ["--stop-after": "0"], phrase: "stop-after must be positive, got 0"),
        FlagCase(overrides: ["--eval-interval": "-1"], phrase: "eval interval must not be negative, got -1"),
        FlagCase(overrides: ["--log-interval": "0"], phrase: "--log-interval must be at least 1, got 0"),
        FlagCase(overrides: ["--width": "131072"], phrase: "width 131072 is larger than cllm supports"),
        // The sphere runtime's settings.
        FlagCase(overrides: ["--spheres": "0"], phrase: "--spheres must be at least 1, got 0"),
        FlagCase(overrides: ["--threads": "0"], phrase: "--threads must be at least 1, got 0"),
        FlagCase(overrides: ["--stack-size": "16K"], phrase: "is below the minimum of 65536 bytes"),
        FlagCase(overrides: ["--stack-size": "1000000"], phrase: "is not a multiple of the page size"),
        FlagCase(overrides: ["--stack-size": "lots"], phrase: "--stack-size lots is not a size"),
        FlagCase(overrides: ["--spheres": "3"], phrase: "cannot be split evenly across 3 spheres"),
        FlagCase(overrides: ["--spheres": "16", "--batch-size": "16", "--levels": "2"],
                 phrase: "--spheres 16 needs 3 levels of the hierarchy but --levels 2 holds only 13 positions"),
        FlagCase(overrides: ["--spheres": "30000", "--batch-size": "30000"], phrase: "exceeds the hierarchy's 22621 positions"),
    ]

    @Test("invalid training flag", arguments: flagCases)
    func badFlag(_ c: FlagCase) async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        let r = try await ws.run(TinyRun.train(c.overrides))
        expectRefusal(r, mentioning: [c.phrase])
        #expect(!ws.exists("out"), "a refused run must not create its run folder")
    }

    @Test("a negative number as its own argument reaches the setting's check", arguments: [
        (["--lr", "-1"], "learning rate must be positive, got -1.0"),
        (["--steps", "-5"], "steps must be positive, got -5"),
        (["--spheres", "-2"], "--spheres must be at least 1, got -2"),
    ])
    func negativeSeparateValue(_ flags: [String], _ phrase: String) async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        let r = try await ws.run(TinyRun.train([:]) + flags)
        expectRefusal(r, mentioning: [phrase])
        #expect(!r.stderr.contains("Missing value"), "the value must not read as a flag\n\(r)")
        #expect(!ws.exists("out"), "a refused run must not create its run folder")
    }

    @Test("invalid bench flag", arguments: [
        (["bench", "kernels", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["bench", "kernels", "--batch-size", "-1"], "--batch-size must be at least 1, got -1"),
        (["bench", "kernels", "--heads", "3"], "heads (3) must divide the width (128)"),
        (["bench", "kernels", "--context", "0"], "context length must be positive, got 0"),
        (["bench", "kernels", "--batch-size", "100000"], "is more than the 1048576 tokens"),
        (["bench", "memory", "--steps", "-1"], "--steps must not be negative, got -1"),
    ])
    func badBenchFlag(_ args: [String], _ phrase: String) async throws {
        let ws = try Workspace()
        let r = try await ws.run(args)
        expectRefusal(r, mentioning: [phrase])
    }

    @Test("CLLM_KERNELS naming an unknown build, or AVX-512 on a CPU without it",
          arguments: ["avx1024", "avx512"])
    func badKernelBuild(_ value: String) async throws {
        if value == "avx512" && CPUFeatures.hasAVX512 { return }  // that machine can run it
        let ws = try Workspace()
        try ws.writeCorpus()
        let r = try await ws.run(TinyRun.train([:]), environment: ["CLLM_KERNELS": value])
        expectRefusal(r, mentioning: [value == "avx512" ? "CLLM_KERNELS=avx512, but this CPU" : "CLLM_KERNELS must be avx2, avx512 or auto"])
        #expect(!ws.exists("out"), "a refused run must not create its run folder")
    }

    @Test("--resume with nothing to resume")
    func resumeNothing() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        let r = try await ws.run(TinyRun.train(out: "fresh", extra: ["--resume"]))
        expectRefusal(r, mentioning: ["nothing to resume", "fresh/checkpoints"])
        #expect(!ws.exists("fresh"))
    }

    @Test("--resume without --out")
    func resumeWithoutOut() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        let r = try await ws.run(TinyRun.train(out: nil, extra: ["--resume"]))
        expectRefusal(r, mentioning: ["--resume needs --out"])
        #expect(!ws.exists("runs"), "no default run folder may be created")
    }

    @Test("invalid infer flag", arguments: [
        (["--tokens=-1"], "--tokens must not be negative"),
        (["--temperature=-1"], "--temperature must be 0 or positive"),
        (["--temperature", "nan"], "--temperature must be 0 or positive"),
        (["--top-k=-1"], "--top-k must not be negative"),
    ])
    func badInferFlag(_ flags: [String], _ phrase: String) async throws {
        let ws = try Workspace()
        // Flags are checked before the checkpoint is read, so no checkpoint is needed.
        let r = try await ws.run(["infer", "no-checkpoint-here"] + flags)
        expectRefusal(r, mentioning: [phrase])
    }

    // MARK: What is not a checkpoint

    @Test("prompt with a character outside the char vocabulary")
    func promptOutsideVocabulary() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train())
        let r = try await ws.run(["infer", "out", "--prompt", "日本", "--tokens", "5"])
        expectRefusal(r, mentioning: ["'日' (U+65E5)", "position 0", "not in the model's character vocabulary"])
        #expect(r.stdout.isEmpty, "nothing should be generated\n\(r)")
    }

    enum NotACheckpoint: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case missingPath, regularFile, emptyFolder, runFolderWithoutCheckpoints
        var testDescription: String { rawValue }
    }

    @Test("infer, eval and inspect on something that is not a checkpoint", arguments: NotACheckpoint.allCases)
    func notACheckpoint(_ c: NotACheckpoint) async throws {
        let ws = try Workspace()
        let target: String, phrases: [String]
        switch c {
        case .missingPath:
            target = "missing"
            phrases = ["checkpoint directory missing does not exist"]
        case .regularFile:
            try ws.writeCorpus()
            target = "corpus.txt"
            phrases = ["checkpoint corpus.txt is not a directory"]
        case .emptyFolder:
            try FileManager.default.createDirectory(atPath: ws.path("empty"), withIntermediateDirectories: false)
            target = "empty"
            phrases = ["empty/config.json does not exist"]
        case .runFolderWithoutCheckpoints:
            try FileManager.default.createDirectory(atPath: ws.path("run/checkpoints"), withIntermediateDirectories: true)
            try ws.write("run/metrics.jsonl", "")
            target = "run"
            phrases = ["run/config.json does not exist"]
        }
        for command in ["infer", "eval", "inspect"] {
            let r = try await ws.run([command, target])
            expectRefusal(r, mentioning: phrases)
        }
    }
}
