import CLLMKernels

/// AdamW state (first and second moments, step counter) over the flat parameter vector, with weight decay
/// on 2-D tensors only and global-norm clipping.
///
/// Updates are by ranges of the flat vector so the runtime can shard the optimizer: any partition of
/// 0..<count into ranges, each applied once, gives the same bits as one call over everything.
public final class AdamW {
    public let layout: ParameterLayout
    public let firstMoment: FloatBuffer
    public let secondMoment: FloatBuffer
    /// Optimizer steps completed; the bias corrections use t = step + 1 for the next update.
    public var step: Int

    public init(layout: ParameterLayout, allocator: any FloatAllocator = SystemAllocator()) {
        self.layout = layout
        firstMoment = FloatBuffer(count: layout.count, allocator: allocator)
        secondMoment = FloatBuffer(count: layout.count, allocator: allocator)
        step = 0
    }

    /// Settings of one update, fixed before any shard runs.
    public struct Update: Sendable {
        public var kernel: AdamWKernel.Step
        public let weightDecay: Float
    }

    /// The update for the next step (t = step + 1) at learning rate `lr`, scaling gradients by `gradientScale`.
    public func nextUpdate(hyperparameters h: Hyperparameters, learningRate lr: Double, gradientScale: Float) -> Update {
        update(after: step, hyperparameters: h, learningRate: lr, gradientScale: gradientScale)
    }

    /// The update that follows `completed` steps (t = completed + 1): what `nextUpdate` gives once the counter
    /// reaches `completed`, fixed in advance for a run of several steps.
    public func update(
        after completed: Int, hyperparameters h: Hyperparameters, learningRate lr: Double, gradientScale: Float
    ) -> Update {
        let t = Double(completed + 1)
        let k = AdamWKernel.Step(
            learningRate: Float(lr), beta1: Float(h.beta1), beta2: Float(h.beta2), epsilon: Float(h.epsilon),
            weightDecay: 0, biasCorrection1: Float(1 - _pow(h.beta1, t)), biasCorrection2: Float(1 - _pow(h.beta2, t)),
            gradientScale: gradientScale)
        return Update(kernel: k, weightDecay: Float(h.weightDecay))
    }

    /// Applies `update` to parameters in `range` (a shard of the flat vector); decay follows each tensor.
    public func apply(
        _ update: Update, parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, range: Range<Int>
    ) {
        AdamW.apply(
            update, layout: layout, parameters: parameters, gradients: gradients, firstMoment: firstMoment.pointer,
            secondMoment: secondMoment.pointer, range: range)
    }

    /// The same update on explicit buffers: what a sphere runs on the shards it owns.
    public static func apply(
        _ update: Update, layout: ParameterLayout, parameters: UnsafeMutablePointer<Float>,
        gradients: UnsafePointer<Float>, firstMoment: UnsafeMutablePointer<Float>,
        secondMoment: UnsafeMutablePointer<Float>, range: Range<Int>
    ) {
        for tensor in layout.tensors {
            let lo = max(range.lowerBound, tensor.offset), hi = min(range.upperBound, tensor.offset + tensor.count)
            if lo >= hi { continue }
            var k = update.kernel
            k.weightDecay = tensor.decays ? update.weightDecay : 0
            AdamWKernel.update(
                params: parameters + lo, grads: gradients + lo, m: firstMoment + lo,
                v: secondMoment + lo, count: hi - lo, step: k)
        }
    }

    /// The multiplier global-norm clipping applies to every gradient (PyTorch's `clip_grad_norm_`:
    /// clip / (norm + 1e-6), at most 1). `clip` 0 disables clipping.
    public static func clipScale(norm: Double, clip: Double) -> Float {
        guard clip > 0 else { return 1 }
        return Float(min(1, clip / (norm + 1e-6)))
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Darwin.pow(x, y) }
#endif
