import Foundation
import Testing

/// A checkpoint that cannot be written (the disk is full) fails with a clear message and leaves the
/// previous checkpoint intact and usable. Uses a 4 MiB tmpfs, so it needs root (as CI runs).
@Suite("End-to-end: full disk", .tags(.endToEnd), .timeLimit(.minutes(5)))
struct FullDiskTests {
    static let canMount: Bool = {
        guard getuid() == 0 else { return false }
        let dir = "/tmp/cllm-mount-probe-\(getpid())"
        mkdir(dir, 0o755)
        defer { rmdir(dir) }
        guard mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0 else { return false }
        umount(dir)
        return true
    }()

    @Test("a full disk during a checkpoint keeps the previous checkpoint", .enabled(if: canMount, "needs root to mount a tmpfs"))
    func fullDisk() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        let disk = ws.path("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: false)
        try #require(mount("tmpfs", disk, "tmpfs", 0, "size=4m") == 0)
        defer { umount2(disk, Int32(MNT_DETACH)) }
        let run = ["--steps": "4", "--checkpoint-interval": "2", "--sample-length": "0"]
        try await ws.succeed(TinyRun.train(out: "disk/run", run, extra: ["--stop-after", "2", "--no-preflight"]))
        let previous = checkpointDirectory("disk/run", step: 2)
        let before = try ws.bytes(previous + "/model.safetensors")
        // Fill the disk to the last block.
        let fd = open(disk + "/filler", O_WRONLY | O_CREAT, 0o644)
        try #require(fd >= 0)
        let block = [UInt8](repeating: 0, count: 4096)
        while write(fd, block, block.count) > 0 {}
        close(fd)

        let r = try await ws.run(TinyRun.train(out: "disk/run", run, extra: ["--resume", "--no-preflight"]))
        expectRefusal(r, mentioning: ["cannot write checkpoint", "No space left on device"])
        #expect(try ws.bytes(previous + "/model.safetensors") == before)
        #expect(!ws.list("disk/run/checkpoints").contains { $0.contains(".tmp-") }, "a temporary checkpoint was left behind")
        #expect(!ws.list("disk/run/checkpoints").contains(checkpointDirectory("x", step: 4).split(separator: "/").last.map(String.init) ?? ""))
        // The surviving checkpoint still loads.
        let inspect = try await ws.run(["inspect", ws.path("disk/run")])
        #expect(inspect.status == 0, "\(inspect)")
        #expect(inspect.stdout.contains("step 2 of 4"))
    }
}
