// Directory walking goes through the C library directly (opendir/readdir/stat): the model module stays free
// of Foundation, and symlink identity (device + inode) is only visible there anyway.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The training text: one file, or every text file under a directory joined in a fixed order.
///
/// Loading is deterministic: the same tree gives the same text on every machine, because files are read in
/// byte-wise order of their paths (never the file system's `readdir` order). Binary files are skipped and
/// reported rather than refused, since corpora such as Debian's `fortunes` ship binary `.dat` index files
/// beside the text; a file reachable through several symbolic links is read once.
public struct Corpus: Sendable, Equatable {
    /// All text, files joined with one "\n" where the previous file does not already end in a newline.
    public let text: String
    /// Paths of the files read, in the order their text appears.
    public let files: [String]
    /// What was left out of a directory, and why.
    public let skipped: [SkippedFile]
    /// UTF-8 bytes of `text`.
    public let byteCount: Int

    public init(text: String, files: [String], skipped: [SkippedFile] = []) {
        self.text = text
        self.files = files
        self.skipped = skipped
        self.byteCount = text.utf8.count
    }

    /// Loads a file or, recursively, a directory. Hidden entries (names starting with ".") are ignored;
    /// symbolic links are followed, each real file read once, and link loops are detected.
    public static func load(path: String) throws(CorpusError) -> Corpus {
        guard !path.isEmpty else { throw .notFound(path: path) }
        var st = stat()
        guard stat(path, &st) == 0 else { throw statError(path: path, errno: errno) }
        switch FileKind(st) {
        case .regular:
            let bytes = try readFile(path)
            if bytes.isEmpty { throw .emptyFile(path: path) }
            switch decode(bytes) {
            case .text(let text): return Corpus(text: text, files: [path], skipped: [])
            case .binary(let reason): throw .binaryFile(path: path, reason: reason)
            }
        case .directory:
            return try loadDirectory(path, st)
        case .other:
            throw .notRegularFile(path: path)
        }
    }

    private static func loadDirectory(_ root: String, _ rootStat: stat) throws(CorpusError) -> Corpus {
        var walk = Walk()
        walk.visitedDirectories.insert(FileID(rootStat))
        try walk.visit(directory: root)
        if walk.candidates.isEmpty && walk.skipped.isEmpty { throw .emptyDirectory(path: root) }

        // Global byte-wise path order, so nesting and readdir order cannot change the result.
        walk.candidates.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }

        var firstPath: [FileID: String] = [:]
        var skipped = walk.skipped
        var files: [String] = []
        var joined: [UInt8] = []
        joined.reserveCapacity(walk.candidates.reduce(0) { $0 + $1.size + 1 })
        for candidate in walk.candidates {
            if let first = firstPath[candidate.id] {
                skipped.append(SkippedFile(path: candidate.path, reason: .duplicate(of: first)))
                continue
            }
            firstPath[candidate.id] = candidate.path
            let bytes = try readFile(candidate.path)
            if let reason = binaryReason(bytes) {
                skipped.append(SkippedFile(path: candidate.path, reason: reason))
                continue
            }
            if !bytes.isEmpty, let last = joined.last, last != UInt8(ascii: "\n") { joined.append(UInt8(ascii: "\n")) }
            joined.append(contentsOf: bytes)
            files.append(candidate.path)
        }
        skipped.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        if files.isEmpty { throw .noTextFiles(path: root, skipped: skipped) }
        if joined.isEmpty { throw .emptyText(path: root, files: files.count) }
        // Every piece was validated above, so this decoding never repairs anything.
        return Corpus(text: String(decoding: joined, as: UTF8.self), files: files, skipped: skipped)
    }

    private enum Decoded {
        case text(String)
        case binary(SkipReason)
    }

    /// Text of valid, NUL-free UTF-8, or why the bytes are binary.
    private static func decode(_ bytes: [UInt8]) -> Decoded {
        if let offset = nulOffset(bytes) { return .binary(.containsNUL(offset: offset)) }
        if let text = String(validating: bytes, as: UTF8.self) { return .text(text) }
        return .binary(.invalidUTF8(offset: firstInvalidUTF8Offset(bytes)))
    }

    private static func binaryReason(_ bytes: [UInt8]) -> SkipReason? {
        if case .binary(let reason) = decode(bytes) { return reason }
        return nil
    }

    private static func nulOffset(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBytes { raw -> Int? in
            guard let base = raw.baseAddress, let hit = memchr(base, 0, raw.count) else { return nil }
            return UnsafeRawPointer(hit) - base
        }
    }

    /// Only called once validation has failed, so the slow scalar-by-scalar walk costs nothing in practice.
    private static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .error: return offset
            case .emptyInput: return offset
            }
        }
    }

    /// Reads a whole file; the size from `stat` is only a hint, as files may change while being read.
    private static func readFile(_ path: String) throws(CorpusError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .notReadable(path: path, reason: errorText(errno)) }
        defer { close(fd) }
        var st = stat()
        let hint = fstat(fd, &st) == 0 ? Int(st.st_size) : 0
        var bytes = [UInt8](repeating: 0, count: max(hint, 0) + 1)
        var used = 0
        while true {
            if used == bytes.count { bytes.append(contentsOf: repeatElement(0, count: max(bytes.count, 1 << 16))) }
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + used, $0.count - used) }
            if n == 0 { break }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw .notReadable(path: path, reason: errorText(e))
            }
            used += n
        }
        bytes.removeLast(bytes.count - used)
        return bytes
    }

    fileprivate static func statError(path: String, errno e: Int32) -> CorpusError {
        e == ENOENT || e == ENOTDIR ? .notFound(path: path) : .notReadable(path: path, reason: errorText(e))
    }

    fileprivate static func errorText(_ e: Int32) -> String {
        guard let s = strerror(e) else { return "error \(e)" }
        return String(cString: s)
    }
}

/// A file left out of a directory corpus.
public struct SkippedFile: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: SkipReason

    public init(path: String, reason: SkipReason) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// Why a directory entry contributed no text.
public enum SkipReason: Sendable, Equatable, CustomStringConvertible {
    /// Binary: a NUL byte at this byte offset (text never contains one).
    case containsNUL(offset: Int)
    /// Binary: the bytes from this offset are not UTF-8.
    case invalidUTF8(offset: Int)
    /// The same real file (device and inode) was already read under this path.
    case duplicate(of: String)
    /// A directory reached a second time, through a symbolic link loop or a second link to it.
    case directoryRevisited
    /// A symbolic link whose target does not exist or that loops on itself.
    case brokenLink
    /// A device, FIFO or socket: reading it could block or never end.
    case notRegularFile
    /// The file name is not UTF-8, so it cannot be named in a `String` path.
    case nameNotUTF8

    /// The word used when counting skipped entries in a message.
    public var category: String {
        switch self {
        case .containsNUL, .invalidUTF8: "binary"
        case .duplicate: "duplicate"
        case .directoryRevisited: "revisited directory"
        case .brokenLink: "broken link"
        case .notRegularFile: "not a regular file"
        case .nameNotUTF8: "name not UTF-8"
        }
    }

    public var description: String {
        switch self {
        case .containsNUL(let offset): "binary: NUL byte at offset \(offset)"
        case .invalidUTF8(let offset): "binary: not valid UTF-8 at byte offset \(offset)"
        case .duplicate(let first): "same file as \(first), already read"
        case .directoryRevisited: "directory already visited (symbolic link loop or second link to it)"
        case .brokenLink: "symbolic link whose target does not exist or loops"
        case .notRegularFile: "neither a regular file nor a directory"
        case .nameNotUTF8: "file name is not valid UTF-8"
        }
    }
}

public enum CorpusError: Error, Equatable, CustomStringConvertible {
    case notFound(path: String)
    case notReadable(path: String, reason: String)
    case notRegularFile(path: String)
    case binaryFile(path: String, reason: SkipReason)
    case emptyFile(path: String)
    case emptyDirectory(path: String)
    case noTextFiles(path: String, skipped: [SkippedFile])
    case emptyText(path: String, files: Int)

    public var description: String {
        switch self {
        case .notFound(let path): "corpus path \(path) does not exist"
        case .notReadable(let path, let reason): "cannot read corpus path \(path): \(reason)"
        case .notRegularFile(let path): "corpus path \(path) is neither a regular file nor a directory"
        case .binaryFile(let path, let reason): "corpus file \(path) is not UTF-8 text (\(reason))"
        case .emptyFile(let path): "corpus file \(path) is empty"
        case .emptyDirectory(let path): "corpus directory \(path) contains no files (hidden entries are ignored)"
        case .noTextFiles(let path, let skipped):
            "no readable text files under \(path) (skipped: \(CorpusError.summary(skipped)))"
        case .emptyText(let path, let files):
            "corpus \(path) holds no text: its \(files == 1 ? "only text file is" : "\(files) text files are all") empty"
        }
    }

    /// "3 binary, 1 duplicate", in a fixed order of first appearance.
    static func summary(_ skipped: [SkippedFile]) -> String {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for s in skipped {
            if counts[s.reason.category] == nil { order.append(s.reason.category) }
            counts[s.reason.category, default: 0] += 1
        }
        return order.map { "\(counts[$0]!) \($0)" }.joined(separator: ", ")
    }
}

/// A real file's identity, so several links to it are read once.
private struct FileID: Hashable {
    let device: UInt64
    let inode: UInt64
    init(_ st: stat) {
        device = UInt64(truncatingIfNeeded: st.st_dev)
        inode = UInt64(truncatingIfNeeded: st.st_ino)
    }
}

private enum FileKind {
    case regular, directory, other
    init(_ st: stat) {
        switch st.st_mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        default: self = .other
        }
    }
}

/// The recursive directory walk: collects regular files (not yet read) and what it had to leave out.
private struct Walk {
    struct Candidate {
        let path: String
        let id: FileID
        let size: Int
    }

    var candidates: [Candidate] = []
    var skipped: [SkippedFile] = []
    /// Directories already entered: a link back to any of them ends the descent, so loops cannot hang.
    var visitedDirectories: Set<FileID> = []

    mutating func visit(directory: String) throws(CorpusError) {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        for name in try Walk.names(in: directory) {
            let path = prefix + name.text
            if !name.isUTF8 {
                skipped.append(SkippedFile(path: path, reason: .nameNotUTF8))
                continue
            }
            var st = stat()
            guard stat(path, &st) == 0 else {
                let e = errno
                if e == ENOENT || e == ELOOP {
                    skipped.append(SkippedFile(path: path, reason: .brokenLink))
                    continue
                }
                throw Corpus.statError(path: path, errno: e)
            }
            switch FileKind(st) {
            case .regular:
                candidates.append(Candidate(path: path, id: FileID(st), size: Int(st.st_size)))
            case .directory:
                guard visitedDirectories.insert(FileID(st)).inserted else {
                    skipped.append(SkippedFile(path: path, reason: .directoryRevisited))
                    continue
                }
                try visit(directory: path)
            case .other:
                skipped.append(SkippedFile(path: path, reason: .notRegularFile))
            }
        }
    }

    struct Name {
        let text: String
        let isUTF8: Bool
    }

    /// Visible entry names of a directory in byte-wise order (the order decides which of two links to one
    /// directory is walked, so it must not be readdir's).
    static func names(in directory: String) throws(CorpusError) -> [Name] {
        guard let dir = opendir(directory) else {
            throw .notReadable(path: directory, reason: Corpus.errorText(errno))
        }
        defer { closedir(dir) }
        var names: [(bytes: [UInt8], name: Name)] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                // readdir returns nil both at the end and on failure; only errno tells them apart.
                if errno != 0 { throw .notReadable(path: directory, reason: Corpus.errorText(errno)) }
                break
            }
            let bytes: [UInt8] = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            if bytes.first == UInt8(ascii: ".") { continue }  // hidden, ".", ".."
            if let text = String(validating: bytes, as: UTF8.self) {
                names.append((bytes, Name(text: text, isUTF8: true)))
            } else {
                names.append((bytes, Name(text: String(decoding: bytes, as: UTF8.self), isUTF8: false)))
            }
        }
        names.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        return names.map(\.name)
    }
}
