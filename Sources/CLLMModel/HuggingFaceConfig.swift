#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A checkpoint's `config.json`: Hugging Face's `GPT2Config`, so `GPT2LMHeadModel.from_pretrained(dir)`
/// loads cllm's weights with no conversion step, and a config that says anything cllm's model does not
/// compute (another activation, untied head, other epsilon) is refused rather than silently misread.
public enum HuggingFaceConfig {
    /// The `config.json` bytes for a model: deterministic (sorted keys), readable (pretty-printed).
    public static func encode(_ config: ModelConfig) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        // Every field is a plain string, number or array: encoding cannot fail.
        guard let data = try? encoder.encode(GPT2Config(config)) else { return [] }
        return Array(data) + [0x0A]
    }

    /// Reads `config.json` bytes into a `ModelConfig`; the error text says which key is missing or
    /// unsupported (the caller adds the path).
    public static func decode(_ bytes: [UInt8]) throws(HuggingFaceConfigError) -> ModelConfig {
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw .malformed(JSONValue.describe(error))
        }
        guard case .object(let o) = root else { throw .malformed("the top level is not a JSON object") }

        func integer(_ key: String) throws(HuggingFaceConfigError) -> Int {
            guard let value = o[key] else { throw .malformed("lacks \(key)") }
            guard case .int(let n) = value else { throw .malformed("\(key) is not an integer") }
            return n
        }
        func text(_ key: String) throws(HuggingFaceConfigError) -> String? {
            guard let value = o[key], value != .null else { return nil }
            guard case .string(let s) = value else { throw .malformed("\(key) is not a string") }
            return s
        }
        func flag(_ key: String) throws(HuggingFaceConfigError) -> Bool? {
            guard let value = o[key], value != .null else { return nil }
            guard case .bool(let b) = value else { throw .malformed("\(key) is not true or false") }
            return b
        }

        if let type = try text("model_type"), type != "gpt2" {
            throw .unsupported("model_type is \"\(type)\"; cllm reads GPT-2 (\"gpt2\") models only")
        }
        let config = ModelConfig(
            vocabSize: try integer("vocab_size"), contextLength: try integer("n_positions"),
            layers: try integer("n_layer"), heads: try integer("n_head"), width: try integer("n_embd"))
        if let inner = o["n_inner"], inner != .null {
            guard case .int(let n) = inner else { throw .malformed("n_inner is not an integer or null") }
            // 4 × n_embd cannot overflow: a larger width is refused by validate, but check anyway.
            let (four, overflow) = config.width.multipliedReportingOverflow(by: 4)
            if overflow || n != four {
                throw .unsupported("n_inner is \(n); cllm's MLP is 4 × n_embd = \(four) wide (use null)")
            }
        }
        if let activation = try text("activation_function"), activation != "gelu_new", activation != "gelu_pytorch_tanh" {
            throw .unsupported("activation_function is \"\(activation)\"; cllm computes the tanh GELU (\"gelu_new\")")
        }
        if let value = o["layer_norm_epsilon"] {
            let epsilon: Double
            switch value {
            case .double(let d): epsilon = d
            case .int(let n): epsilon = Double(n)
            default: throw .malformed("layer_norm_epsilon is not a number")
            }
            if abs(epsilon - 1e-5) > 1e-12 {
                throw .unsupported("layer_norm_epsilon is \(epsilon); cllm's LayerNorm uses 1e-05")
            }
        }
        if try flag("tie_word_embeddings") == false {
            throw .unsupported("tie_word_embeddings is false; cllm ties lm_head to wte")
        }
        if try flag("scale_attn_weights") == false {
            throw .unsupported("scale_attn_weights is false; cllm scales attention by 1/sqrt(head size)")
        }
        if try flag("scale_attn_by_inverse_layer_idx") == true {
            throw .unsupported("scale_attn_by_inverse_layer_idx is true; cllm does not scale attention by layer")
        }
        return config
    }

    /// The subset of `GPT2Config` that decides the model; everything else takes Hugging Face's defaults.
    private struct GPT2Config: Encodable {
        let config: ModelConfig
        init(_ config: ModelConfig) { self.config = config }

        private enum Keys: String, CodingKey {
            case model_type, architectures, vocab_size, n_positions, n_ctx, n_embd, n_layer, n_head, n_inner
            case activation_function, layer_norm_epsilon, tie_word_embeddings, resid_pdrop, embd_pdrop
            case attn_pdrop, initializer_range, bos_token_id, eos_token_id, scale_attn_weights, torch_dtype
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode("gpt2", forKey: .model_type)
            try c.encode(["GPT2LMHeadModel"], forKey: .architectures)
            try c.encode(config.vocabSize, forKey: .vocab_size)
            try c.encode(config.contextLength, forKey: .n_positions)
            try c.encode(config.contextLength, forKey: .n_ctx)
            try c.encode(config.width, forKey: .n_embd)
            try c.encode(config.layers, forKey: .n_layer)
            try c.encode(config.heads, forKey: .n_head)
            try c.encodeNil(forKey: .n_inner)  // null means 4 × n_embd
            try c.encode("gelu_new", forKey: .activation_function)
            try c.encode(1e-5, forKey: .layer_norm_epsilon)
            try c.encode(true, forKey: .tie_word_embeddings)
            try c.encode(0.0, forKey: .resid_pdrop)
            try c.encode(0.0, forKey: .embd_pdrop)
            try c.encode(0.0, forKey: .attn_pdrop)
            try c.encode(0.02, forKey: .initializer_range)
            try c.encode(0, forKey: .bos_token_id)
            try c.encode(0, forKey: .eos_token_id)
            try c.encode(true, forKey: .scale_attn_weights)
            try c.encode("float32", forKey: .torch_dtype)
        }
    }
}

public enum HuggingFaceConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not JSON, or a required key is missing or of the wrong type.
    case malformed(String)
    /// Well-formed, but describes a model cllm does not compute.
    case unsupported(String)

    public var description: String {
        switch self {
        case .malformed(let reason): "malformed: \(reason)"
        case .unsupported(let reason): "unsupported: \(reason)"
        }
    }
}
