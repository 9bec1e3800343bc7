import CLLMKernels
import CLLMModel
import CLLMRuntime

/// The specification a run is held to, simulated or real: the same steps computed on one thread,
/// micro-batch after micro-batch, gradients summed in sphere order through the same shard plan. Per step it
/// records the merged gradient and the weights after the update. The simulation checks every step against
/// it; the runtime's tests check real threads against it.
public struct SequentialReference: Sendable {
    public let merged: [[Float]]
    public let weights: [[Float]]
    public let losses: [Double]

    public init(layout: ParameterLayout, spheres: Int, microBatch: Int, steps: Int, plan: BatchPlan, train: [Int32],
                hyperparameters h: Hyperparameters, shards: ShardPlan) {
        let params = FloatBuffer(count: layout.count)
        Initialization.initialize(params.pointer, layout: layout, seed: h.seed)
        let opt = AdamW(layout: layout)
        let grads = (0..<spheres).map { _ in FloatBuffer(count: layout.count) }
        let act = Activations(config: layout.config, batch: microBatch, time: layout.config.contextLength)
        let merged = FloatBuffer(count: layout.count)
        let tokens = Double(spheres * microBatch * layout.config.contextLength)
        var mergedLog: [[Float]] = [], weightLog: [[Float]] = [], lossLog: [Double] = []
        for step in 0..<steps {
            var loss = 0.0
            for s in 0..<spheres {
                plan.fill(step: step, sequences: (s * microBatch)..<((s + 1) * microBatch), from: train,
                          inputs: act.inputs.baseAddress!, targets: act.labels.baseAddress!)
                loss += GPT.forwardBackward(parameters: params.pointer, gradients: grads[s].pointer, layout: layout,
                                            activations: act, lossScale: Float(1 / tokens))
            }
            merged.copy(from: grads[0])
            for s in 1..<max(1, spheres) { Elementwise.add(merged.pointer, grads[s].pointer, count: layout.count) }
            var squares: [Double] = []
            for i in 0..<shards.count {
                let r = shards.range(i)
                squares.append(Elementwise.sumOfSquares(merged.pointer + r.lowerBound, count: r.count))
            }
            let norm = GradientMerge.norm(shardSquares: squares)
            let u = opt.nextUpdate(hyperparameters: h, learningRate: h.learningRate(at: step),
                                   gradientScale: AdamW.clipScale(norm: norm, clip: h.gradientClip))
            opt.apply(u, parameters: params.pointer, gradients: merged.pointer, range: 0..<layout.count)
            opt.step += 1
            mergedLog.append(merged.array)
            weightLog.append(params.array)
            lossLog.append(loss / tokens)
        }
        self.merged = mergedLog
        self.weights = weightLog
        self.losses = lossLog
    }
}
