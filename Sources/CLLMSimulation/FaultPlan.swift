import CLLMModel
import CLLMRuntime

/// Faults drawn from the seed: whether sphere s fails or runs slow on step t is a pure function of
/// (seed, s, t), so a failing seed replays with the same faults. A recomputation (attempt ≥ 1) never fails.
public struct SeededFaultPlan: FaultInjector {
    public let seed: UInt64
    public let faults: Scenario.Faults

    public init(seed: UInt64, faults: Scenario.Faults) {
        self.seed = seed
        self.faults = faults
    }

    public func fault(sphere: Int, step: Int, attempt: Int) -> SphereFault? {
        guard attempt == 0 else { return nil }
        let draw = RandomSource.mix(seed, 0xFA017, UInt64(sphere), UInt64(step))
        let u = Double(draw >> 11) * 0x1.0p-53
        if u < faults.failureRate { return .fail }
        let yields = 1 + Int((draw & 0xFFFF) % UInt64(max(1, faults.maxYields)))
        if u < faults.failureRate + faults.slowRate, faults.maxYields > 0 { return .slow(yields: yields) }
        if u < faults.failureRate + faults.slowRate + faults.delayRate, faults.maxYields > 0 {
            return .delayedHandoff(yields: yields)
        }
        return nil
    }
}
