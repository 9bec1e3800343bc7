import CLLMKernels
import CLLMModel
import CLLMSimulation
import Testing
@testable import CLLMRuntime

/// A small model and synthetic data, enough for the runtime's arithmetic to be exercised in milliseconds.
enum Fixture {
    static let config = ModelConfig(vocabSize: 17, contextLength: 8, layers: 2, heads: 2, width: 16)
    static let layout = ParameterLayout(config)
    static let train: [Int32] = {
        var rng = RandomSource(seed: 99)
        return (0..<4000).map { _ in Int32(rng.next() % 17) }
    }()
    static let validation: [Int32] = {
        var rng = RandomSource(seed: 98)
        return (0..<300).map { _ in Int32(rng.next() % 17) }
    }()
    static func hyperparameters(batch: Int) -> Hyperparameters {
        var h = Hyperparameters()
        h.batchSize = batch
        h.steps = 20
        h.warmupSteps = 2
        h.seed = 7
        return h
    }
    static func plan(_ h: Hyperparameters) -> BatchPlan {
        BatchPlan(seed: h.seed, trainCount: train.count, contextLength: config.contextLength)
    }

    /// Runs `steps` steps on a real runtime, `perCall` to a call of `NodeZero.steps`, and returns the weights,
    /// the AdamW moments and the last losses.
    static func run(
        spheres: Int, threads: Int, batch: Int, steps: Int, hierarchy: SphereHierarchy.Mode = .active,
        faults: (any FaultInjector)? = nil, together: Bool = true, layout: ParameterLayout = Fixture.layout,
        perCall: Int = 1
    ) async throws -> (
        weights: [Float], moments: ([Float], [Float]), losses: [Double], reported: [RecoveryRecord], runtime: SphereRuntime
    ) {
        var c = RuntimeConfiguration()
        c.spheres = spheres
        c.threads = threads
        c.hierarchy = hierarchy
        let h = hyperparameters(batch: batch)
        let runtime = try SphereRuntime(configuration: c, layout: layout, batchSize: batch, faults: faults)
        await runtime.nodeZero.initialize(seed: h.seed)
        await runtime.nodeZero.setRunsStepsTogether(together)
        var losses: [Double] = []
        var reported: [RecoveryRecord] = []
        for first in stride(from: 0, to: steps, by: perCall) {
            let outcomes = await runtime.nodeZero.steps(
                first..<min(steps, first + perCall), plan: plan(h), train: train, hyperparameters: h)
            #expect(outcomes.count == min(steps, first + perCall) - first)
            losses += outcomes.map(\.loss)
            reported += outcomes.flatMap(\.recoveries)
        }
        return (await runtime.nodeZero.weights(), await runtime.nodeZero.moments(), losses, reported, runtime)
    }

    /// The same steps computed on this thread, one micro-batch after another, summed in sphere order
    /// through the same shard plan (the simulation's `SequentialReference`): the specification the runtime
    /// must match bit for bit.
    static func reference(spheres: Int, batch: Int, steps: Int, layout: ParameterLayout = Fixture.layout) -> [Float] {
        let h = hyperparameters(batch: batch)
        let r = SequentialReference(
            layout: layout, spheres: spheres, microBatch: batch / spheres, steps: steps, plan: plan(h), train: train,
            hyperparameters: h, shards: ShardPlan(parameterCount: layout.count))
        return r.weights.last ?? []
    }
}

@Suite("Sphere runtime", .tags(.runtime))
struct SphereRuntimeTests {
    @Test("weights are the same bits for 1, 2, 3 and 8 threads, a step or a run of steps to a call, and equal the sequential reference")
    func threadCountIndependence() async throws {
        let reference = Fixture.reference(spheres: 8, batch: 16, steps: 4)
        var first: [Float]? = nil
        for threads in [1, 2, 3, 8] {
            for perCall in [1, 3] {
                let r = try await Fixture.run(spheres: 8, threads: threads, batch: 16, steps: 4, perCall: perCall)
                let joint = await r.runtime.nodeZero.stepsRunTogether
                r.runtime.shutdown()
                #expect(joint == 4)
                #expect(r.weights == reference, "threads \(threads), \(perCall) steps a call differ from the sequential reference")
                if let first { #expect(r.weights == first) } else { first = r.weights }
            }
        }
    }

    @Test("N spheres agree with one sphere on the same global batch (within 1e-5 relative)", arguments: [2, 4, 12])
    func spheresAgreeWithOne(spheres: Int) async throws {
        let one = try await Fixture.run(spheres: 1, threads: 1, batch: 12, steps: 1)
        one.runtime.shutdown()
        let many = try await Fixture.run(spheres: spheres, threads: 2, batch: 12, steps: 1)
        many.runtime.shutdown()
        #expect(abs(one.losses[0] - many.losses[0]) <= 1e-5 * abs(one.losses[0]))
        // The first AdamW moment after one step is (1 − β1)·clip·gradient: compare the merged gradients.
        let a = one.moments.0, b = many.moments.0
        var diff = 0.0, norm = 0.0
        for i in a.indices { diff += Double(a[i] - b[i]) * Double(a[i] - b[i]); norm += Double(a[i]) * Double(a[i]) }
        #expect((diff / norm).squareRoot() < 1e-5, "relative gradient difference \((diff / norm).squareRoot())")
    }

    @Test("idle positions of the full hierarchy change nothing")
    func idleSpheresChangeNothing() async throws {
        let active = try await Fixture.run(spheres: 14, threads: 2, batch: 14, steps: 3)
        let full = try await Fixture.run(spheres: 14, threads: 2, batch: 14, steps: 3, hierarchy: .full)
        #expect(active.weights == full.weights)
        let rows = full.runtime.status()
        #expect(rows.count == 157)
        #expect(rows.filter { $0.state == .idle }.count == 143)
        #expect(rows.filter { $0.state == .idle }.allSatisfy { $0.microBatches == 0 && $0.arenaAllocated == 0 })
        #expect(active.runtime.status().count == 14)
        active.runtime.shutdown()
        full.runtime.shutdown()
    }

    @Test("Node Zero processes no batch; every sphere does one per step, on a worker thread")
    func nodeZeroNeverComputes() async throws {
        let r = try await Fixture.run(spheres: 4, threads: 2, batch: 8, steps: 5)
        defer { r.runtime.shutdown() }
        let zero = r.runtime.nodeZeroStatus()
        #expect(zero.state == .control)
        #expect(zero.microBatches == 0 && zero.tokens == 0)
        let workerThreads = Set(r.runtime.workerExecutors.map(\.threadID))
        for counters in r.runtime.nodeZero.sphereCounters {
            #expect(counters.microBatches == 5)
            #expect(counters.thread != r.runtime.nodeZeroExecutor.threadID)
            #expect(workerThreads.contains(counters.thread))
        }
    }

    @Test("arena statistics attribute each sphere's buffers to its own arena",
          .enabled(if: Jemalloc.totals().allocated > 0, "a sanitizer owns malloc"))
    func arenaAttribution() async throws {
        let r = try await Fixture.run(spheres: 3, threads: 2, batch: 6, steps: 1)
        defer { r.runtime.shutdown() }
        let bytes = r.runtime.nodeZero.sphereBufferBytes
        for i in r.runtime.nodeZero.sphereCounters.indices {
            let stats = r.runtime.sphereArenas[i].stats()
            // The sphere's gradient and activations, and nothing of anyone else's.
            #expect(stats.allocated >= bytes)
            #expect(stats.allocated < bytes + 64 * 1024)
        }
        // Node Zero's arena holds weights, merged gradient and both moments.
        let zero = r.runtime.nodeZeroArena.stats()
        #expect(zero.allocated >= 4 * Fixture.layout.count * 4)
        #expect(Set(r.runtime.sphereArenas.map(\.index)).count == 3)
    }

    @Test("spheres failing at random steps are replaced; the weights are the fault-free run's bits", arguments: [1, 2, 3])
    func failureRecovery(trial: Int) async throws {
        var rng = RandomSource(seed: UInt64(trial) &* 7919)
        let points = (0..<4).map { _ in
            ScheduledFailures.SpherePoint(sphere: Int(rng.next() % 4), step: Int(rng.next() % 5))
        }
        let clean = try await Fixture.run(spheres: 4, threads: 2, batch: 8, steps: 5)
        clean.runtime.shutdown()
        let faulty = try await Fixture.run(spheres: 4, threads: 2, batch: 8, steps: 5, faults: ScheduledFailures(points))
        let recoveries = await faulty.runtime.nodeZero.recoveries
        faulty.runtime.shutdown()
        #expect(faulty.weights == clean.weights)
        #expect(faulty.moments.1 == clean.moments.1)
        #expect(recoveries.count == Set(points).count)
        #expect(Set(recoveries.map { ScheduledFailures.SpherePoint(sphere: $0.sphere, step: $0.step) }) == Set(points))
        // Each step's outcome reports the recoveries made during it, which is how the trainer logs them.
        #expect(faulty.reported == recoveries)
    }

    @Test("a sphere alone runs its steps as one job: the sequential reference's bits, and failures still recover", arguments: [1, 4])
    func sphereAlone(perCall: Int) async throws {
        let reference = Fixture.reference(spheres: 1, batch: 8, steps: 4)
        let clean = try await Fixture.run(spheres: 1, threads: 1, batch: 8, steps: 4, perCall: perCall)
        clean.runtime.shutdown()
        #expect(clean.weights == reference)
        let points = [ScheduledFailures.SpherePoint(sphere: 0, step: 1), ScheduledFailures.SpherePoint(sphere: 0, step: 3)]
        let faulty = try await Fixture.run(
            spheres: 1, threads: 1, batch: 8, steps: 4, faults: ScheduledFailures(points), perCall: perCall)
        let recoveries = await faulty.runtime.nodeZero.recoveries
        faulty.runtime.shutdown()
        #expect(faulty.weights == clean.weights)
        #expect(faulty.moments.1 == clean.moments.1)
        #expect(recoveries.map(\.step) == [1, 3])
        #expect(faulty.reported == recoveries)
    }

    @Test("spheres running steps together give the phase-by-phase path's bits, failures included", arguments: [2, 4])
    func stepsTogether(spheres: Int) async throws {
        let points = [ScheduledFailures.SpherePoint(sphere: spheres - 1, step: 1), ScheduledFailures.SpherePoint(sphere: 0, step: 2)]
        var results: [[Float]] = []
        // Together, one step to a call of `NodeZero.steps` and all four in one: a failure inside a run of
        // steps ends it there, Node Zero finishes that step phase by phase, and the rest run together again.
        for (together, perCall) in [(false, 1), (true, 1), (true, 4)] {
            for faults in [nil, ScheduledFailures(points)] as [ScheduledFailures?] {
                let r = try await Fixture.run(
                    spheres: spheres, threads: 2, batch: 8, steps: 4, faults: faults, together: together,
                    perCall: perCall)
                let recoveries = await r.runtime.nodeZero.recoveries
                let joint = await r.runtime.nodeZero.stepsRunTogether
                r.runtime.shutdown()
                #expect(recoveries.map(\.step) == (faults == nil ? [] : [1, 2]))
                // A step with a failed sphere is finished phase by phase.
                #expect(joint == (together ? 4 - recoveries.count : 0))
                results.append(r.weights + r.moments.0 + r.moments.1 + r.losses.map(Float.init))
            }
        }
        #expect(results.count == 6)
        for r in results.dropFirst() { #expect(r == results[0]) }
        #expect(results[0].prefix(Fixture.layout.count).elementsEqual(Fixture.reference(spheres: spheres, batch: 8, steps: 4)))
    }

    @Test("a sphere done first sums the shards every gradient has final, with the sequential reference's bits")
    func earlySumming() async throws {
        // Four blocks of width 64: 13 shards, so a sphere still in its backward pass has final shards to share.
        let layout = ParameterLayout(ModelConfig(vocabSize: 17, contextLength: 8, layers: 4, heads: 2, width: 64))
        #expect(ShardPlan(parameterCount: layout.count).count > 4)
        // Once its last block is final, sphere 0 stalls 20 ms and sphere 1 100 ms, every step: sphere 1 is
        // then still stalled when sphere 0 finishes, which sums the shards inside that block (10…12) first.
        // (Sphere 0's stall lets sphere 1 reach its own on a loaded machine, where threads start late.)
        let r = try await Fixture.run(spheres: 2, threads: 2, batch: 8, steps: 4, faults: Stalls(), layout: layout)
        let early = await r.runtime.nodeZero.shardsSummedEarly
        r.runtime.shutdown()
        #expect(r.weights == Fixture.reference(spheres: 2, batch: 8, steps: 4, layout: layout))
        #expect(early >= 3)
    }

    @Test("validation loss does not depend on the number of spheres beyond float rounding")
    func evaluation() async throws {
        let one = try await Fixture.run(spheres: 1, threads: 1, batch: 4, steps: 0)
        let four = try await Fixture.run(spheres: 4, threads: 2, batch: 4, steps: 0)
        let a = await one.runtime.nodeZero.validationLoss(validation: Fixture.validation)
        let b = await four.runtime.nodeZero.validationLoss(validation: Fixture.validation)
        #expect(abs(a - b) < 1e-6 * a)
        #expect(abs(a - _log(17)) < 0.2)
        one.runtime.shutdown()
        four.runtime.shutdown()
    }

    @Test("Node Zero sums the spheres' stage profiles, one pass per sphere per step, validation left out")
    func stageProfiles() async throws {
        var c = RuntimeConfiguration()
        c.spheres = 3
        c.threads = 2
        let h = Fixture.hyperparameters(batch: 6)
        let runtime = try SphereRuntime(configuration: c, layout: Fixture.layout, batchSize: 6)
        defer { runtime.shutdown() }
        await runtime.nodeZero.initialize(seed: h.seed)
        #expect(await runtime.nodeZero.stageTimes() == nil)
        _ = await runtime.nodeZero.step(0, plan: Fixture.plan(h), train: Fixture.train, hyperparameters: h)
        await runtime.nodeZero.setProfiling(true)
        for s in 1...4 {
            _ = await runtime.nodeZero.step(s, plan: Fixture.plan(h), train: Fixture.train, hyperparameters: h)
        }
        let times = try #require(await runtime.nodeZero.stageTimes())
        #expect(times.passes == 3 * 4)
        #expect(times[.qkv] > 0 && times[.attentionBackward] > 0 && times[.embeddingBackward] > 0)
        _ = await runtime.nodeZero.validationLoss(validation: Fixture.validation)
        #expect(await runtime.nodeZero.stageTimes() == times)
        let report = StageProfileReport(times: times, spheres: 3, gradientPhaseNanoseconds: 4_000_000)
        #expect(report.steps == 4 && report.gradientPhaseMillisecondsPerStep == 1)
        #expect(report.stages.count == Stage.allCases.count)
    }

    @Test("hierarchy arithmetic: levels 1/12/144/1728, groups mod 12")
    func hierarchy() throws {
        #expect(SphereHierarchy.positions(levels: 3) == 157)
        #expect(SphereHierarchy.positions(levels: 4) == 1885)
        #expect(SphereHierarchy.levels(toHold: 63) == 3)
        #expect(SphereHierarchy.levels(toHold: 13) == 2)
        #expect(SphereHierarchy.levels(toHold: 14) == 3)
        #expect(try SphereHierarchy(spheres: 63, mode: .full).positionCount == 157)
        #expect(try SphereHierarchy(spheres: 63, mode: .active).positionCount == 63)
        #expect(SphereHierarchy.level(of: 0) == 0 && SphereHierarchy.level(of: 12) == 1 && SphereHierarchy.level(of: 13) == 2)
        #expect(SphereHierarchy.parent(of: 13) == 1 && SphereHierarchy.group(of: 25) == 1)
        #expect(throws: RuntimeError.self) { try SphereHierarchy(spheres: 0, mode: .active) }
    }
}

#if canImport(Glibc)
import Glibc
func _log(_ x: Double) -> Double { Glibc.log(x) }
#endif

/// Every step, sphere 0's backward stalls 20 ms and sphere 1's 100 ms once their last block is final.
struct Stalls: FaultInjector {
    func fault(sphere: Int, step: Int, attempt: Int) -> SphereFault? {
        .stalledBackward(microseconds: sphere == 0 ? 20_000 : 100_000)
    }
}
