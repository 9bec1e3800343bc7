import CLLMKernels

/// Text generation with the same network as training: the whole (cropped) context is run for each new
/// token, which at cllm's model sizes costs less than keeping a key/value cache correct.
public struct Generation {
    public var temperature: Double
    public var topK: Int
    public var seed: UInt64

    public init(temperature: Double = 0.8, topK: Int = 40, seed: UInt64 = 1) {
        self.temperature = temperature
        self.topK = topK
        self.seed = seed
    }

    /// Continues `prompt` (token ids, possibly empty) by `count` tokens; temperature 0 is greedy.
    /// `onToken` sees each new id as it is chosen (for streaming output).
    @discardableResult
    public func generate(
        parameters: UnsafePointer<Float>, layout: ParameterLayout, prompt: [Int32], count: Int,
        onToken: (Int32) -> Void = { _ in }
    ) -> [Int32] {
        let cfg = layout.config
        var rng = RandomSource(seed: seed)
        var ids = prompt.isEmpty ? [0] : prompt
        var out: [Int32] = []
        // One activation set per context length would be wasteful; use full-length windows, left-aligned.
        var cache: [Int: Activations] = [:]
        for _ in 0..<count {
            let window = Array(ids.suffix(cfg.contextLength))
            let t = window.count
            let act = cache[t] ?? Activations(config: cfg, batch: 1, time: t, forBackward: false)
            cache[t] = act
            for i in 0..<t { act.inputs[i] = window[i] }
            GPT.forward(parameters: parameters, layout: layout, activations: act, computeLoss: false)
            let next = choose(Array(act.logitsRow(t - 1)), rng: &rng)
            ids.append(next)
            out.append(next)
            onToken(next)
            if cache.count > 4 { cache.removeAll() }
        }
        return out
    }

    /// Picks the next id from logits: argmax at temperature 0, else top-k then softmax sampling.
    func choose(_ logits: [Float], rng: inout RandomSource) -> Int32 {
        if temperature <= 0 {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let kept = topK > 0 ? Array(order.prefix(topK)) : order
        let mx = Double(logits[kept[0]])
        let weights = kept.map { _exp((Double(logits[$0]) - mx) / temperature) }
        let total = weights.reduce(0, +)
        var u = rng.nextUnit() * total
        for (i, w) in zip(kept, weights) {
            u -= w
            if u <= 0 { return Int32(i) }
        }
        return Int32(kept.last!)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _exp(_ x: Double) -> Double { Darwin.exp(x) }
#endif
