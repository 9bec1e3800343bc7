import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

// Helpers shared by the end-to-end tests: finding the built `cllm`, running it with a time limit, and a
// scratch folder per test with a small English corpus in it.

extension Tag {
    /// Tests that run the built `cllm` binary as a user would.
    @Tag static var endToEnd: Self
}

/// What one run of the binary did.
struct CLIResult: CustomStringConvertible {
    var arguments: [String]
    /// Exit status, or the signal number when `exited` is false.
    var status: Int32
    /// True when the process called exit (Process's `.exit`), false when a signal ended it.
    var exited: Bool
    /// True when the test had to kill it after the time limit.
    var timedOut: Bool
    var stdout: String
    var stderr: String

    var succeeded: Bool { exited && status == 0 && !timedOut }

    var description: String {
        "cllm \(arguments.joined(separator: " ")) → \(timedOut ? "timed out, " : "")\(exited ? "exit status" : "signal") \(status)\n--- stdout:\n\(stdout)--- stderr:\n\(stderr)---"
    }
}

enum CLLMBinary {
    /// Path of the `cllm` executable, or nil (with the places tried in `searched`).
    static let path: String? = candidates().first(where: isExecutable)

    static var searched: String { candidates().joined(separator: ", ") }

    /// In order: $CLLM_BINARY; next to the test bundle (the `debug` folder of whatever scratch path
    /// `swift test` used, found from the running executable and the loaded bundles); then
    /// `<package>/.build/debug/cllm`, the package found by walking up from this file.
    static func candidates() -> [String] {
        var result: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["CLLM_BINARY"], !explicit.isEmpty {
            result.append(explicit)
        }
        var starts: [String] = []
        if let first = CommandLine.arguments.first, !first.isEmpty { starts.append(first) }
        if let main = Bundle.main.executablePath { starts.append(main) }
        starts.append(contentsOf: Bundle.allBundles.map(\.bundlePath).filter { $0.hasSuffix(".xctest") })
        for start in starts {
            // Linux: <scratch>/debug/cllmPackageTests.xctest is the executable itself;
            // macOS: <scratch>/debug/cllmPackageTests.xctest/Contents/MacOS/cllmPackageTests.
            var dir = URL(fileURLWithPath: start).resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<4 {
                result.append(dir.appendingPathComponent("cllm").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                result.append(dir.appendingPathComponent(".build/debug/cllm").path)
                break
            }
            dir = dir.deletingLastPathComponent()
        }
        var seen = Set<String>()
        return result.filter { seen.insert($0).inserted }
    }

    static func isExecutable(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && FileManager.default.isExecutableFile(atPath: path)
    }
}

/// A fresh folder `/tmp/cllm-e2e-<random>` for one test; every run of the binary starts there, so relative
/// paths (and a default `runs/` folder) land inside it. Removed when the test ends unless $CLLM_E2E_KEEP is
/// set.
final class Workspace: Sendable {
    let root: String

    /// Seconds a single run may take before it is killed and the test fails ("no hang"); 120 unless
    /// $CLLM_E2E_TIME_LIMIT says otherwise.
    static let timeLimit: Double = ProcessInfo.processInfo.environment["CLLM_E2E_TIME_LIMIT"].flatMap(Double.init) ?? 120

    init() throws {
        root = "/tmp/cllm-e2e-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
    }

    deinit {
        if ProcessInfo.processInfo.environment["CLLM_E2E_KEEP"] == nil {
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    func path(_ relative: String) -> String { root + "/" + relative }

    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path(relative)) }

    func isDirectory(_ relative: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path(relative), isDirectory: &isDirectory) && isDirectory.boolValue
    }

    func write(_ relative: String, _ text: String) throws { try write(relative, Array(text.utf8)) }

    func write(_ relative: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: path(relative))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func bytes(_ relative: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(relative)))) }

    func text(_ relative: String) throws -> String { String(decoding: try bytes(relative), as: UTF8.self) }

    func list(_ relative: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(relative))) ?? []).sorted()
    }

    func copy(_ from: String, to: String) throws {
        try FileManager.default.copyItem(atPath: path(from), toPath: path(to))
    }

    /// Writes the default test corpus (about 4 KB of plain ASCII English) and returns its relative path.
    @discardableResult
    func writeCorpus(_ relative: String = "corpus.txt") throws -> String {
        try write(relative, Corpus.english)
        return relative
    }

    /// Runs `cllm` with `arguments` in this workspace (with `environment` added to the test's own); kills it
    /// after `timeLimit` seconds. `kill -9`s it once `killWhen` holds (`KillWatcher`).
    func run(
        _ arguments: [String], in directory: String? = nil, killWhen: (@Sendable () -> Bool)? = nil,
        environment: [String: String] = [:]
    ) async throws -> CLIResult {
        let binary = try #require(
            CLLMBinary.path, "cllm binary not found (build it with `swift build`); looked in: \(CLLMBinary.searched)")
        let id = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let outPath = path(".stdout-\(id)"), errPath = path(".stderr-\(id)")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory ?? root)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        try? outHandle.close()
        try? errHandle.close()

        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int(Workspace.timeLimit * 1000))
        var timedOut = false
        let watcher = killWhen.map { KillWatcher(pid: process.processIdentifier, when: $0) }
        var killed = false
        while process.isRunning && clock.now < deadline {
            if let watcher, watcher.fired {
                killed = true
                try await Workspace.wait(for: process, seconds: 5)
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        watcher?.stop()
        // The process may have ended just as the watcher fired.
        if let watcher, watcher.fired { killed = true }
        if process.isRunning && !killed {
            timedOut = true
            process.terminate()
            try await Workspace.wait(for: process, seconds: 3)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            try await Workspace.wait(for: process, seconds: 3)
        }
        // Foundation notices the end of a child through a descriptor the child inherits; a grandchild that
        // kept it would leave `isRunning` true for ever, so only a process seen to end is waited for.
        let ended = !process.isRunning
        if ended { process.waitUntilExit() }
        let result = CLIResult(
            arguments: arguments, status: ended ? process.terminationStatus : SIGKILL,
            exited: ended && process.terminationReason == .exit,
            timedOut: timedOut,
            stdout: String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data(), as: UTF8.self),
            stderr: String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data(), as: UTF8.self))
        #expect(!timedOut, "no hang: killed after \(Int(Workspace.timeLimit)) s\n\(result)")
        return result
    }

    private static func wait(for process: Process, seconds: Int) async throws {
        let clock = ContinuousClock()
        let until = clock.now + .seconds(seconds)
        while process.isRunning && clock.now < until { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// Runs `cllm` and requires exit status 0.
    @discardableResult
    func succeed(_ arguments: [String], in directory: String? = nil, sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> CLIResult
    {
        let r = try await run(arguments, in: directory)
        try #require(r.succeeded, "expected success\n\(r)", sourceLocation: sourceLocation)
        return r
    }
}

/// A small, fast training configuration; any flag can be overridden or added.
enum TinyRun {
    static let defaults: [(String, String)] = [
        ("--layers", "1"), ("--heads", "2"), ("--width", "16"), ("--context", "16"), ("--batch-size", "4"),
        ("--steps", "6"), ("--eval-interval", "0"), ("--sample-length", "20"),
    ]

    /// `train --data <data> --out <out>` plus the tiny defaults with `overrides` applied (a value of nil
    /// drops the flag), then `extra` verbatim. Values are passed as `--flag=value` so negative numbers
    /// parse as values.
    static func train(
        data: String? = "corpus.txt", out: String? = "out", _ overrides: [String: String?] = [:], extra: [String] = []
    ) -> [String] {
        var args = ["train"]
        if let data { args.append("--data=\(data)") }
        if let out { args.append("--out=\(out)") }
        var used = Set<String>()
        for (flag, value) in defaults {
            used.insert(flag)
            if let override = overrides[flag] {
                if let v = override { args.append("\(flag)=\(v)") }
            } else {
                args.append("\(flag)=\(value)")
            }
        }
        for (flag, value) in overrides.sorted(by: { $0.key < $1.key }) where !used.contains(flag) {
            if let v = value { args.append("\(flag)=\(v)") }
        }
        return args + extra
    }
}

/// The run folder layout the CLI promises.
func checkpointDirectory(_ out: String, step: Int) -> String {
    let digits = String(step)
    return "\(out)/checkpoints/step-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

/// A refused command: non-zero exit through `exit` (not a signal, not a hang, no Swift runtime trap), an
/// "Error: " message, and every phrase of `phrases` somewhere in its output.
func expectRefusal(
    _ r: CLIResult, mentioning phrases: [String], sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(!r.timedOut, "hung\n\(r)", sourceLocation: sourceLocation)
    #expect(r.exited, "killed by signal \(r.status), expected a clean refusal\n\(r)", sourceLocation: sourceLocation)
    #expect(r.status != 0, "expected a non-zero exit status\n\(r)", sourceLocation: sourceLocation)
    #expect(![132, 134, 136, 139].contains(r.status), "exit status \(r.status) looks like a crash\n\(r)", sourceLocation: sourceLocation)
    for trap in ["Fatal error", "Stack dump", "Illegal instruction", "Segmentation fault"] {
        #expect(!r.stderr.contains(trap), "runtime trap (\(trap))\n\(r)", sourceLocation: sourceLocation)
    }
    #expect(r.stderr.contains("Error: "), "expected an \"Error: …\" line on stderr\n\(r)", sourceLocation: sourceLocation)
    for phrase in phrases {
        #expect(
            r.stderr.contains(phrase) || r.stdout.contains(phrase), "expected the message to mention \"\(phrase)\"\n\(r)",
            sourceLocation: sourceLocation)
    }
}

/// Lines of a JSON-lines file as dictionaries (a line that is not a JSON object fails the test).
func jsonLines(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
    try text.split(separator: "\n").map { line in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any], "not a JSON object: \(line)", sourceLocation: sourceLocation)
    }
}

/// The number after `label` in `text` ("validation loss 3.9519 over …" → 3.9519), first occurrence.
func number(after label: String, in text: String) -> Double? {
    guard let range = text.range(of: label) else { return nil }
    let rest = text[range.upperBound...].drop(while: { $0 == " " })
    return Double(String(rest.prefix(while: { $0.isNumber || $0 == "." || $0 == "-" || $0 == "e" })))
}

enum Corpus {
    /// About 4 KB of plain English (ASCII only), written for these tests.
    static let english: String = {
        let paragraphs = [
            """
            The old lighthouse stood at the end of the harbour wall, and every evening the keeper climbed \
            its hundred steps to light the lamp. Ships that passed in the night saw the beam turn slowly \
            across the water, and the sailors knew that they were close to home.
            """,
            """
            In the village below, the baker rose before dawn. She mixed flour, water and salt, and left the \
            dough to rest while the ovens warmed. By the time the fishing boats came back, the smell of fresh \
            bread had drifted down every street to the quay.
            """,
            """
            Children ran along the beach after school, looking for shells and smooth green glass. When the \
            tide went out they built castles of wet sand, with towers and walls and a moat that filled with \
            sea water as the waves returned.
            """,
            """
            On Sundays the whole town gathered in the square. There was music, a little dancing, and long \
            arguments about the weather, the price of fish, and whether the new road would ever be finished. \
            Nobody minded that the arguments never ended.
            """,
        ]
        var text = ""
        for round in 0..<4 {
            for (i, p) in paragraphs.enumerated() where (i + round) % 5 != 4 {
                text += p + "\n\n"
            }
            text += "Chapter \(round + 2).\n\n"
        }
        return text
    }()
}

/// Polls a condition every millisecond on a thread of its own and `kill -9`s a process the first time it
/// holds. Not on the test's task pool: other tests running beside this one can keep that pool busy for
/// longer than a whole short run lasts, so a run would finish before a task there noticed its moment.
final class KillWatcher: Sendable {
    private let done = Atomic<Bool>(false)
    private let killed = Atomic<Bool>(false)

    init(pid: Int32, when condition: @escaping @Sendable () -> Bool) {
        Thread.detachNewThread { [self] in
            while !done.load(ordering: .acquiring) {
                if condition() {
                    kill(pid, SIGKILL)  // as `kill -9`: no handler, no clean-up
                    killed.store(true, ordering: .releasing)
                    return
                }
                usleep(1000)
            }
        }
    }

    /// Whether the process was killed.
    var fired: Bool { killed.load(ordering: .acquiring) }

    /// Stops polling (once the process has ended on its own).
    func stop() { done.store(true, ordering: .releasing) }
}
