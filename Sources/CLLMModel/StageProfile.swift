#if canImport(Glibc)
import Glibc
#endif

/// One stage of a forward/backward pass, as `cllm train --profile` reports it.
public enum Stage: Int, CaseIterable, Sendable, Codable {
    case embedding, layerNorm, qkv, attention, attentionProjection, fc, fcProjection, logits, loss
    case lossBackward, logitsBackward, layerNormBackward, fcProjectionBackward, geluBackward, fcBackward
    case attentionProjectionBackward, attentionBackward, qkvBackward, embeddingBackward, zeroGradient

    /// Name in reports: forward stages first, then `backward …`.
    public var label: String {
        switch self {
        case .embedding: "forward embeddings"
        case .layerNorm: "forward LayerNorm"
        case .qkv: "forward qkv GEMM"
        case .attention: "forward attention"
        case .attentionProjection: "forward attention projection GEMM"
        case .fc: "forward fc GEMM + GELU"
        case .fcProjection: "forward fc projection GEMM"
        case .logits: "forward logits GEMM"
        case .loss: "forward cross-entropy"
        case .lossBackward: "backward cross-entropy"
        case .logitsBackward: "backward logits GEMMs"
        case .layerNormBackward: "backward LayerNorm"
        case .fcProjectionBackward: "backward fc projection GEMMs"
        case .geluBackward: "backward GELU"
        case .fcBackward: "backward fc GEMMs"
        case .attentionProjectionBackward: "backward attention projection GEMMs"
        case .attentionBackward: "backward attention"
        case .qkvBackward: "backward qkv GEMMs"
        case .embeddingBackward: "backward embeddings"
        case .zeroGradient: "backward zero gradient"
        }
    }
}

/// Time per stage, summed over passes (and over spheres when merged).
public struct StageTimes: Sendable, Equatable {
    /// Nanoseconds per stage, indexed by `Stage.rawValue`.
    public var nanoseconds = [UInt64](repeating: 0, count: Stage.allCases.count)
    /// Forward/backward passes measured (one per sphere per step).
    public var passes = 0

    public init() {}

    public subscript(stage: Stage) -> UInt64 { nanoseconds[stage.rawValue] }

    /// All stages together.
    public var total: UInt64 { nanoseconds.reduce(0, &+) }

    /// Adds another sphere's times.
    public mutating func add(_ other: StageTimes) {
        for i in nanoseconds.indices { nanoseconds[i] &+= other.nanoseconds[i] }
        passes += other.passes
    }
}

/// Measures the stages of one sphere's passes in place, in training itself, where `cllm bench kernels`
/// measures kernels on warm buffers: the two differ by how long a kernel waits for memory written long
/// before, which is what `perf`-less machines otherwise cannot show. Owned by one `Activations`, so only
/// the thread running its pass touches it; a pair of `clock_gettime` calls per stage (about 50 per pass).
public final class StageProfile {
    public private(set) var times = StageTimes()

    public init() {}

    /// Runs `body`, adding its wall time to `stage`.
    @inline(__always)
    public func measure<R>(_ stage: Stage, _ body: () -> R) -> R {
        let t0 = StageProfile.now()
        let r = body()
        times.nanoseconds[stage.rawValue] &+= StageProfile.now() &- t0
        return r
    }

    /// Counts one forward/backward pass.
    public func countPass() { times.passes += 1 }

    @inline(__always)
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}

extension Optional where Wrapped == StageProfile {
    /// Runs `body`, timed when a profile is attached.
    @inline(__always)
    func measure<R>(_ stage: Stage, _ body: () -> R) -> R {
        switch self {
        case .some(let p): p.measure(stage, body)
        case .none: body()
        }
    }
}
