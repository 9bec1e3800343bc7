#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The enum's own `read`/`write`/`rename` shadow the C functions inside it; these reach the C ones.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
    guard let base = buffer.baseAddress else { return 0 }
    return read(fd, base, buffer.count)
}

private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int {
    guard let base = buffer.baseAddress else { return 0 }
    return write(fd, base, buffer.count)
}

private func systemRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }

/// A failed file-system call: which operation, on which path, and the system's reason (strerror text).
public struct FileError: Error, Equatable, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32

    public init(_ operation: String, _ path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var reason: String { String(cString: strerror(code)) }
    public var description: String { "cannot \(operation) \(path): \(reason)" }
}

/// Plain POSIX file I/O with explicit durability, so that "written" means "on disk".
///
/// Checkpoints must survive a crash or power loss at any instant: a new file is fully written and fsynced
/// before it is renamed into place, and the directory holding it is fsynced so that the rename itself
/// is durable. Foundation hides these steps; the syscalls make them visible and their failures precise.
public enum AtomicFile {
    /// The whole content of a file.
    public static func read(_ path: String) throws(FileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw FileError("open", path, code: errno) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw FileError("stat", path, code: errno) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw FileError("read", path, code: EISDIR) }
        var bytes = [UInt8](repeating: 0, count: max(Int(info.st_size), 0))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { systemRead(fd, UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("read", path, code: errno)
            }
            if n == 0 { break }
            filled += n
        }
        if filled < bytes.count {
            bytes.removeSubrange(filled...)  // the file shrank since fstat
        } else {
            // The size is only a hint: keep reading in case the file grew.
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = chunk.withUnsafeMutableBytes { systemRead(fd, $0) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError("read", path, code: errno)
                }
                if n == 0 { break }
                bytes.append(contentsOf: chunk[0..<n])
            }
        }
        return bytes
    }

    /// Replaces `path` atomically: readers see the old content or the new, never a mixture or nothing.
    public static func write(_ bytes: [UInt8], to path: String) throws(FileError) {
        let temporary = "\(path).tmp-\(getpid())"
        do {
            try writeDurably(bytes, to: temporary)
            try rename(temporary, to: path)
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(parent(of: path))
    }

    /// Creates or truncates `path`, writes all bytes, and fsyncs before closing.
    public static func writeDurably(_ bytes: [UInt8], to path: String) throws(FileError) {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(FileError) in try writeDurably(chunks: [buffer], to: path) }
        }
        try result.get()
    }

    /// Same, for data that lives in several buffers (a header and a tensor straight from memory), so no
    /// contiguous copy of the whole file is ever made.
    public static func writeDurably(chunks: [UnsafeRawBufferPointer], to path: String) throws(FileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw FileError("open for writing", path, code: errno) }
        for chunk in chunks {
            var written = 0
            while written < chunk.count {
                let n = systemWrite(fd, UnsafeRawBufferPointer(rebasing: chunk[written...]))
                if n < 0 {
                    if errno == EINTR { continue }
                    let code = errno
                    close(fd)
                    throw FileError("write", path, code: code)
                }
                written += n
            }
        }
        if fsync(fd) != 0 {
            let code = errno
            close(fd)
            throw FileError("fsync", path, code: code)
        }
        // close can report a deferred write error (NFS, quota); a checkpoint must not ignore it.
        if close(fd) != 0 { throw FileError("close", path, code: errno) }
    }

    /// Flushes a directory's entries (creations, renames) to disk.
    public static func syncDirectory(_ path: String) throws(FileError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FileError("open directory", path, code: errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw FileError("fsync directory", path, code: errno) }
    }

    public static func rename(_ from: String, to: String) throws(FileError) {
        if systemRename(from, to) != 0 { throw FileError("rename \(from) to", to, code: errno) }
    }

    /// Creates a directory and any missing parents (`mkdir -p`).
    public static func makeDirectories(_ path: String) throws(FileError) {
        if isDirectory(path) { return }
        let up = parent(of: path)
        if up != path, !exists(up) { try makeDirectories(up) }
        if mkdir(path, 0o755) != 0, errno != EEXIST { throw FileError("create directory", path, code: errno) }
        if !isDirectory(path) { throw FileError("create directory", path, code: ENOTDIR) }
    }

    /// Removes a file or a directory tree (`rm -rf`); a missing path is not an error.
    public static func removeTree(_ path: String) throws(FileError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return }
            throw FileError("stat", path, code: errno)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try list(path) { try removeTree("\(path)/\(name)") }
            if rmdir(path) != 0 { throw FileError("remove directory", path, code: errno) }
        } else if unlink(path) != 0 {
            throw FileError("remove", path, code: errno)
        }
    }

    /// Names in a directory, without "." and "..", sorted so callers see a stable order.
    public static func list(_ path: String) throws(FileError) -> [String] {
        guard let dir = opendir(path) else { throw FileError("list directory", path, code: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The directory holding `path` ("." for a bare name), as `dirname` would say.
    public static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        var up = trimmed[..<slash]
        while up.count > 1, up.hasSuffix("/") { up.removeLast() }
        return String(up)
    }
}
