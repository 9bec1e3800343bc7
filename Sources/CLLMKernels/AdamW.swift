/// The AdamW update of one contiguous range of parameters (PyTorch's formulation: decoupled weight decay
/// p ← p·(1 − lr·wd), then p ← p − lr/bc1 · m / (√v/√bc2 + eps)).
///
/// Ranges are independent, which is what lets the runtime shard the optimizer across threads and still
/// update each parameter exactly once with the same arithmetic.
public enum AdamWKernel {
    public struct Step: Sendable {
        public var learningRate: Float
        public var beta1: Float
        public var beta2: Float
        public var epsilon: Float
        public var weightDecay: Float
        /// 1 − β1^t and 1 − β2^t for the step counter t ≥ 1.
        public var biasCorrection1: Float
        public var biasCorrection2: Float
        /// Multiplies every gradient first (global-norm clipping); 1 when not clipping.
        public var gradientScale: Float

        public init(
            learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float,
            biasCorrection1: Float, biasCorrection2: Float, gradientScale: Float
        ) {
            self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
            self.weightDecay = weightDecay; self.biasCorrection1 = biasCorrection1
            self.biasCorrection2 = biasCorrection2; self.gradientScale = gradientScale
        }
    }

    public static func update(
        params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
        v: UnsafeMutablePointer<Float>, count: Int, step s: Step
    ) {
        let decay = 1 - s.learningRate * s.weightDecay
        let stepSize = s.learningRate / s.biasCorrection1
        let invSqrtBc2 = 1 / s.biasCorrection2.squareRoot()
        let b1 = Vec8(repeating: s.beta1), b2 = Vec8(repeating: s.beta2)
        let ob1 = Vec8(repeating: 1 - s.beta1), ob2 = Vec8(repeating: 1 - s.beta2)
        let gs = Vec8(repeating: s.gradientScale), dv = Vec8(repeating: decay)
        let ss = Vec8(repeating: stepSize), ib = Vec8(repeating: invSqrtBc2), ev = Vec8(repeating: s.epsilon)
        var i = 0
        while i + 8 <= count {
            let g = load8(grads + i) * gs
            let mn = b1 * load8(m + i) + ob1 * g
            let vn = b2 * load8(v + i) + ob2 * (g * g)
            store8(mn, m + i)
            store8(vn, v + i)
            let denom = vn.squareRoot() * ib + ev
            store8(load8(params + i) * dv - ss * (mn / denom), params + i)
            i += 8
        }
        while i < count {
            let g = grads[i] * s.gradientScale
            let mn = s.beta1 * m[i] + (1 - s.beta1) * g
            let vn = s.beta2 * v[i] + (1 - s.beta2) * (g * g)
            m[i] = mn
            v[i] = vn
            let denom = vn.squareRoot() * invSqrtBc2 + s.epsilon
            params[i] = params[i] * decay - stepSize * (mn / denom)
            i += 1
        }
    }
}
