import Extract
import Foundation
import HeadTrain
import Numerics

/// The optimiser of a fine-tuning run, applied alike to mixed7's parameters and the head's, as one Keras
/// `compile(optimizer=…)` does.
public enum FineTuneOptimizer: Equatable, Sendable {
    /// Keras 3 RMSprop (HeadTrain's `rmsprop_update`; rho and epsilon from the config).
    case rmsprop(RMSpropConfig)
    /// Keras 3 SGD with momentum (not Nesterov): `sgd_momentum_update`.
    case sgd(learningRate: Float, momentum: Float)

    public var learningRate: Float {
        switch self {
        case .rmsprop(let c): return c.learningRate
        case .sgd(let lr, _): return lr
        }
    }
}

public struct FineTuneOptions: Equatable, Sendable {
    /// The usual fine-tuning rate: small enough not to wreck the pre-trained block in its first steps.
    public static let defaultLearningRate: Float = 1e-5

    public var epochs: Int
    public var batchSize: Int
    public var optimizer: FineTuneOptimizer
    /// A fresh permutation of the training samples every epoch (from `seed` and the epoch, as `HeadTrainer`'s);
    /// false keeps sample order, as `fit(..., shuffle=False)`.
    public var shuffle: Bool
    /// Seeds the per-epoch shuffles and the dropout masks (the initial weights are the caller's).
    public var seed: UInt64
    /// Keras `EarlyStopping(patience:)` on val_loss (loss without validation data), min_delta 0, no restoring.
    public var earlyStopPatience: Int?
    /// Threads for the GEMMs (OpenBLAS's) and the head's passes.
    public var threads: Int

    public init(epochs: Int = Recipe.book.epochs, batchSize: Int = Recipe.book.batchSize,
                optimizer: FineTuneOptimizer = .rmsprop(RMSpropConfig(learningRate: FineTuneOptions.defaultLearningRate)),
                shuffle: Bool = Recipe.book.shuffle, seed: UInt64 = Recipe.book.seed, earlyStopPatience: Int? = nil,
                threads: Int = 2) {
        self.epochs = epochs; self.batchSize = batchSize; self.optimizer = optimizer; self.shuffle = shuffle
        self.seed = seed; self.earlyStopPatience = earlyStopPatience; self.threads = threads
    }

    func validate() throws {
        guard batchSize >= 1 else { throw FineTuneError.invalidOption("batch size must be at least 1 (found \(batchSize))") }
        guard epochs >= 0 else { throw FineTuneError.invalidOption("epochs must not be negative (found \(epochs))") }
        let lr = optimizer.learningRate
        guard lr.isFinite, lr > 0 else { throw FineTuneError.invalidOption("learning rate must be positive and finite (found \(lr))") }
        if case .sgd(_, let momentum) = optimizer, !(momentum >= 0 && momentum <= 1) {
            throw FineTuneError.invalidOption("momentum must be in [0, 1] (found \(momentum))")
        }
    }
}

/// What a fine-tuning run leaves: the head, mixed7's ten units (trained kernels and betas, moving statistics as
/// they came) and the per-epoch history as Keras reports it.
public struct FineTuneResult {
    public var head: Head
    public var units: [ConvBNParameters]
    public var history: TrainingHistory
}

/// Fine-tunes mixed7 and a dense head together over cached mixed6 features: per batch, mixed6 from the source →
/// `Mixed7Block.forward` → the head's forward and loss → the head's backward down to ∂L/∂mixed7 →
/// `Mixed7Block.backward` → one optimiser step on both. Losses and accuracies are reported as `HeadTrainer`
/// reports them (Keras's running, sample-weighted means; validation after the epoch with its final weights).
public final class FineTuner {
    public let block: Mixed7Block
    public let head: Head
    public let options: FineTuneOptions
    let stepper: HeadStepper
    /// mixed6 of the batch [B, H·W·768] and ∂L/∂mixed7 [B, H·W·768].
    let input: AlignedFloats, dOutput: AlignedFloats
    /// The block's optimiser state (RMSprop velocity or SGD momentum) in its parameters' layout.
    let blockState: AlignedFloats
    /// SGD only: the head's gradients and momentum in its parameters' layout (RMSprop keeps its velocity in the
    /// stepper and fuses w1's update with its gradient).
    let headGradients: AlignedFloats?, headMomentum: AlignedFloats?

    /// `units`: mixed7's ten conv2d_bn units (`InceptionV3Weights.units[60..<70]`); `head`: the head to train
    /// from (a head trained by `train` for the two-phase recipe, or `Head(config:seed:)` for fresh glorot
    /// weights as `HeadTrainer`'s callers make them), its feature count H·W·768. Both are trained in place.
    public init(units: [ConvBNParameters], head: Head, options: FineTuneOptions, height: Int = 7, width: Int = 7) throws {
        try options.validate()
        let F = height * width * Mixed7Block.outputChannels
        guard head.config.featureCount == F else {
            throw FineTuneError.invalidSize("the head takes \(head.config.featureCount) features; mixed7 at \(height)×\(width) gives \(F)")
        }
        block = try Mixed7Block(units: units, capacity: options.batchSize, height: height, width: width, threads: options.threads)
        self.head = head
        self.options = options
        let rms: RMSpropConfig
        if case .rmsprop(let c) = options.optimizer { rms = c } else { rms = RMSpropConfig() }
        stepper = HeadStepper(head: head, maxBatch: options.batchSize, optimizer: rms,
                              parallelism: .threads(max(1, options.threads)), inputBuffers: 1)
        input = AlignedFloats(count: options.batchSize * F)
        dOutput = AlignedFloats(count: options.batchSize * F)
        blockState = AlignedFloats(count: block.parameterCount)
        if case .sgd = options.optimizer {
            headGradients = AlignedFloats(count: head.layout.total)
            headMomentum = AlignedFloats(count: head.layout.total)
        } else {
            headGradients = nil; headMomentum = nil
        }
    }

    /// A fresh head of `headConfig` with glorot-uniform kernels from `initSeed`, exactly as `Head(config:seed:)`
    /// makes them for `HeadTrainer` (the one-phase recipe: block and head trained together from the start).
    public convenience init(units: [ConvBNParameters], headConfig: HeadConfig, initSeed: UInt64, options: FineTuneOptions,
                            height: Int = 7, width: Int = 7) throws {
        try self.init(units: units, head: try Head(config: headConfig, seed: initSeed), options: options, height: height, width: width)
    }

    /// Runs `options.epochs` epochs (fewer if early stopping fires) over mixed6 features. `onEpoch` gets each
    /// epoch's log; `onImproved` gets this tuner and the log when the monitored loss improves (strictly, from
    /// +∞) — the caller checkpoints `head` and `block.units()` there. Deterministic for a given seed, weights and
    /// sources.
    @discardableResult
    public func fit(train: FeatureSource, validation: FeatureSource? = nil,
                    onEpoch: (EpochLog) throws -> Void = { _ in },
                    onImproved: ((FineTuner, EpochLog) throws -> Void)? = nil) throws -> FineTuneResult {
        let trainLabels = try checkedLabels(train, "training features", for: head.config)
        let valLabels = try validation.map { try checkedLabels($0, "validation features", for: head.config) }
        let N = train.count, B = options.batchSize
        var history = TrainingHistory()
        var stopping = EarlyStopping(patience: options.earlyStopPatience)
        var step: UInt64 = 0
        for epoch in 0..<options.epochs {
            let start = now()
            let order = epochOrder(count: N, epoch: epoch, seed: options.seed, shuffle: options.shuffle)
            train.startEpoch(epoch, order: order)
            var means = BatchMeans()
            let batches = (N + B - 1) / B
            for s in stride(from: 0, to: N, by: B) {
                let b = min(N, s + B) - s
                try train.fill(indices: Array(order[s..<(s + b)]), into: input.pointer)
                for r in 0..<b { stepper.workspace.labels[r] = Int32(trainLabels[order[s + r]]) }
                var rng = SplitMix64(key: SplitMix64.streamKey(seed: options.seed, tag: .dropout, index: step))
                let loss = withDenormalsFlushed { trainStep(B: b, rng: &rng) }
                try means.addTraining(loss: loss, correct: stepper.correctCount(B: b), size: b, epoch: epoch, batch: s / B, of: batches)
                step += 1
            }
            var validated: (loss: Double, accuracy: Double)?
            if let validation, let valLabels { validated = try evaluate(validation, labels: valLabels) }
            var log = try EpochLog(epoch: epoch + 1, training: means, validation: validated)
            log.seconds = now() - start
            let verdict = history.record(log, &stopping)
            try onEpoch(log)
            if verdict == .improved { try onImproved?(self, log) }
            if verdict == .stop { break }
        }
        return FineTuneResult(head: head, units: block.units(), history: history)
    }

    /// One step on the batch of `B` samples in `input` (labels in the stepper's workspace): every gradient is
    /// taken with the weights as they are, then both parts are updated. Returns the batch's mean loss.
    func trainStep(B: Int, rng: inout SplitMix64) -> Float {
        block.forward(input: input.pointer, B: B, output: stepper.workspace.x)
        let loss: Float
        let p = block.parameters.pointer, g = block.gradients.pointer, n = block.parameterCount
        switch options.optimizer {
        case .rmsprop(let c):
            loss = stepper.trainStep(B: B, rng: &rng, inputGradient: dOutput.pointer)
            block.backward(input: input.pointer, dOutput: dOutput.pointer)
            // Keras casts rho, 1 − rho (computed in Double) and epsilon to float32 at use.
            rmsprop_update(p, blockState.pointer, g, N: n, lr: c.learningRate, rho: Float(c.rho),
                           oneMinusRho: Float(1 - c.rho), eps: Float(c.epsilon))
        case let .sgd(lr, momentum):
            let hg = headGradients!.pointer, hm = headMomentum!.pointer, l = head.layout
            loss = stepper.backward(B: B, rng: &rng, gradients: hg, inputGradient: dOutput.pointer)
            block.backward(input: input.pointer, dOutput: dOutput.pointer)
            for (w, offset, count) in [(head.w1, l.w1, l.F * l.H), (head.b1, l.b1, l.H), (head.w2, l.w2, l.H * l.O), (head.b2, l.b2, l.O)] {
                sgd_momentum_update(w, hm + offset, hg + offset, N: count, lr: lr, momentum: momentum)
            }
            sgd_momentum_update(p, blockState.pointer, g, N: n, lr: lr, momentum: momentum)
        }
        return loss
    }

    /// Loss and accuracy over a source with the current weights, as Keras evaluates validation data: per batch
    /// of `batchSize` a mean loss and accuracy, then their sample-weighted means.
    public func evaluate(_ source: FeatureSource, labels: [Int]) throws -> (loss: Double, accuracy: Double) {
        var means = BatchMeans()
        var rng = SplitMix64(key: 0)  // unused: no dropout at inference
        let B = options.batchSize
        for s in stride(from: 0, to: source.count, by: B) {
            let b = min(source.count, s + B) - s
            try source.fill(indices: Array(s..<(s + b)), into: input.pointer)
            for r in 0..<b { stepper.workspace.labels[r] = Int32(labels[s + r]) }
            block.forward(input: input.pointer, B: b, output: stepper.workspace.x)
            let loss = stepper.forward(B: b, training: false, rng: &rng)
            means.add(loss: loss, correct: stepper.correctCount(B: b), size: b)
        }
        return (means.loss.mean, means.accuracy.mean)
    }

    /// Probabilities [count, outputs] of the current model for every sample of `source`, in order.
    public func predict(_ source: FeatureSource) throws -> [Float] {
        let O = head.layout.O, B = options.batchSize
        var out = [Float](repeating: 0, count: source.count * O)
        var rng = SplitMix64(key: 0)
        for s in stride(from: 0, to: source.count, by: B) {
            let b = min(source.count, s + B) - s
            try source.fill(indices: Array(s..<(s + b)), into: input.pointer)
            block.forward(input: input.pointer, B: b, output: stepper.workspace.x)
            stepper.forward(B: b, training: false, rng: &rng, withLoss: false)
            for i in 0..<(b * O) { out[s * O + i] = stepper.workspace.probs[i] }
        }
        return out
    }
}
