import Extract
import Foundation
import HeadTrain
import Store

/// Stage two over a cache: the training split trains, the validation split validates, the head is saved with
/// the provenance of its features.
public struct HeadTrainingJob {
    public var cache: String
    public var out: String
    public var options = TrainingOptions()
    public var hidden = Recipe.book.hidden
    public var dropout = Recipe.book.dropout
    /// Seed of the initial weights (glorot_uniform); `initial` overrides them.
    public var initSeed = Recipe.book.seed
    /// A head file to start from instead of fresh weights (`--init`).
    public var initial: String?
    /// Save the head after every epoch whose monitored loss improved (`--checkpoint-best`), to `out`; the final
    /// head is then the best one, not the last.
    public var checkpointBest = false
    /// How training samples are augmented (validation never is: it reads view 0).
    public var augment: HeadAugmentation = .none
    /// Damaged entries: refuse (the default) or train without them (`--skip-damaged`).
    public var damagePolicy: DamagePolicy = .refuse
    /// A folder for TensorBoard event files, one point per epoch (`TensorBoardWriter`).
    public var tensorboard: String?

    public init(cache: String, out: String) { self.cache = cache; self.out = out }
}

/// `train --augment`.
public enum HeadAugmentation {
    /// Every epoch reads the images themselves (view 0).
    case none
    /// Every epoch each sample reads one of its cached views, the original included (`CacheViewFeatures`).
    case views
    /// A fraction of each epoch's samples is re-extracted from freshly augmented images (`LiveAugmentedFeatures`).
    case live(LiveAugmentation)
}

public struct HeadTrainingResult {
    public var history: TrainingHistory
    public var provenance: HeadProvenance
    public var config: HeadConfig
    public var trainCount: Int, validationCount: Int
    /// With `--augment views`: how many training samples have augmented views, and the views in all.
    public var samplesWithViews = 0, augmentedViews = 0
    /// With `--augment live`: what the producer did.
    public var live: LiveAugmentationStats?
    /// Entries and views left out as damaged (`--skip-damaged`).
    public var damaged: [DamagedEntry] = []
}

public enum HeadTraining {
    /// `onEpoch` follows every epoch; with `--augment live`, `onLiveEpoch` then gets what the producer and the
    /// trainer did in that epoch (fresh samples, seconds each side waited).
    @discardableResult
    public static func run(_ job: HeadTrainingJob, onEpoch: (EpochLog) -> Void = { _ in },
                           onLiveEpoch: (LiveAugmentationStats) -> Void = { _ in }) throws -> HeadTrainingResult {
        try OutputPath.check(job.out, as: "the head's output")
        // Only `--augment live --keep-views` writes (the fresh views); everything else reads.
        var writes = false, augmentsViews = false
        switch job.augment {
        case .none: break
        case .views: augmentsViews = true
        case .live(let live): writes = live.keepViews
        }
        let data = try TrainingData(cache: job.cache, writes: writes, views: augmentsViews, policy: job.damagePolicy)
        let train: FeatureSource
        var viewSource: CacheViewFeatures?
        var liveSource: LiveAugmentedFeatures?
        switch job.augment {
        case .none: train = data.train
        case .views:
            viewSource = data.viewSource(seed: job.options.seed)
            train = viewSource!
        case .live(let options):
            liveSource = try LiveAugmentedFeatures(cache: data.cache, entries: data.train.entries, seed: job.options.seed, options: options)
            train = liveSource!
        }
        defer { liveSource?.finish() }
        guard train.count > 0 else { throw HeadTrainingError.noTrainingRecords(cache: job.cache) }
        let head = try data.initialHead(hidden: job.hidden, dropout: job.dropout, seed: job.initSeed, from: job.initial)
        let trainer = try HeadTrainer(head: head, options: job.options)
        let metadata = data.provenance.metadata
        let tensorboard = try job.tensorboard.map { try TensorBoardWriter(directory: $0) }
        var liveBefore = LiveAugmentationStats()
        let history = try trainer.fit(
            train: train, validation: data.validationOrNil,
            onEpoch: { log in
                try tensorboard?.append(log)
                onEpoch(log)
                if let liveSource {
                    let now = liveSource.stats
                    onLiveEpoch(now.since(liveBefore))
                    liveBefore = now
                }
            },
            onImproved: job.checkpointBest ? { h, _ in try HeadFile.save(h, to: job.out, metadata: metadata) } : nil)
        if !job.checkpointBest { try HeadFile.save(head, to: job.out, metadata: metadata) }
        liveSource?.finish()
        var result = data.result(history: history, config: head.config, trainCount: train.count, views: viewSource)
        result.live = liveSource?.stats
        return result
    }
}

/// A cache opened to train on: its provenance, every entry screened once before anything trains on it, the
/// training split (view 0 of each image) and the validation split. Shared by `train` and `finetune`.
struct TrainingData {
    let cache: FeatureCache
    let provenance: HeadProvenance
    let screening: Screening
    let train: CacheFeatures
    let validation: CacheFeatures

    /// `writes` opens the cache for writing (fresh views kept); `views` screens the stored augmented views too.
    init(cache path: String, writes: Bool, views: Bool, policy: DamagePolicy) throws {
        cache = try FeatureCache(path: path, fingerprint: nil, readOnly: !writes)
        provenance = try HeadProvenance(cache: cache)
        screening = try cache.screened(views: views, policy: policy)
        train = CacheFeatures(cache: cache, entries: screening.usable.filter { $0.split == .train })
        validation = CacheFeatures(cache: cache, entries: screening.usable.filter { $0.split == .validation })
    }

    var validationOrNil: FeatureSource? { validation.count > 0 ? validation : nil }

    /// Every epoch each training sample reads one of its cached views, the original included.
    func viewSource(seed: UInt64) -> CacheViewFeatures {
        CacheViewFeatures(cache: cache, entries: train.entries, seed: seed, storedViews: screening.views)
    }

    /// Fresh glorot weights from `seed`, or the head file `from` (`--init`), refused unless it has the cache's
    /// inputs and classes; its hidden width is kept, the dropout is the job's.
    func initialHead(hidden: Int, dropout: Float, seed: UInt64, from initial: String?) throws -> Head {
        let config = HeadConfig(featureCount: cache.fingerprint.featureCount, hidden: hidden,
                                classes: max(2, provenance.classNames.count), dropout: dropout)
        guard let initial else { return try Head(config: config, seed: seed) }
        return try fitted(HeadFile.load(path: initial).head, path: initial, dropout: dropout)
    }

    /// A copy of `loaded` (read from `path`) with the job's dropout, refused unless it has the cache's inputs and
    /// classes.
    func fitted(_ loaded: Head, path: String, dropout: Float) throws -> Head {
        let F = cache.fingerprint.featureCount, classes = max(2, provenance.classNames.count)
        guard loaded.config.featureCount == F, loaded.config.classes == classes else {
            throw HeadTrainingError.initialHeadDoesNotFit(head: path, inputs: loaded.config.featureCount, classes: loaded.config.classes,
                                                          cacheInputs: F, cacheClasses: classes)
        }
        return try Head(config: HeadConfig(featureCount: F, hidden: loaded.config.hidden, classes: classes, dropout: dropout),
                        kernel1: loaded.kernel1, bias1: loaded.bias1, kernel2: loaded.kernel2, bias2: loaded.bias2)
    }

    /// What a run over this data reports: counts, the views it used, the entries left out as damaged.
    func result(history: TrainingHistory, config: HeadConfig, trainCount: Int, views: CacheViewFeatures?) -> HeadTrainingResult {
        var r = HeadTrainingResult(history: history, provenance: provenance, config: config,
                                   trainCount: trainCount, validationCount: validation.count)
        if let views {
            r.samplesWithViews = views.views.filter { $0.count > 1 }.count
            r.augmentedViews = views.views.reduce(0) { $0 + $1.filter { $0 > 0 }.count }
        }
        r.damaged = screening.damaged + screening.damagedViews
        return r
    }
}

/// Training curves as files: Keras History as CSV, and an SVG figure like the book's (accuracy and loss per
/// epoch, training and validation).
public enum TrainingReport {
    /// Keras's CSVLogger columns, then `weights`: where the features' base weights came from
    /// (`WeightsOrigin.recorded`, e.g. "keras-imagenet", "seeded seed=7 generator=1"), on every row so that no
    /// copy of a row loses it; a demo's rows say "DEMO " first.
    public static func csv(_ h: TrainingHistory, weights: WeightsOrigin, demo: Bool = false) -> String {
        var s = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,weights\n"
        let label = (demo ? "DEMO " : "") + weights.recorded
        for e in h.epochs {
            let v = [e.valLoss, e.valAccuracy].map { $0.map { String(format: "%.8g", $0) } ?? "" }
            s += "\(e.epoch),\(String(format: "%.8g", e.loss)),\(String(format: "%.8g", e.accuracy)),\(v[0]),\(v[1]),\(String(format: "%.3f", e.seconds)),\(label)\n"
        }
        return s
    }

    /// The loss panel's y axis is logarithmic when its values span at least this factor (a large first epoch would
    /// otherwise flatten every later one against the bottom).
    public static let logAxisRange = 10.0

    /// The step between labelled epochs: every epoch up to 12, then 2, 5, 10, 20, 50, … so at most about 12 labels.
    public static func epochTickStep(epochs: Int) -> Int {
        var magnitude = 1
        while true {
            for s in [1, 2, 5] where epochs <= 12 * s * magnitude { return s * magnitude }
            magnitude *= 10
        }
    }

    /// Two panels side by side (accuracy, loss), epochs on x with a tick per epoch (or per `epochTickStep`),
    /// training in blue and validation in orange; the loss axis is logarithmic when its range is wide.
    public static func svg(_ h: TrainingHistory, title: String) -> String {
        let panelW = 420.0, panelH = 300.0, margin = 50.0
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(2 * panelW + 3 * margin))" height="\(Int(panelH + 2 * margin + 20))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(panelW + 1.5 * margin))" y="20" text-anchor="middle" font-size="14">\(escape(title))</text>

        """
        let epochs = h.epochs.map { Double($0.epoch) }
        func panel(_ x0: Double, _ name: String, _ train: [Double], _ val: [Double?], logWhenWide: Bool) {
            let values = train + val.compactMap { $0 }
            var lo = values.min() ?? 0, hi = values.max() ?? 1
            let log = logWhenWide && lo > 0 && hi / lo >= logAxisRange
            // On a log axis every position is log10 of its value; the axis spans whole decades.
            func t(_ v: Double) -> Double { log ? log10(v) : v }
            var ticks: [Double] = []
            if log {
                // Whole decades, labelled every one, or every 2, 3, … when there are more than 8.
                lo = floor(log10(lo)); hi = ceil(log10(hi))
                let step = max(1, ceil((hi - lo) / 8))
                lo = hi - step * ceil((hi - lo) / step)
                ticks = stride(from: lo, through: hi, by: step).map { pow(10, $0) }
            } else {
                if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
                let pad = (hi - lo) * 0.05
                // Losses and accuracies are never negative: padding must not invent a negative axis.
                lo = values.allSatisfy({ $0 >= 0 }) ? max(0, lo - pad) : lo - pad
                hi += pad
                ticks = (0...4).map { lo + (hi - lo) * Double($0) / 4 }
            }
            let e0 = epochs.first ?? 1, e1 = max(epochs.last ?? 1, e0 + 1)
            let y0 = margin + 10
            func px(_ e: Double) -> Double { x0 + (e - e0) / (e1 - e0) * panelW }
            func py(_ v: Double) -> Double { y0 + (hi - t(v)) / (hi - lo) * panelH }
            out += "<rect x=\"\(x0)\" y=\"\(y0)\" width=\"\(panelW)\" height=\"\(panelH)\" fill=\"none\" stroke=\"#444\"/>\n"
            out += "<text x=\"\(x0 + panelW / 2)\" y=\"\(y0 - 8)\" text-anchor=\"middle\">\(name)\(log ? " (log scale)" : "")</text>\n"
            for v in ticks {
                out += "<text class=\"y-tick\" x=\"\(x0 - 6)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>\n"
                out += "<line x1=\"\(x0)\" x2=\"\(x0 + panelW)\" y1=\"\(py(v))\" y2=\"\(py(v))\" stroke=\"#ddd\"/>\n"
            }
            let step = epochTickStep(epochs: h.epochs.count)
            for e in h.epochs.map(\.epoch) where e % step == 0 || e == h.epochs.first?.epoch {
                let x = px(Double(e))
                out += "<line x1=\"\(x)\" x2=\"\(x)\" y1=\"\(y0 + panelH)\" y2=\"\(y0 + panelH + 5)\" stroke=\"#444\"/>\n"
                out += "<text class=\"x-tick\" x=\"\(x)\" y=\"\(y0 + panelH + 17)\" text-anchor=\"middle\">\(e)</text>\n"
            }
            out += "<text x=\"\(x0 + panelW / 2)\" y=\"\(y0 + panelH + 34)\" text-anchor=\"middle\">epoch</text>\n"
            func line(_ ys: [Double?], _ colour: String, _ label: String, _ row: Int) {
                let pts = zip(epochs, ys).compactMap { e, v in v.map { String(format: "%.1f,%.1f", px(e), py($0)) } }
                guard !pts.isEmpty else { return }
                out += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>\n"
                out += "<text x=\"\(x0 + 10)\" y=\"\(y0 + 18 + 16 * Double(row))\" fill=\"\(colour)\">\(label)</text>\n"
            }
            line(train.map { $0 }, "#1f77b4", "training", 0)
            line(val, "#ff7f0e", "validation", 1)
        }
        panel(margin, "accuracy", h.epochs.map(\.accuracy), h.epochs.map(\.valAccuracy), logWhenWide: false)
        panel(2 * margin + panelW, "loss", h.epochs.map(\.loss), h.epochs.map(\.valLoss), logWhenWide: true)
        return out + "</svg>\n"
    }

    /// Text for XML and HTML, in elements and in attribute values.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Reads `csv`'s output back (the first six columns; a `weights` column is ignored).
    public static func history(csv: String, source: String) throws -> TrainingHistory {
        var h = TrainingHistory()
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: true)
        guard let header = lines.first, header.hasPrefix("epoch,loss,accuracy,val_loss,val_accuracy,seconds") else {
            throw HeadTrainingError.notAHistory(file: source)
        }
        for (n, line) in lines.dropFirst().enumerated() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 6, let epoch = Int(f[0]), let loss = Double(f[1]), let accuracy = Double(f[2]),
                  let seconds = Double(f[5]) else {
                throw HeadTrainingError.notAnEpochRow(file: source, line: n + 2, text: String(line))
            }
            h.epochs.append(EpochLog(epoch: epoch, loss: loss, accuracy: accuracy, valLoss: Double(f[3]),
                                     valAccuracy: Double(f[4]), seconds: seconds))
        }
        return h
    }
}

extension PipelineDefinition {
    /// The training the file's `train:` section describes, the book's recipe where it is silent: its cache into
    /// `out`, on one cached view per image each epoch when `augmentViews`.
    public func trainingJob(cache: String, out: String, augmentViews: Bool) -> HeadTrainingJob {
        let t = train, book = Recipe.book
        var job = HeadTrainingJob(cache: cache, out: out)
        job.options = TrainingOptions(epochs: t?.epochs ?? book.epochs, batchSize: t?.batch ?? book.batchSize,
                                      learningRate: Float(t?.lr ?? book.learningRate), shuffle: t?.shuffle ?? book.shuffle,
                                      seed: t?.seed ?? book.seed, earlyStopPatience: t?.earlyStop)
        job.hidden = t?.hidden ?? book.hidden
        if augmentViews { job.augment = .views }
        job.dropout = t?.dropout.map(Float.init) ?? book.dropout
        job.initSeed = t?.seed ?? book.seed
        job.tensorboard = t?.tensorboard
        return job
    }
}

/// Why stage two cannot train or evaluate a head, or read a history back. Each message starts with the file it is
/// about.
public enum HeadTrainingError: Error, CustomStringConvertible {
    /// The cache's training split has no usable record.
    case noTrainingRecords(cache: String)
    /// The split to evaluate has no usable record.
    case emptySplit(cache: String, split: Split)
    /// `--init`'s head has other inputs or classes than the cache's features and classes.
    case initialHeadDoesNotFit(head: String, inputs: Int, classes: Int, cacheInputs: Int, cacheClasses: Int)
    /// A history CSV whose header is not the one `TrainingReport.csv` writes.
    case notAHistory(file: String)
    /// A history CSV row (1-based `line`) that is not an epoch.
    case notAnEpochRow(file: String, line: Int, text: String)

    public var description: String {
        switch self {
        case let .noTrainingRecords(cache):
            return "\(cache): the cache has no training records (run `headstart extract` first)"
        case let .emptySplit(cache, split):
            return "\(cache): the \(split) split is empty"
        case let .initialHeadDoesNotFit(head, inputs, classes, cacheInputs, cacheClasses):
            return "\(head): the head has \(inputs) inputs and \(classes) classes; the cache needs \(cacheInputs) and \(cacheClasses)"
        case let .notAHistory(file):
            return "\(file): not a history written by headstart (its header is not epoch,loss,accuracy,val_loss,val_accuracy,seconds)"
        case let .notAnEpochRow(file, line, text):
            return "\(file): line \(line) is not an epoch row: \(text)"
        }
    }
}
