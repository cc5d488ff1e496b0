import Extract
import FineTune
import Foundation
import HeadTrain
import Store

/// `headstart finetune`: mixed7 and the head trained together over a cache of mixed6 features, the base below
/// mixed6 frozen (its output is the cache) and BatchNorm in inference mode, as Keras fine-tunes the book model's
/// top block with the base called with `training=False`. The result is a `FineTunedModel`.
public struct FineTuningJob {
    public var cache: String
    /// The base weights the cache was extracted with: mixed7's units start from them.
    public var weights: String
    public var out: String
    /// The block to retrain; only mixed7 (over a mixed6 cache).
    public var from: CutLayer = FineTunedModel.block
    public var options = FineTuneOptions()
    public var hidden = Recipe.book.hidden
    public var dropout = Recipe.book.dropout
    /// Seed of a fresh head's weights (glorot_uniform, as `train`'s); `initialHead` overrides them.
    public var initSeed = Recipe.book.seed
    /// A head trained by `train` on mixed7 of the same base (the two-phase recipe), or a fine-tuned model to go
    /// on from (its block too).
    public var initialHead: String?
    /// Save the model after every epoch whose monitored loss improved, so `out` ends as the best epoch's.
    public var checkpointBest = false
    /// Every epoch each training sample reads one of its cached views (`extract --views`), the original included.
    public var augmentViews = false
    public var damagePolicy: DamagePolicy = .refuse
    public var tensorboard: String?

    public init(cache: String, weights: String, out: String) { self.cache = cache; self.weights = weights; self.out = out }
}

public enum FineTuning {
    /// The stages: the cache's splits, mixed7's starting units and head, the epochs, the model saved.
    @discardableResult
    public static func run(_ job: FineTuningJob, onEpoch: (EpochLog) -> Void = { _ in }) throws -> HeadTrainingResult {
        try OutputPath.check(job.out, as: "the model's output")
        guard job.from == FineTunedModel.block else { throw FineTuningError.unsupportedBlock(job.from) }
        let data = try TrainingData(cache: job.cache, writes: false, views: job.augmentViews, policy: job.damagePolicy)
        let (height, width) = try blockInput(data, cache: job.cache)
        let views = job.augmentViews ? data.viewSource(seed: job.options.seed) : nil
        let train: FeatureSource = views ?? data.train
        guard train.count > 0 else { throw HeadTrainingError.noTrainingRecords(cache: job.cache) }
        let (units, head) = try starting(job, data: data)
        let tuner = try FineTuner(units: units, head: head, options: job.options, height: height, width: width)
        let tensorboard = try job.tensorboard.map { try TensorBoardWriter(directory: $0) }
        let provenance = data.provenance
        let result = try tuner.fit(
            train: train, validation: data.validationOrNil,
            onEpoch: { log in try tensorboard?.append(log); onEpoch(log) },
            onImproved: job.checkpointBest
                ? { t, _ in try FineTunedModel.save(head: t.head, block: t.block.units(), provenance: provenance, to: job.out) } : nil)
        if !job.checkpointBest {
            try FineTunedModel.save(head: result.head, block: result.units, provenance: provenance, to: job.out)
        }
        return data.result(history: result.history, config: head.config, trainCount: train.count, views: views)
    }

    /// The block's input size: a `--layer mixed6` cache of H×W×768 features.
    static func blockInput(_ data: TrainingData, cache: String) throws -> (Int, Int) {
        let layer = data.provenance.settings.layer, shape = data.provenance.featureShape
        guard layer == FineTunedModel.cacheLayer else { throw FineTuningError.wrongCacheLayer(cache: cache, layer: layer) }
        guard shape.count == 3, shape[2] == Mixed7Block.outputChannels, shape[0] > 0, shape[1] > 0 else {
            throw FineTuningError.wrongFeatureShape(cache: cache, shape: shape)
        }
        return (shape[0], shape[1])
    }

    /// mixed7's units and the head to start from: the base's units and a fresh head, or `--init-head`'s head
    /// (trained by `train` on mixed7 of the same base, images and classes) — with its own block when it is a
    /// fine-tuned model.
    static func starting(_ job: FineTuningJob, data: TrainingData) throws -> ([ConvBNParameters], Head) {
        let base = try BaseWeights.load(path: job.weights, cut: FineTunedModel.block)
        guard base.sha256 == data.provenance.weightsSHA256 else {
            throw FineTuningError.otherWeights(weights: job.weights, cache: job.cache, cacheWeights: data.provenance.weightsName)
        }
        let units = Array(base.units[FineTunedModel.units])
        guard let path = job.initialHead else {
            return (units, try data.initialHead(hidden: job.hidden, dropout: job.dropout, seed: job.initSeed, from: nil))
        }
        let initial = try TrainedHead.load(path: path)
        var expected = data.provenance, recorded = initial.provenance
        expected.settings.layer = FineTunedModel.block
        recorded.fineTuning = nil
        try HeadEvaluation.check(recorded, against: expected, head: path, cache: job.cache)
        return (initial.block ?? units, try data.fitted(initial.head, path: path, dropout: job.dropout))
    }
}

/// Why a fine-tuning run cannot start. Each message names the cache, file or block.
public enum FineTuningError: Error, CustomStringConvertible, Equatable {
    /// `--from` names a block this headstart cannot retrain (only mixed7).
    case unsupportedBlock(CutLayer)
    /// The cache holds features of another cut than mixed6 (the input of mixed7).
    case wrongCacheLayer(cache: String, layer: CutLayer)
    /// The cache's mixed6 features are not H×W×768.
    case wrongFeatureShape(cache: String, shape: [Int])
    /// `--weights` is not the file the cache was extracted with.
    case otherWeights(weights: String, cache: String, cacheWeights: String)

    public var description: String {
        switch self {
        case let .unsupportedBlock(layer):
            return "--from \(layer.rawValue): this headstart fine-tunes mixed7 only (over a cache extracted with --layer mixed6)"
        case let .wrongCacheLayer(cache, layer):
            return "\(cache): the cache holds \(layer.rawValue) features; fine-tuning mixed7 needs its input, a cache extracted with --layer mixed6"
        case let .wrongFeatureShape(cache, shape):
            return "\(cache): the cache's features have shape \(shape); mixed6 is H×W×768"
        case let .otherWeights(weights, cache, cacheWeights):
            return "\(weights): not the weights file the cache \(cache) was extracted with (\(cacheWeights)); mixed7 must start from the same base"
        }
    }
}

extension PipelineDefinition {
    /// The mixed6 cache `run` fine-tunes over: `finetune: cache:`, else the pipeline's cache with `-mixed6`.
    public func fineTuningCache(_ cache: String) -> String { finetune?.cache ?? cache + "-mixed6" }

    /// The `finetune:` section as a job starting from the head `train` saved at `initialHead`; unset keys take
    /// `finetune`'s defaults, and the `train:` section's epochs, batch, hidden width and seed.
    public func fineTuningJob(cache: String, weights: String, out: String, initialHead: String, augmentViews: Bool) -> FineTuningJob {
        let f = finetune, t = train, book = Recipe.book
        var job = FineTuningJob(cache: cache, weights: weights, out: out)
        let lr = f?.lr.map(Float.init) ?? FineTuneOptions.defaultLearningRate
        let optimizer: FineTuneOptimizer = f?.optimizer == .sgd
            ? .sgd(learningRate: lr, momentum: Float(f?.momentum ?? 0.9)) : .rmsprop(RMSpropConfig(learningRate: lr))
        let seed = f?.seed ?? t?.seed ?? book.seed
        job.options = FineTuneOptions(epochs: f?.epochs ?? t?.epochs ?? book.epochs, batchSize: f?.batch ?? t?.batch ?? book.batchSize,
                                      optimizer: optimizer, shuffle: f?.shuffle ?? t?.shuffle ?? book.shuffle, seed: seed,
                                      earlyStopPatience: f?.earlyStop)
        job.dropout = f?.dropout.map(Float.init) ?? t?.dropout.map(Float.init) ?? book.dropout
        job.initSeed = seed
        job.initialHead = initialHead
        job.augmentViews = augmentViews
        job.tensorboard = f?.tensorboard
        return job
    }
}
