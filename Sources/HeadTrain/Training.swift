import Foundation
import Numerics

public struct TrainingOptions: Equatable, Sendable {
    public var epochs = Recipe.book.epochs
    public var batchSize = Recipe.book.batchSize
    public var optimizer = RMSpropConfig(learningRate: Float(Recipe.book.learningRate))
    /// Keras-style: a fresh permutation of the training samples every epoch (from `seed` and the epoch);
    /// false keeps sample order, as `fit(..., shuffle=False)`.
    public var shuffle = Recipe.book.shuffle
    /// Seeds the per-epoch shuffles and the dropout masks (initial weights are the caller's `Head`).
    public var seed = Recipe.book.seed
    /// Stop when the monitored loss has not improved for this many epochs (Keras `EarlyStopping(patience:)`,
    /// min_delta 0, no restoring). The monitor is val_loss when there is validation data, else loss.
    public var earlyStopPatience: Int?
    public var parallelism: Parallelism = .threads(2)
    /// Which GEMMs run the first layer (headstart's kernels unless asked otherwise, for comparisons).
    public var backend: HeadBackend = .preferred
    public var tileRows = 64
    /// Use the plain (unfused) step; for comparisons only.
    public var referenceStep = false

    public init(epochs: Int = Recipe.book.epochs, batchSize: Int = Recipe.book.batchSize,
                learningRate: Float = Float(Recipe.book.learningRate), shuffle: Bool = Recipe.book.shuffle,
                seed: UInt64 = Recipe.book.seed, earlyStopPatience: Int? = nil) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = RMSpropConfig(learningRate: learningRate)
        self.shuffle = shuffle
        self.seed = seed
        self.earlyStopPatience = earlyStopPatience
    }
}

/// One epoch as Keras's History records it. Losses and accuracies are sample-weighted means: training ones
/// accumulated over the epoch's batches as the weights change (each batch's mean loss weighted by its size),
/// validation ones computed after the epoch with the epoch's final weights.
public struct EpochLog: Equatable, Sendable {
    public var epoch: Int          // 1-based, as Keras prints "Epoch 1/40"
    public var loss: Double
    public var accuracy: Double
    public var valLoss: Double?
    public var valAccuracy: Double?
    public var seconds: Double

    public init(epoch: Int, loss: Double, accuracy: Double, valLoss: Double?, valAccuracy: Double?, seconds: Double) {
        self.epoch = epoch; self.loss = loss; self.accuracy = accuracy
        self.valLoss = valLoss; self.valAccuracy = valAccuracy; self.seconds = seconds
    }
}

extension EpochLog {
    /// Epoch `epoch`'s log from its training means and, with validation data, the validation loss and accuracy
    /// (a validation loss that is not finite stops training with `HeadError.notFinite`); `seconds` 0, for the
    /// caller to set last.
    public init(epoch: Int, training: BatchMeans, validation: (loss: Double, accuracy: Double)?) throws {
        self.init(epoch: epoch, loss: training.loss.mean, accuracy: training.accuracy.mean, valLoss: nil, valAccuracy: nil,
                  seconds: 0)
        if let validation {
            guard validation.loss.isFinite else { throw HeadError.notFinite("the validation loss after epoch \(epoch) is \(validation.loss)") }
            valLoss = validation.loss
            valAccuracy = validation.accuracy
        }
    }
}

public struct TrainingHistory: Equatable, Sendable {
    public var epochs: [EpochLog] = []
    /// The epoch (1-based) whose monitored loss was the best.
    public var bestEpoch: Int?
    public var stoppedEarly = false

    public init() {}

    /// Appends an epoch's log and judges it by `stopping`, recording the best epoch and an early stop.
    public mutating func record(_ log: EpochLog, _ stopping: inout EarlyStopping) -> EarlyStopping.Verdict {
        epochs.append(log)
        let verdict = stopping.observe(log)
        if verdict == .improved { bestEpoch = log.epoch }
        if verdict == .stop { stoppedEarly = true }
        return verdict
    }
}

/// Sample-weighted running means, as Keras's `Mean` metric: total += value·weight, count += weight.
public struct WeightedMean: Equatable, Sendable {
    public private(set) var total = 0.0
    public private(set) var weight = 0.0
    public init() {}
    public mutating func add(_ value: Double, weight w: Double) { total += value * w; weight += w }
    public var mean: Double { weight > 0 ? total / weight : 0 }
}

/// Keras's running loss and accuracy over batches: each batch's mean loss and its fraction right, weighted by the
/// batch's size (the last batch of an epoch is smaller).
public struct BatchMeans: Equatable, Sendable {
    public private(set) var loss = WeightedMean(), accuracy = WeightedMean()
    public init() {}

    /// Adds a batch of `size` samples with mean loss `loss`, `correct` of them right.
    public mutating func add(loss: Float, correct: Int, size: Int) {
        self.loss.add(Double(loss), weight: Double(size))
        accuracy.add(Double(correct) / Double(size), weight: Double(size))
    }

    /// `add` for a training batch: a loss that is not finite stops training (`HeadError.notFinite`), naming the
    /// epoch (0-based here, 1-based in the message) and batch `index` of `count`.
    public mutating func addTraining(loss: Float, correct: Int, size: Int, epoch: Int, batch index: Int, of count: Int) throws {
        guard loss.isFinite else {
            throw HeadError.notFinite("the training loss of epoch \(epoch + 1), batch \(index + 1) of \(count) is \(loss)")
        }
        add(loss: loss, correct: correct, size: size)
    }
}

/// The order in which epoch `epoch` (0-based) visits `count` training samples: 0..<count, or with `shuffle` a
/// fresh permutation from the seed's shuffle stream for that epoch (Keras's `fit(shuffle=True)` draws one per epoch).
public func epochOrder(count: Int, epoch: Int, seed: UInt64, shuffle: Bool) -> [Int] {
    var order = Array(0..<count)
    if shuffle {
        var rng = SplitMix64(key: SplitMix64.streamKey(seed: seed, tag: .shuffle, index: UInt64(epoch)))
        order.shuffle(with: &rng)
    }
    return order
}

/// Keras's EarlyStopping (min_delta 0, no restoring) and ModelCheckpoint(save_best_only) on one monitor: val_loss
/// when the epoch has one, else loss. An epoch improves when its monitored loss is strictly below the best so far
/// (starting from +∞); training stops once `patience` epochs in a row have not improved (never after the first).
public struct EarlyStopping: Sendable {
    public enum Verdict: Equatable, Sendable { case improved, notImproved, stop }
    public let patience: Int?
    var best = Double.infinity, wait = 0

    public init(patience: Int?) { self.patience = patience }

    public mutating func observe(_ log: EpochLog) -> Verdict {
        let monitored = log.valLoss ?? log.loss
        wait += 1
        if monitored < best {
            best = monitored
            wait = 0
            return .improved
        }
        if let patience, wait >= patience, log.epoch > 1 { return .stop }
        return .notImproved
    }
}

/// Trains a head with RMSprop over a feature source.
public final class HeadTrainer {
    public let head: Head
    public let options: TrainingOptions
    public let stepper: HeadStepper

    public init(head: Head, options: TrainingOptions) throws {
        guard options.batchSize >= 1 else { throw HeadError.invalidConfig("batch size must be at least 1") }
        guard options.epochs >= 0 else { throw HeadError.invalidConfig("epochs must not be negative") }
        let lr = options.optimizer.learningRate
        guard lr.isFinite, lr > 0 else { throw HeadError.invalidConfig("learning rate must be positive and finite (found \(lr))") }
        let what = "training a head of \(head.config.featureCount) × \(head.config.hidden) in batches of \(options.batchSize)"
        guard let bytes = HeadTrainer.memoryBytes(config: head.config, batchSize: options.batchSize,
                                                  threads: options.parallelism.count, tileRows: options.tileRows) else {
            throw HeadError.tooLarge(what: what, bytes: .max, available: Int(clamping: ProcessInfo.processInfo.physicalMemory))
        }
        try checkMemory(bytes, what)
        self.head = head
        self.options = options
        stepper = HeadStepper(head: head, maxBatch: options.batchSize, optimizer: options.optimizer,
                              parallelism: options.parallelism, tileRows: options.tileRows, backend: options.backend)
    }

    /// Bytes a trainer allocates for `config` at `batchSize`, or nil when the sum overflows: the parameters and the
    /// RMSprop velocity (2 × the layout), the gradients of everything but w1, the workspace (two input batches
    /// B·F, six B·H and four B·O activations, B labels and losses) and each thread's tile (tileRows·H) and partial
    /// sums (B·H); and the validation pass's chunk of C samples (`BatchedValidation`: C·F inputs, five C·H
    /// activations and a C·H partial sum per thread). Sweeps size their passes with it too.
    public static func memoryBytes(config: HeadConfig, batchSize B: Int, threads: Int = 2, tileRows: Int = 64) -> Int? {
        let C = BatchedValidation.chunkRows(batch: B, count: .max)
        guard let params = config.parameterCount, let bf = checkedProduct(B, config.featureCount),
              let bh = checkedProduct(B, config.hidden), let bo = checkedProduct(B, config.outputs),
              let tiles = checkedProduct(threads, checkedProduct(tileRows, config.hidden) ?? .max),
              let partials = checkedProduct(threads, bh), let cf = checkedProduct(C, config.featureCount),
              let ch = checkedProduct(C, config.hidden), threads < Int.max - 5 else { return nil }
        var total = 0
        for (n, k) in [(params, 3), (bf, 2), (bh, 6), (bo, 4), (B, 2), (tiles, 1), (partials, 1), (cf, 1), (ch, 5 + threads)] {
            guard let part = checkedProduct(n, k) else { return nil }
            let (sum, overflow) = total.addingReportingOverflow(part)
            if overflow { return nil }
            total = sum
        }
        return checkedProduct(total, MemoryLayout<Float>.stride)
    }

    /// Runs `options.epochs` epochs (fewer if early stopping fires). After each epoch `onEpoch` gets its log;
    /// when the monitored loss improves (strictly, starting from +∞), `onImproved` gets the head and the log —
    /// the caller writes its best checkpoint there. Deterministic for a given seed, head and sources.
    @discardableResult
    public func fit(train: FeatureSource, validation: FeatureSource? = nil,
                    onEpoch: (EpochLog) throws -> Void = { _ in },
                    onImproved: ((Head, EpochLog) throws -> Void)? = nil) throws -> TrainingHistory {
        let trainLabels = try checkedLabels(train, "training features")
        let valLabels = try validation.map { try checkedLabels($0, "validation features") }
        let N = train.count, B = options.batchSize
        var history = TrainingHistory()
        var stopping = EarlyStopping(patience: options.earlyStopPatience)
        var step: UInt64 = 0
        let ws = stepper.workspace
        let evaluator = validation.map { makeEvaluator(rows: BatchedValidation.chunkRows(batch: B, count: $0.count)) }
        for epoch in 0..<options.epochs {
            let start = now()
            let order = epochOrder(count: N, epoch: epoch, seed: options.seed, shuffle: options.shuffle)
            train.startEpoch(epoch, order: order)
            var means = BatchMeans()
            let bounds = Array(stride(from: 0, to: N, by: B))
            var current = -1  // the batch whose features are in ws.x
            for k in bounds.indices {
                let s = bounds[k], b = min(N, s + B) - s
                if current != k { try train.fill(indices: Array(order[s..<(s + b)]), into: ws.x) }
                for r in 0..<b { ws.labels[r] = Int32(trainLabels[order[s + r]]) }
                var rng = SplitMix64(key: SplitMix64.streamKey(seed: options.seed, tag: .dropout, index: step))
                let loss: Float
                if options.referenceStep {
                    loss = stepper.trainStepReference(B: b, rng: &rng)
                } else if k + 1 < bounds.count {
                    // Fetch the next batch now: the fused step computes its first layer while w1 is in cache.
                    let s2 = bounds[k + 1], b2 = min(N, s2 + B) - s2
                    try train.fill(indices: Array(order[s2..<(s2 + b2)]), into: ws.xNext)
                    loss = stepper.trainStep(B: b, rng: &rng, next: b2)
                    current = k + 1
                } else {
                    loss = stepper.trainStep(B: b, rng: &rng)
                }
                try means.addTraining(loss: loss, correct: stepper.correctCount(B: b), size: b, epoch: epoch, batch: k, of: bounds.count)
                step += 1
            }
            var validated: (loss: Double, accuracy: Double)?
            if let validation, let valLabels, let evaluator {
                validated = try meanLossAndAccuracy(validation, labels: valLabels, evaluator: evaluator)
            }
            var log = try EpochLog(epoch: epoch + 1, training: means, validation: validated)
            log.seconds = now() - start
            let verdict = history.record(log, &stopping)
            try onEpoch(log)
            if verdict == .improved { try onImproved?(head, log) }
            if verdict == .stop { break }
        }
        return history
    }

    /// Loss and accuracy over a source with the current weights as Keras's evaluation of validation data
    /// computes them (see `BatchedValidation`).
    func meanLossAndAccuracy(_ source: FeatureSource, labels: [Int], evaluator: HeadStepper) throws -> (loss: Double, accuracy: Double) {
        var means = BatchedValidation()
        let ws = evaluator.workspace, chunk = ws.maxBatch
        var s = 0
        while s < source.count {
            let rows = min(chunk, source.count - s)
            try source.fill(indices: Array(s..<(s + rows)), into: ws.x)
            for r in 0..<rows { ws.labels[r] = Int32(labels[s + r]) }
            means.add(rows: rows, batch: options.batchSize, evaluator: evaluator)
            s += rows
        }
        return (means.loss.mean, means.accuracy.mean)
    }

    /// An inference stepper over this trainer's head for chunks of `rows` samples (`inputBuffers` as `Workspace`'s).
    func makeEvaluator(rows: Int, inputBuffers: Int = 1) -> HeadStepper {
        HeadStepper(head: head, maxBatch: rows, parallelism: options.parallelism, tileRows: 1, backend: options.backend,
                    inputBuffers: inputBuffers)
    }

    func checkedLabels(_ s: FeatureSource, _ what: String) throws -> [Int] {
        try HeadTrain.checkedLabels(s, what, for: head.config)
    }
}

/// The labels of a source a head of `config` is to train or be evaluated on, after checking that it has samples,
/// their feature count is the head's and every label is one of its classes (`what` names the source in errors).
public func checkedLabels(_ s: FeatureSource, _ what: String, for config: HeadConfig) throws -> [Int] {
    guard s.count > 0 else { throw HeadError.emptyDataset(what) }
    guard s.featureCount == config.featureCount else {
        throw HeadError.featureCountMismatch(expected: config.featureCount, found: s.featureCount)
    }
    let labels = s.labels()
    guard labels.count == s.count else {
        throw HeadError.shapeMismatch(what: "\(what) labels", expected: [s.count], found: [labels.count])
    }
    for (i, l) in labels.enumerated() where l < 0 || l >= config.classes {
        throw HeadError.invalidLabel(index: i, label: l, classes: config.classes)
    }
    return labels
}

/// Keras's validation pass — per batch of `batch` samples a mean loss and accuracy, then their sample-weighted
/// means over the split — with the first layer run over chunks of whole batches at once, so w1 (154 MB for the
/// book's head) streams once per chunk instead of once per batch. A sample's outputs do not depend on the samples
/// beside it in the chunk (headstart's kernels sum each row alike whatever the number of rows; OpenBLAS, the
/// comparison backend, may not), and each batch mean is summed as `sigmoid_bce_forward` sums it, so the figures
/// equal those of batch-by-batch evaluation bit for bit.
struct BatchedValidation {
    var means = BatchMeans()
    var loss: WeightedMean { means.loss }
    var accuracy: WeightedMean { means.accuracy }

    /// Samples per chunk: whole batches, about 256 samples (at least one batch), no more than `count` needs.
    static func chunkRows(batch: Int, count: Int) -> Int {
        let batch = max(batch, 1), count = max(count, 1)
        let batches = max(1, 256 / batch), needed = count / batch + (count % batch > 0 ? 1 : 0)
        return batch * min(batches, needed)
    }

    /// Adds `rows` samples whose features and labels the caller put in `evaluator`'s workspace.
    mutating func add(rows: Int, batch: Int, evaluator: HeadStepper) {
        var rng = SplitMix64(key: 0)  // unused: no dropout at inference
        evaluator.forward(B: rows, training: false, rng: &rng, withLoss: true)
        let losses = evaluator.workspace.losses
        var s = 0
        while s < rows {
            let b = min(batch, rows - s)
            var sum = 0.0
            for r in s..<(s + b) { sum += Double(losses[r]) }
            means.add(loss: Float(sum / Double(b)), correct: evaluator.correctCount(from: s, count: b), size: b)
            s += b
        }
    }
}

/// Inference forward over a source in order, batch by batch; `body(b, meanLoss)` sees the workspace's probs.
/// With `labels` nil the loss is not computed (0 is passed).
func forEachBatch(_ source: FeatureSource, labels: [Int]?, stepper: HeadStepper, batch: Int,
                  _ body: (Int, Float) throws -> Void) throws {
    let ws = stepper.workspace
    var rng = SplitMix64(key: 0)  // unused: no dropout at inference
    var s = 0
    while s < source.count {
        let e = min(source.count, s + batch), b = e - s
        try source.fill(indices: Array(s..<e), into: ws.x)
        if let labels { for r in 0..<b { ws.labels[r] = Int32(labels[s + r]) } }
        let loss = stepper.forward(B: b, training: false, rng: &rng, withLoss: labels != nil)
        try body(b, loss)
        s = e
    }
}
