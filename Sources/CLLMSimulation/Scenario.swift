import CLLMModel
import CLLMRuntime
import FoundationEssentials

/// A simulation scenario: the layout of a run to replay (and to predict the memory of), read from a
/// JSON file in `Simulations/`. Docs/simulation.md documents every field.
public struct Scenario: Sendable, Equatable {
    public struct Model: Sendable, Equatable, Codable {
        public var layers = 4, heads = 4, width = 128, context = 64, vocabulary = 65
        public init(layers: Int = 4, heads: Int = 4, width: Int = 128, context: Int = 64, vocabulary: Int = 65) {
            self.layers = layers; self.heads = heads; self.width = width; self.context = context; self.vocabulary = vocabulary
        }
        public var config: ModelConfig {
            ModelConfig(vocabSize: vocabulary, contextLength: context, layers: layers, heads: heads, width: width)
        }
    }

    public struct Faults: Sendable, Equatable, Codable {
        /// Probability that a sphere's micro-batch fails (the sphere is replaced, the batch recomputed).
        public var failureRate = 0.0
        /// Probability that a sphere is slow (yields its lane up to `maxYields` times first).
        public var slowRate = 0.0
        /// Probability that a sphere's hand-off is delayed (yields up to `maxYields` times after computing).
        public var delayRate = 0.0
        public var maxYields = 4
        public init(failureRate: Double = 0, slowRate: Double = 0, delayRate: Double = 0, maxYields: Int = 4) {
            self.failureRate = failureRate; self.slowRate = slowRate; self.delayRate = delayRate; self.maxYields = maxYields
        }
    }

    public var name: String
    public var description = ""
    public var hierarchy: SphereHierarchy.Mode = .active
    public var spheres = 2
    /// OS threads of the modelled run (sphere i runs on thread i mod threads, as in the real runtime).
    public var threads = 2
    public var stackSize = 1 << 20
    /// "arenas": every thread and sphere its own jemalloc arena; "shared": one heap for everything.
    public var allocator: Allocator = .arenas
    /// The real run's model, for the memory prediction.
    public var model = Model()
    /// The real run's global batch (sequences per step), for the memory prediction.
    public var batchSize = 12
    /// Tokens of corpus the real run holds in memory (tinyshakespeare's 1,115,394 by default).
    public var corpusTokens = 1_115_394
    /// The small model whose math the simulation actually runs, so thousands of seeds stay fast.
    public var simulatedModel = Model(layers: 1, heads: 2, width: 8, context: 4, vocabulary: 11)
    public var steps = 3
    public var seeds = 100
    public var policy: SchedulingPolicy = .uniform
    public var faults = Faults()

    public enum Allocator: String, Sendable, Codable, CaseIterable { case arenas, shared }

    public init(name: String) { self.name = name }

    static let fields: [String] = [
        "name", "description", "hierarchy", "spheres", "threads", "stackSize", "allocator", "model", "batchSize",
        "corpusTokens", "simulatedModel", "steps", "seeds", "policy", "faults",
    ]

    /// Refuses impossible values, naming the field.
    public func validate() throws(ScenarioError) {
        func bad(_ field: String, _ why: String) -> ScenarioError { .invalid(field: field, reason: why) }
        if name.isEmpty { throw bad("name", "must not be empty") }
        if spheres < 1 { throw bad("spheres", "must be at least 1, got \(spheres)") }
        if spheres > SphereHierarchy.maximumSpheres { throw bad("spheres", "exceeds the hierarchy's \(SphereHierarchy.maximumSpheres) positions") }
        if threads < 1 { throw bad("threads", "must be at least 1, got \(threads)") }
        do { try ThreadExecutor.validate(stackSize: stackSize) } catch { throw bad("stackSize", "\(error)") }
        do { try model.config.validate() } catch { throw bad("model", "\(error)") }
        do { try simulatedModel.config.validate() } catch { throw bad("simulatedModel", "\(error)") }
        if batchSize < 1 { throw bad("batchSize", "must be at least 1, got \(batchSize)") }
        if batchSize % spheres != 0 { throw bad("batchSize", "\(batchSize) cannot be split evenly across \(spheres) spheres") }
        if corpusTokens < 0 { throw bad("corpusTokens", "must not be negative") }
        if steps < 1 { throw bad("steps", "must be at least 1, got \(steps)") }
        if seeds < 1 { throw bad("seeds", "must be at least 1, got \(seeds)") }
        for (f, v) in [("faults.failureRate", faults.failureRate), ("faults.slowRate", faults.slowRate),
                       ("faults.delayRate", faults.delayRate)] where !(v >= 0 && v <= 1) {
            throw bad(f, "must be between 0 and 1, got \(v)")
        }
        if faults.maxYields < 0 { throw bad("faults.maxYields", "must not be negative") }
    }

    /// Reads and validates a scenario file.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let bytes: [UInt8]
        do { bytes = try AtomicFile.read(path) } catch { throw .unreadable(path: path, reason: "\(error)") }
        return try decode(bytes, path: path)
    }

    public static func decode(_ bytes: [UInt8], path: String) throws(ScenarioError) -> Scenario {
        let scenario: Scenario
        do {
            scenario = try JSONDecoder().decode(Scenario.self, from: Data(bytes))
        } catch let e as ScenarioError {
            throw e.in(path)
        } catch let DecodingError.dataCorrupted(context) {
            if context.codingPath.isEmpty {
                throw .malformed(path: path, reason: context.underlyingError.map { "\($0)" } ?? context.debugDescription)
            }
            throw .invalid(field: context.codingPath.map(\.stringValue).joined(separator: "."), reason: "has an invalid value (\(context.debugDescription))").in(path)
        } catch let DecodingError.typeMismatch(_, context) {
            if context.codingPath.isEmpty { throw .malformed(path: path, reason: "the top level must be a JSON object") }
            throw .invalid(field: context.codingPath.map(\.stringValue).joined(separator: "."), reason: "has the wrong type (\(context.debugDescription))").in(path)
        } catch let DecodingError.keyNotFound(key, _) {
            throw .invalid(field: key.stringValue, reason: "is required").in(path)
        } catch let DecodingError.valueNotFound(_, context) {
            throw .invalid(field: context.codingPath.map(\.stringValue).joined(separator: "."), reason: "must not be null").in(path)
        } catch {
            throw .malformed(path: path, reason: "\(error)")
        }
        do { try scenario.validate() } catch { throw error.in(path) }
        return scenario
    }
}

public enum ScenarioError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case unknownField(String, path: String?)
    case invalid(field: String, reason: String, path: String? = nil)

    func `in`(_ path: String) -> ScenarioError {
        switch self {
        case .unknownField(let f, nil): .unknownField(f, path: path)
        case .invalid(let f, let r, nil): .invalid(field: f, reason: r, path: path)
        default: self
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read scenario \(path): \(reason)"
        case .malformed(let path, let reason): "scenario \(path) is not valid JSON: \(reason)"
        case .unknownField(let f, let path): "scenario \(path ?? "") has an unknown field '\(f)' (known: \(Scenario.fields.joined(separator: ", ")))"
        case .invalid(let f, let r, let path): "scenario \(path ?? ""): field '\(f)' \(r)"
        }
    }
}

/// Strict decoding: every key must be known, so a typo is an error instead of a silently ignored setting.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Scenario: Codable {
    public init(from decoder: any Decoder) throws {
        let all = try decoder.container(keyedBy: AnyKey.self)
        for key in all.allKeys where !Scenario.fields.contains(key.stringValue) {
            throw ScenarioError.unknownField(key.stringValue, path: nil)
        }
        func get<T: Decodable>(_ key: String, _ fallback: T) throws -> T {
            try all.decodeIfPresent(T.self, forKey: AnyKey(stringValue: key)) ?? fallback
        }
        let defaults = Scenario(name: "")
        name = try all.decode(String.self, forKey: AnyKey(stringValue: "name"))
        description = try get("description", defaults.description)
        hierarchy = try get("hierarchy", defaults.hierarchy)
        spheres = try get("spheres", defaults.spheres)
        threads = try get("threads", defaults.threads)
        stackSize = try get("stackSize", defaults.stackSize)
        allocator = try get("allocator", defaults.allocator)
        model = try get("model", defaults.model)
        batchSize = try get("batchSize", defaults.batchSize)
        corpusTokens = try get("corpusTokens", defaults.corpusTokens)
        simulatedModel = try get("simulatedModel", defaults.simulatedModel)
        steps = try get("steps", defaults.steps)
        seeds = try get("seeds", defaults.seeds)
        policy = try get("policy", defaults.policy)
        faults = try get("faults", defaults.faults)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        func put<T: Encodable>(_ key: String, _ value: T) throws { try c.encode(value, forKey: AnyKey(stringValue: key)) }
        try put("name", name); try put("description", description); try put("hierarchy", hierarchy)
        try put("spheres", spheres); try put("threads", threads); try put("stackSize", stackSize)
        try put("allocator", allocator); try put("model", model); try put("batchSize", batchSize)
        try put("corpusTokens", corpusTokens); try put("simulatedModel", simulatedModel); try put("steps", steps)
        try put("seeds", seeds); try put("policy", policy); try put("faults", faults)
    }
}

extension Scenario.Model {
    enum CodingKeys: String, CodingKey, CaseIterable { case layers, heads, width, context, vocabulary }
    public init(from decoder: any Decoder) throws {
        let all = try decoder.container(keyedBy: AnyKey.self)
        let known = CodingKeys.allCases.map(\.rawValue)
        for key in all.allKeys where !known.contains(key.stringValue) {
            throw ScenarioError.unknownField("model." + key.stringValue, path: nil)
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layers = try c.decode(Int.self, forKey: .layers)
        heads = try c.decode(Int.self, forKey: .heads)
        width = try c.decode(Int.self, forKey: .width)
        context = try c.decode(Int.self, forKey: .context)
        vocabulary = try c.decode(Int.self, forKey: .vocabulary)
    }
}

extension Scenario.Faults {
    enum CodingKeys: String, CodingKey, CaseIterable { case failureRate, slowRate, delayRate, maxYields }
    public init(from decoder: any Decoder) throws {
        let all = try decoder.container(keyedBy: AnyKey.self)
        let known = CodingKeys.allCases.map(\.rawValue)
        for key in all.allKeys where !known.contains(key.stringValue) {
            throw ScenarioError.unknownField("faults." + key.stringValue, path: nil)
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        failureRate = try c.decodeIfPresent(Double.self, forKey: .failureRate) ?? 0
        slowRate = try c.decodeIfPresent(Double.self, forKey: .slowRate) ?? 0
        delayRate = try c.decodeIfPresent(Double.self, forKey: .delayRate) ?? 0
        maxYields = try c.decodeIfPresent(Int.self, forKey: .maxYields) ?? 4
    }
}
