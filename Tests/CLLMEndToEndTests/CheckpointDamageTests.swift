import Foundation
import Testing

/// A damaged checkpoint is refused by every reader with a message that names the file and the damage.
@Suite("End-to-end: damaged checkpoints", .tags(.endToEnd), .timeLimit(.minutes(5)))
struct CheckpointDamageEndToEndTests {
    enum Damage: String, CaseIterable, Sendable, CustomTestStringConvertible {
        /// model.safetensors cut to half its length.
        case truncatedModel
        /// Bytes inside the safetensors JSON header replaced by garbage, length kept.
        case malformedHeader
        /// config.json's n_embd changed, state.json left alone: the two disagree.
        case configDisagreesWithState
        /// n_layer 1 → 2 in both config.json and state.json: the tensor set no longer matches.
        case extraLayerInConfig
        /// width 16 → 8 in both config.json and state.json: tensor shapes no longer match.
        case narrowerWidthInConfig
        /// One flipped bit in the tensor data: only the checksum notices.
        case flippedDataByte
        /// The same in the optimizer moments.
        case flippedOptimizerByte
        /// state.json cut short.
        case truncatedState
        /// config.json removed.
        case missingConfig

        var testDescription: String { rawValue }
    }

    /// Damages the copy at `dir` (relative) and returns phrases the refusal must contain.
    static func apply(_ damage: Damage, to dir: String, in ws: Workspace) throws -> [String] {
        let model = dir + "/model.safetensors"
        switch damage {
        case .truncatedModel:
            let bytes = try ws.bytes(model)
            try ws.write(model, Array(bytes.prefix(bytes.count / 2)))
            return ["\(dir)/model.safetensors", "truncated file?"]
        case .malformedHeader:
            var bytes = try ws.bytes(model)
            var length = 0
            for i in 0..<8 { length |= Int(bytes[i]) << (8 * i) }
            try #require(length > 40)
            let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
            try #require(header.hasPrefix("{\"__metadata__\""), "unexpected header: \(header.prefix(60))")
            for i in (8 + 10)..<(8 + 30) { bytes[i] = UInt8(ascii: "#") }
            try ws.write(model, bytes)
            return ["\(dir)/model.safetensors", "malformed header JSON"]
        case .configDisagreesWithState:
            try replace("\"n_embd\" : 16", with: "\"n_embd\" : 8", in: dir + "/config.json", ws)
            return ["config.json and state.json disagree about the model", "width 8", "width 16"]
        case .extraLayerInConfig:
            try replace("\"n_layer\" : 1", with: "\"n_layer\" : 2", in: dir + "/config.json", ws)
            try replace("\"layers\" : 1", with: "\"layers\" : 2", in: dir + "/state.json", ws)
            return ["\(dir)/model.safetensors lacks tensor transformer.h.1."]
        case .narrowerWidthInConfig:
            try replace("\"n_embd\" : 16", with: "\"n_embd\" : 8", in: dir + "/config.json", ws)
            try replace("\"width\" : 16", with: "\"width\" : 8", in: dir + "/state.json", ws)
            return ["\(dir)/model.safetensors", "has shape [", ", 16] but the config says [", ", 8]"]
        case .flippedDataByte:
            var bytes = try ws.bytes(model)
            bytes[bytes.count - 100] ^= 0x01
            try ws.write(model, bytes)
            return ["\(dir)/model.safetensors is corrupt", "checksum"]
        case .flippedOptimizerByte:
            let optimizer = dir + "/optimizer.safetensors"
            var bytes = try ws.bytes(optimizer)
            bytes[bytes.count / 2 + bytes.count / 4] ^= 0x80
            try ws.write(optimizer, bytes)
            return ["\(dir)/optimizer.safetensors is corrupt"]
        case .truncatedState:
            let bytes = try ws.bytes(dir + "/state.json")
            try ws.write(dir + "/state.json", Array(bytes.prefix(bytes.count / 2)))
            return ["\(dir)/state.json is malformed"]
        case .missingConfig:
            try FileManager.default.removeItem(atPath: ws.path(dir + "/config.json"))
            return ["checkpoint is incomplete", "\(dir)/config.json does not exist"]
        }
    }

    static func replace(_ old: String, with new: String, in file: String, _ ws: Workspace) throws {
        let text = try ws.text(file)
        try #require(text.contains(old), "\(file) does not contain \(old):\n\(text)")
        try ws.write(file, text.replacingOccurrences(of: old, with: new))
    }

    @Test("damaged checkpoint is refused by inspect, infer and eval", arguments: Damage.allCases)
    func damaged(_ damage: Damage) async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train())
        let good = checkpointDirectory("out", step: 6)
        try ws.copy(good, to: "damaged")
        let phrases = try Self.apply(damage, to: "damaged", in: ws)
        let before = try ws.list("damaged").map { try ws.bytes("damaged/" + $0) }

        for command in [["inspect", "damaged"], ["infer", "damaged", "--tokens", "5"], ["eval", "damaged"]] {
            let r = try await ws.run(command)
            expectRefusal(r, mentioning: phrases)
            #expect(!r.stdout.contains("validation loss"), "\(r)")
        }
        // Readers never repair or rewrite what they read.
        #expect(try ws.list("damaged").map { try ws.bytes("damaged/" + $0) } == before)
        // The undamaged original still reads.
        try await ws.succeed(["inspect", good])
    }

    @Test("a run folder whose only checkpoint is damaged: the message names the run folder and the damage")
    func damagedOnlyCheckpointInRun() async throws {
        let ws = try Workspace()
        try ws.writeCorpus()
        try await ws.succeed(TinyRun.train())
        let model = checkpointDirectory("out", step: 6) + "/model.safetensors"
        var bytes = try ws.bytes(model)
        bytes[bytes.count - 4] ^= 0xFF
        try ws.write(model, bytes)
        let r = try await ws.run(["infer", "out", "--tokens", "5"])
        expectRefusal(r, mentioning: ["no readable checkpoint in run folder out", "is corrupt"])
        let resume = try await ws.run(TinyRun.train(extra: ["--resume"]))
        expectRefusal(resume, mentioning: ["cannot resume", "is corrupt"])
        #expect(try ws.bytes(model) == bytes, "a refused resume must not touch the checkpoint")
    }
}
