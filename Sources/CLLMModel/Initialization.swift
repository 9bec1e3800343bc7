/// GPT-2's initialisation: every weight normal(0, 0.02), residual output projections normal(0, 0.02/√(2·layers)),
/// biases 0, LayerNorm weights 1 and biases 0. Values are drawn tensor by tensor in layout order from one
/// seeded generator, so a seed always gives the same model.
public enum Initialization {
    public static func initialize(_ parameters: UnsafeMutablePointer<Float>, layout: ParameterLayout, seed: UInt64) {
        var rng = RandomSource(seed: seed)
        let residualStd = 0.02 / (2 * Double(layout.config.layers)).squareRoot()
        for tensor in layout.tensors {
            let p = parameters + tensor.offset
            let isNorm = tensor.name.contains(".ln_") || tensor.name.hasPrefix("transformer.ln_f")
            if tensor.shape.count == 1 {
                let value: Float = isNorm && tensor.name.hasSuffix(".weight") ? 1 : 0
                p.update(repeating: value, count: tensor.count)
            } else {
                let std = layout.isResidualProjection(tensor) ? residualStd : 0.02
                for i in 0..<tensor.count { p[i] = Float(rng.nextNormal() * std) }
            }
        }
    }
}
