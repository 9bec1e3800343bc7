import CLLMModel
import CLLMRuntime

/// Swarm testing: each seed draws its own scenario parameters (spheres, threads, hierarchy, policy, faults,
/// steps) from the seed, so a run of many seeds covers many layouts, and one seed still replays exactly.
public enum Swarm {
    /// Most spheres and steps a drawn scenario has.
    public static let maximumSpheres = 24, maximumSteps = 3

    public static func scenario(base: Scenario, seed: UInt64) -> Scenario {
        var rng = RandomSource(seed: RandomSource.mix(seed, 0x5A4A))
        var s = base
        s.name = "\(base.name)-swarm"
        s.spheres = 1 + Int(rng.next() % UInt64(maximumSpheres))
        s.threads = 1 + Int(rng.next() % UInt64(s.spheres))
        s.batchSize = s.spheres * (1 + Int(rng.next() % 3))
        s.hierarchy = rng.next() % 2 == 0 ? .active : .full
        s.policy = rng.next() % 2 == 0 ? .uniform : .pct
        s.steps = 1 + Int(rng.next() % UInt64(maximumSteps))
        s.faults = Scenario.Faults(
            failureRate: Double(rng.next() % 4) * 0.05, slowRate: Double(rng.next() % 4) * 0.1,
            delayRate: Double(rng.next() % 4) * 0.1, maxYields: 1 + Int(rng.next() % 4))
        return s
    }
}
