/// Seeded, portable random numbers: xoshiro256** seeded through SplitMix64.
///
/// Swift's `SystemRandomNumberGenerator` cannot be seeded and Foundation's generators differ across
/// platforms; training must give the same bits for the same seed everywhere, and its state must fit in a
/// checkpoint, so cllm carries its own generator.
public struct RandomSource: RandomNumberGenerator, Sendable, Equatable, Codable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        state = (0..<4).map { _ in RandomSource.splitMix(&s) }
    }

    /// Restores a generator from a saved state (four non-zero-in-total words).
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        self.state = state
    }

    public static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A stateless mix of several words: the basis of pure functions such as "which window does sequence
    /// i of step t read", which must not depend on who computes them or in which order.
    public static func mix(_ words: UInt64...) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3
        for w in words {
            var x = h ^ w
            h = splitMix(&x)
        }
        return h
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal by Box–Muller (both values drawn fresh each call, so the stream is stateless
    /// beyond the generator and replays exactly after a checkpoint).
    public mutating func nextNormal() -> Double {
        let u1 = max(nextUnit(), 0x1.0p-60), u2 = nextUnit()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }
}

// Glibc/Darwin-free transcendental helpers so the model module does not need Foundation.
#if canImport(Glibc)
import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
