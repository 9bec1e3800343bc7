/// Where each named tensor lives inside the one flat parameter vector.
///
/// The order and names are Hugging Face's GPT-2 (`transformer.wte.weight`, `transformer.h.0.ln_1.weight`, …),
/// so a checkpoint is the flat vector cut at these offsets. Weights are stored as GPT-2's `Conv1D` does,
/// (in, out) row-major, which is also the layout the forward GEMMs want. `lm_head.weight` is tied to `wte`
/// and has no storage of its own.
public struct ParameterLayout: Sendable, Equatable {
    public struct Tensor: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
        /// AdamW applies weight decay to 2-D tensors only (matrices and embeddings), as GPT-2 recipes do.
        public var decays: Bool { shape.count >= 2 }
    }

    /// Offsets of one transformer block's tensors.
    public struct Block: Sendable, Equatable {
        public let ln1Weight, ln1Bias, attnWeight, attnBias, attnProjWeight, attnProjBias: Int
        public let ln2Weight, ln2Bias, fcWeight, fcBias, fcProjWeight, fcProjBias: Int
    }

    public let config: ModelConfig
    public let tensors: [Tensor]
    public let count: Int
    public let tokenEmbedding: Int
    public let positionEmbedding: Int
    public let blocks: [Block]
    public let finalNormWeight: Int
    public let finalNormBias: Int

    public init(_ config: ModelConfig) {
        self.config = config
        let c = config.width, v = config.vocabSize, t = config.contextLength, h = config.hiddenWidth
        var tensors: [Tensor] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let tensor = Tensor(name: name, shape: shape, offset: offset)
            tensors.append(tensor)
            offset += tensor.count
            return tensor.offset
        }
        tokenEmbedding = add("transformer.wte.weight", [v, c])
        positionEmbedding = add("transformer.wpe.weight", [t, c])
        var blocks: [Block] = []
        for i in 0..<config.layers {
            let p = "transformer.h.\(i)."
            blocks.append(Block(
                ln1Weight: add(p + "ln_1.weight", [c]), ln1Bias: add(p + "ln_1.bias", [c]),
                attnWeight: add(p + "attn.c_attn.weight", [c, 3 * c]), attnBias: add(p + "attn.c_attn.bias", [3 * c]),
                attnProjWeight: add(p + "attn.c_proj.weight", [c, c]), attnProjBias: add(p + "attn.c_proj.bias", [c]),
                ln2Weight: add(p + "ln_2.weight", [c]), ln2Bias: add(p + "ln_2.bias", [c]),
                fcWeight: add(p + "mlp.c_fc.weight", [c, h]), fcBias: add(p + "mlp.c_fc.bias", [h]),
                fcProjWeight: add(p + "mlp.c_proj.weight", [h, c]), fcProjBias: add(p + "mlp.c_proj.bias", [c])))
        }
        self.blocks = blocks
        finalNormWeight = add("transformer.ln_f.weight", [c])
        finalNormBias = add("transformer.ln_f.bias", [c])
        self.tensors = tensors
        self.count = offset
    }

    /// The tensor with this name, if the model has one.
    public func tensor(named name: String) -> Tensor? { tensors.first { $0.name == name } }

    /// Residual output projections, whose initial scale is divided by sqrt(2·layers) (GPT-2's init).
    public func isResidualProjection(_ tensor: Tensor) -> Bool {
        tensor.name.hasSuffix("attn.c_proj.weight") || tensor.name.hasSuffix("mlp.c_proj.weight")
    }
}
