import Testing
@testable import CLLMModel

@Suite struct DatasetTests {
    @Test(.enabled(if: tinyShakespeareAvailable, "tinyshakespeare absent"))
    func tinyShakespeareSplitMatchesPeer() throws {
        let corpus = try Corpus.load(path: tinyShakespearePath)
        let ids = try Tokenizer(kind: .char, corpus: corpus.text).encode(corpus.text)
        let dataset = try TokenDataset(ids: ids, contextLength: 64)
        #expect(dataset.train.count == 1_003_854)
        #expect(dataset.validation.count == 111_540)
        #expect(dataset.train + dataset.validation == ids)
        #expect(dataset.validationWindows(contextLength: 64) == 1_742)  // (111_540 - 1) / 64
        #expect(dataset.validationWindows(contextLength: 256) == 435)
    }

    @Test func splitIsFirstNinetyPercent() throws {
        let ids = (0..<101).map(Int32.init)
        let dataset = try TokenDataset(ids: ids, contextLength: 4)
        #expect(dataset.train == Array(ids[..<90]))  // int(101 * 0.9) = 90
        #expect(dataset.validation == Array(ids[90...]))
        #expect(dataset.validationWindows(contextLength: 4) == 2)  // 11 ids: (11 - 1) / 4
        #expect(dataset.validationWindows(contextLength: 10) == 1)
    }

    @Test func trainingTooShort() throws {
        let ids = [Int32](repeating: 1, count: 10)  // 9 train, 1 validation
        #expect(throws: DatasetError.trainingTooShort(tokens: 9, contextLength: 16)) {
            try TokenDataset(ids: ids, contextLength: 16)
        }
        #expect(DatasetError.trainingTooShort(tokens: 9, contextLength: 16).description
            == "corpus too short: 9 tokens of training text, need at least 17 for one window of context 16")
        #expect(throws: DatasetError.trainingTooShort(tokens: 0, contextLength: 1)) {
            try TokenDataset(ids: [], contextLength: 1)
        }
    }

    @Test func validationTooShort() throws {
        let ids = [Int32](repeating: 1, count: 100)  // 90 train, 10 validation
        _ = try TokenDataset(ids: ids, contextLength: 9)  // exactly T + 1 validation tokens: one window
        #expect(throws: DatasetError.validationTooShort(tokens: 10, contextLength: 10)) {
            try TokenDataset(ids: ids, contextLength: 10)
        }
        #expect(DatasetError.validationTooShort(tokens: 10, contextLength: 10).description.hasPrefix(
            "corpus too short: 10 tokens of validation text"))
    }

    @Test func contextLengthMustBePositive() {
        #expect(throws: DatasetError.contextLengthNotPositive(0)) { try TokenDataset(ids: [1, 2, 3], contextLength: 0) }
    }
}

@Suite struct BatchPlanTests {
    @Test func offsetsArePureFunctions() {
        let plan = BatchPlan(seed: 1337, trainCount: 1_003_854, contextLength: 64)
        let forward = (0..<50).flatMap { step in (0..<12).map { plan.offset(step: step, sequence: $0) } }
        // Another plan (as after a resume), computed in reverse order, gives the same offsets.
        let again = BatchPlan(seed: 1337, trainCount: 1_003_854, contextLength: 64)
        let backward = (0..<50).reversed().flatMap { step in (0..<12).reversed().map { again.offset(step: step, sequence: $0) } }
        #expect(forward == Array(backward.reversed()))
        #expect(Set(forward).count > 590)  // 600 draws from a million offsets: (almost) all distinct
    }

    @Test func offsetsStayInThePeersRange() {
        let t = 8
        let plan = BatchPlan(seed: 7, trainCount: 1_000 + t + 1, contextLength: t)
        #expect(plan.offsetCount == 1_000)
        var low = Int.max, high = Int.min
        for step in 0..<500 {
            for sequence in 0..<64 {
                let o = plan.offset(step: step, sequence: sequence)
                low = min(low, o)
                high = max(high, o)
            }
        }
        // 32,000 draws over 1,000 values reach both ends: 0 and len - T - 2, never the last window.
        #expect(low == 0)
        #expect(high == 1_000 - 1)
        // The smallest splits: one offset only.
        for count in [t + 1, t + 2] {
            let tiny = BatchPlan(seed: 7, trainCount: count, contextLength: t)
            #expect((0..<100).allSatisfy { tiny.offset(step: $0, sequence: 3) == 0 })
        }
    }

    @Test func seedsDiffer() {
        let a = BatchPlan(seed: 1, trainCount: 100_000, contextLength: 32)
        let b = BatchPlan(seed: 2, trainCount: 100_000, contextLength: 32)
        let same = (0..<1_000).filter { a.offset(step: $0 / 10, sequence: $0 % 10) == b.offset(step: $0 / 10, sequence: $0 % 10) }
        #expect(same.count < 10)
        // Steps and sequences are not interchangeable either.
        #expect((0..<100).filter { a.offset(step: 1, sequence: $0) == a.offset(step: $0, sequence: 1) }.count < 5)
    }

    @Test func offsetsAreRoughlyUniform() {
        let t = 16
        let plan = BatchPlan(seed: 42, trainCount: 10_000 + t + 1, contextLength: t)
        var buckets = [Int](repeating: 0, count: 10)
        for i in 0..<100_000 { buckets[plan.offset(step: i / 16, sequence: i % 16) / 1_000] += 1 }
        for count in buckets { #expect(abs(count - 10_000) < 500, "bucket counts \(buckets)") }
    }

    /// With 3·2^61 offsets a plain multiply-shift (high word of x·n) sends 3/8, 3/8 and 1/4 of all words to
    /// residues 0, 1 and 2 mod 3; rejecting the low words below 2^64 mod n brings each back to a third.
    @Test func reductionIsUnbiasedForHugeRanges() {
        let n = 3 << 61
        let plan = BatchPlan(seed: 9, trainCount: n + 4 + 1, contextLength: 4)
        #expect(plan.offsetCount == n)
        var residues = [0, 0, 0]
        for i in 0..<30_000 {
            let o = plan.offset(step: i, sequence: 0)
            #expect(o >= 0 && o < n)
            residues[o % 3] += 1
        }
        for count in residues { #expect(abs(count - 10_000) < 600, "residues \(residues)") }
    }

    @Test func fillWritesTheWindows() {
        let t = 5
        let train = (0..<200).map { Int32(1_000 + $0) }
        let plan = BatchPlan(seed: 3, trainCount: train.count, contextLength: t)
        var inputs = [Int32](repeating: -1, count: 4 * t)
        var targets = [Int32](repeating: -1, count: 4 * t)
        inputs.withUnsafeMutableBufferPointer { i in
            targets.withUnsafeMutableBufferPointer { g in
                plan.fill(step: 11, sequences: 3..<7, from: train, inputs: i.baseAddress!, targets: g.baseAddress!)
            }
        }
        for row in 0..<4 {
            let o = plan.offset(step: 11, sequence: 3 + row)
            #expect(Array(inputs[row * t ..< (row + 1) * t]) == Array(train[o ..< o + t]))
            #expect(Array(targets[row * t ..< (row + 1) * t]) == Array(train[o + 1 ..< o + t + 1]))
        }
        // Two workers filling halves of the step produce the same rows as one worker filling all.
        var halves = [Int32](repeating: -1, count: 4 * t)
        var halfTargets = [Int32](repeating: -1, count: 4 * t)
        halves.withUnsafeMutableBufferPointer { i in
            halfTargets.withUnsafeMutableBufferPointer { g in
                plan.fill(step: 11, sequences: 5..<7, from: train, inputs: i.baseAddress! + 2 * t, targets: g.baseAddress! + 2 * t)
                plan.fill(step: 11, sequences: 3..<5, from: train, inputs: i.baseAddress!, targets: g.baseAddress!)
            }
        }
        #expect(halves == inputs && halfTargets == targets)
    }
}
