#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import CLLMModel

/// A fresh directory under /tmp for one test's files, removed by `remove()`.
struct CorpusFixture {
    let root: String

    init() throws {
        root = "/tmp/cllm-tests-\(String(UInt64.random(in: 0 ... .max), radix: 16))"
        try #require(mkdir(root, 0o755) == 0, "cannot create \(root)")
    }

    func path(_ relative: String) -> String { root + "/" + relative }

    func create(_ relative: String, _ text: String) throws { try create(relative, bytes: Array(text.utf8)) }

    func create(_ relative: String, bytes: [UInt8]) throws {
        let fd = open(path(relative), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0, "cannot create \(relative)")
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        try #require(written == bytes.count)
    }

    func directory(_ relative: String) throws { try #require(mkdir(path(relative), 0o755) == 0) }

    func link(_ relative: String, to target: String) throws { try #require(symlink(target, path(relative)) == 0) }

    /// Recursive removal without following links (the fixtures contain link loops).
    func remove() { Self.remove(root) }

    private static func remove(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            chmod(path, 0o755)
            if let dir = opendir(path) {
                var names: [String] = []
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(dir)
                for name in names { remove(path + "/" + name) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// Runs `body` with a fresh fixture, always cleaning up.
func withCorpusFixture(_ body: (CorpusFixture) throws -> Void) throws {
    let fixture = try CorpusFixture()
    defer { fixture.remove() }
    try body(fixture)
}

@Suite struct CorpusTests {
    @Test func singleFileLoadsVerbatim() throws {
        try withCorpusFixture { f in
            let text = "First Citizen:\nBefore we proceed, héllo 日本 🙂"
            try f.create("one.txt", text)
            let corpus = try Corpus.load(path: f.path("one.txt"))
            #expect(corpus.text == text)
            #expect(corpus.files == [f.path("one.txt")])
            #expect(corpus.skipped.isEmpty)
            #expect(corpus.byteCount == text.utf8.count)
        }
    }

    /// One tree with every kind of entry: nested text, binary, invalid UTF-8, hidden entries, a symlink
    /// duplicate, directory link loops, a self-referential link pair and a dangling link.
    @Test(.timeLimit(.minutes(1))) func directoryWalk() throws {
        try withCorpusFixture { f in
            try f.create("b.txt", "bravo")
            try f.create("a.txt", "alpha\n")
            try f.directory("sub")
            try f.directory("sub/deeper")
            try f.create("sub/c.txt", "charlie")
            try f.create("sub/deeper/d.txt", "délta 日本\n")
            try f.create("bin.dat", bytes: [0x01, 0x00, 0x02])
            try f.create("bad.txt", bytes: [0x61, 0xFF, 0x62])
            try f.create(".hidden", "secret")
            try f.directory(".git")
            try f.create(".git/e.txt", "hidden too")
            try f.link("a.u8", to: "a.txt")
            try f.link("loop", to: ".")
            try f.link("sub/up", to: "..")
            try f.link("x1", to: "x2")
            try f.link("x2", to: "x1")
            try f.link("dangling", to: "nowhere")

            let corpus = try Corpus.load(path: f.root)
            #expect(corpus.text == "alpha\nbravo\ncharlie\ndélta 日本\n")
            #expect(corpus.byteCount == corpus.text.utf8.count)
            #expect(corpus.files == ["a.txt", "b.txt", "sub/c.txt", "sub/deeper/d.txt"].map(f.path))
            let expected: [SkippedFile] = [
                SkippedFile(path: f.path("a.u8"), reason: .duplicate(of: f.path("a.txt"))),
                SkippedFile(path: f.path("bad.txt"), reason: .invalidUTF8(offset: 1)),
                SkippedFile(path: f.path("bin.dat"), reason: .containsNUL(offset: 1)),
                SkippedFile(path: f.path("dangling"), reason: .brokenLink),
                SkippedFile(path: f.path("loop"), reason: .directoryRevisited),
                SkippedFile(path: f.path("sub/up"), reason: .directoryRevisited),
                SkippedFile(path: f.path("x1"), reason: .brokenLink),
                SkippedFile(path: f.path("x2"), reason: .brokenLink),
            ]
            #expect(corpus.skipped == expected)
            #expect(!corpus.text.contains("secret") && !corpus.text.contains("hidden too"))
        }
    }

    /// A link found before its target still yields the target's path first: order is by path, and the
    /// later path is the duplicate.
    @Test func duplicateKeepsFirstPathInOrder() throws {
        try withCorpusFixture { f in
            try f.create("z.txt", "zulu\n")
            try f.link("a.txt", to: "z.txt")
            let corpus = try Corpus.load(path: f.root)
            #expect(corpus.files == [f.path("a.txt")])
            #expect(corpus.skipped == [SkippedFile(path: f.path("z.txt"), reason: .duplicate(of: f.path("a.txt")))])
            #expect(corpus.text == "zulu\n")
        }
    }

    /// Byte-wise order of whole paths: uppercase before lowercase, "a.txt" before "a/x" ('.' < '/'),
    /// "é" (0xC3 …) after "z"; files created in another order so readdir order cannot pass by luck.
    @Test func filesAreReadInByteWiseOrder() throws {
        try withCorpusFixture { f in
            try f.create("é.txt", "6")
            try f.create("z.txt", "5")
            try f.directory("a")
            try f.create("a/x", "4")
            try f.create("a.txt", "3")
            try f.create("a b", "2")
            try f.create("Z.txt", "1")
            let corpus = try Corpus.load(path: f.root + "/")  // a trailing slash must not double up
            #expect(corpus.text == "1\n2\n3\n4\n5\n6")
            #expect(corpus.files == ["Z.txt", "a b", "a.txt", "a/x", "z.txt", "é.txt"].map(f.path))
        }
    }

    @Test func emptyFilesInDirectoryAddNoSeparator() throws {
        try withCorpusFixture { f in
            try f.create("a", "x")
            try f.create("b", "")
            try f.create("c", "y\n")
            let corpus = try Corpus.load(path: f.root)
            #expect(corpus.text == "x\ny\n")
            #expect(corpus.files.count == 3)
        }
    }

    @Test func missingPath() throws {
        try withCorpusFixture { f in
            let missing = f.path("nope.txt")
            #expect(throws: CorpusError.notFound(path: missing)) { try Corpus.load(path: missing) }
            #expect(CorpusError.notFound(path: missing).description == "corpus path \(missing) does not exist")
            #expect(throws: CorpusError.notFound(path: "")) { try Corpus.load(path: "") }
            try f.link("dangling", to: "nowhere")
            #expect(throws: CorpusError.notFound(path: f.path("dangling"))) { try Corpus.load(path: f.path("dangling")) }
        }
    }

    @Test(.enabled(if: getuid() != 0, "root reads files whatever their permissions"))
    func unreadableFile() throws {
        try withCorpusFixture { f in
            try f.create("secret.txt", "text")
            #expect(chmod(f.path("secret.txt"), 0) == 0)
            let error = #expect(throws: CorpusError.self) { try Corpus.load(path: f.path("secret.txt")) }
            #expect(error == .notReadable(path: f.path("secret.txt"), reason: "Permission denied"))
            #expect(error?.description == "cannot read corpus path \(f.path("secret.txt")): Permission denied")
        }
    }

    @Test func singleBinaryFileIsAnError() throws {
        try withCorpusFixture { f in
            try f.create("index.dat", bytes: [0, 0, 0, 2, 0x41])
            let nul = f.path("index.dat")
            #expect(throws: CorpusError.binaryFile(path: nul, reason: .containsNUL(offset: 0))) {
                try Corpus.load(path: nul)
            }
            #expect(CorpusError.binaryFile(path: nul, reason: .containsNUL(offset: 0)).description
                == "corpus file \(nul) is not UTF-8 text (binary: NUL byte at offset 0)")

            try f.create("latin1.txt", bytes: Array("caf".utf8) + [0xE9, 0x0A])  // "café" in Latin-1
            #expect(throws: CorpusError.binaryFile(path: f.path("latin1.txt"), reason: .invalidUTF8(offset: 3))) {
                try Corpus.load(path: f.path("latin1.txt"))
            }
        }
    }

    @Test func emptyFileAndEmptyDirectory() throws {
        try withCorpusFixture { f in
            try f.create("empty.txt", "")
            #expect(throws: CorpusError.emptyFile(path: f.path("empty.txt"))) { try Corpus.load(path: f.path("empty.txt")) }
            #expect(CorpusError.emptyFile(path: "x").description == "corpus file x is empty")

            // Only hidden entries and empty subdirectories: nothing to read.
            try f.directory("d")
            try f.directory("d/sub")
            try f.create("d/.hidden", "text")
            #expect(throws: CorpusError.emptyDirectory(path: f.path("d"))) { try Corpus.load(path: f.path("d")) }
        }
    }

    @Test func directoryWithOnlySkippedFiles() throws {
        try withCorpusFixture { f in
            try f.create("a.dat", bytes: [1, 0])
            try f.create("b.dat", bytes: [0xFF])
            try f.create("c.dat", bytes: [0x00])
            try f.link("d.dat", to: "a.dat")
            let error = #expect(throws: CorpusError.self) { try Corpus.load(path: f.root) }
            guard case .noTextFiles(let path, let skipped) = error else {
                Issue.record("expected noTextFiles, got \(String(describing: error))")
                return
            }
            #expect(path == f.root)
            #expect(skipped.count == 4)
            #expect(error?.description == "no readable text files under \(f.root) (skipped: 3 binary, 1 duplicate)")
        }
    }

    @Test func directoryOfEmptyFilesHoldsNoText() throws {
        try withCorpusFixture { f in
            try f.create("a.txt", "")
            try f.create("b.txt", "")
            #expect(throws: CorpusError.emptyText(path: f.root, files: 2)) { try Corpus.load(path: f.root) }
            #expect(CorpusError.emptyText(path: "x", files: 2).description == "corpus x holds no text: its 2 text files are all empty")
        }
    }

    @Test func fifoIsNeitherFileNorDirectory() throws {
        try withCorpusFixture { f in
            try #require(mkfifo(f.path("pipe"), 0o644) == 0)
            #expect(throws: CorpusError.notRegularFile(path: f.path("pipe"))) { try Corpus.load(path: f.path("pipe")) }
            try f.create("t.txt", "text")
            let corpus = try Corpus.load(path: f.root)  // must not block reading the FIFO
            #expect(corpus.text == "text")
            #expect(corpus.skipped == [SkippedFile(path: f.path("pipe"), reason: .notRegularFile)])
        }
    }

    /// Debian's `fortunes` (the default corpus): text files read once each, `.dat` indexes skipped as
    /// binary, `.u8` links skipped as duplicates.
    @Test(.enabled(if: access("/usr/share/games/fortunes", R_OK) == 0, "fortunes not installed"))
    func fortunes() throws {
        let corpus = try Corpus.load(path: "/usr/share/games/fortunes")
        #expect(corpus.files.count > 10)
        #expect(!corpus.files.contains { $0.hasSuffix(".dat") || $0.hasSuffix(".u8") })
        #expect(corpus.skipped.contains { $0.path.hasSuffix(".dat") && $0.reason.category == "binary" })
        #expect(corpus.skipped.contains { if case .duplicate = $0.reason { $0.path.hasSuffix(".u8") } else { false } })
        #expect(corpus.byteCount > 1_000_000)
        #expect(corpus.text.contains("%\n"))
    }

    @Test(.enabled(if: access(tinyShakespearePath, R_OK) == 0, "tinyshakespeare absent"))
    func tinyShakespeareBytesAndSpeed() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let corpus = try Corpus.load(path: tinyShakespearePath)
        // About 0.5 ms in release and 3 ms in debug builds; a generous bound that still catches a slow path.
        #expect(clock.now - start < .milliseconds(500))
        #expect(corpus.byteCount == 1_115_394)
        #expect(corpus.text.hasPrefix("First Citizen:\n"))
    }
}
