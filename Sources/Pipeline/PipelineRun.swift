import Extract
import Fetch
import Foundation
import HeadTrain
import KerasH5
import Store

/// `headstart run PIPELINE.yaml`: what is missing is fetched (or, for a demo, generated), then extract
/// (incremental) → train → evaluate, everything written into the pipeline's output folder:
/// `head.h5`, `history.csv`, `curves.svg`, `evaluation.json`, `report.html` (and TensorBoard events where the
/// pipeline's `train: tensorboard:` names a folder).
public enum PipelineRun {
    /// What the caller shows: stage names, progress, summaries.
    public struct Events {
        public var stage: (String) -> Void = { _ in }
        public var extractProgress: (ExtractionProgress) -> Void = { _ in }
        public var epoch: (EpochLog, Int) -> Void = { _, _ in }
        public var download: (Int64, Int64?) -> Void = { _, _ in }
        /// The base weights are loaded: their file name and where they come from (said before anything runs).
        public var weights: (String, WeightsOrigin) -> Void = { _, _ in }
        public init() {}
    }

    public struct Outcome {
        public var definition: PipelineDefinition
        public var extraction: ExtractionSummary
        public var training: HeadTrainingResult
        public var evaluation: HeadEvaluationReport?
        /// The `finetune:` phase, when the pipeline has one.
        public var fineTuning: HeadTrainingResult?
        public var weightsOrigin: WeightsOrigin
        public var outputs: [String]
    }

    /// The network is needed and unavailable: the caller may run the demo instead.
    public struct Offline: Error, CustomStringConvertible {
        public var what: String
        public var cause: String
        public var description: String { "\(what) cannot be downloaded: \(cause)" }
    }

    /// The pipeline's stages, in order: fetch or generate what is missing, extract, train, evaluate, report.
    public static func run(_ p: PipelineDefinition, source: String, downloader: Downloader = Downloader(),
                           events: Events = Events()) throws -> Outcome {
        func need(_ v: String?, _ key: String) throws -> String {
            guard let v else { throw PipelineRunError.missingKey(pipeline: source, key: key) }
            return v
        }
        let dataset = try need(p.dataset, "dataset"), weightsPath = try need(p.weights, "weights")
        let cachePath = try need(p.cache, "cache"), output = try need(p.output, "output")
        let demo = p.demo ?? false
        try provideWeights(WeightsSource(path: weightsPath, demo: demo), at: weightsPath, pipeline: source,
                           downloader: downloader, events: events)
        try provideDataset(DatasetSource(folder: dataset, demo: demo), at: dataset, pipeline: source,
                           downloader: downloader, events: events)
        let (extraction, base, views) = try extract(p, source: source, dataset: dataset, weightsPath: weightsPath,
                                                    cache: cachePath, events: events)
        // The output folder is made only now, so a run that could not start leaves none behind.
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let label = demo ? " (DEMO: seeded weights, generated images)" : base.origin.warning.map { " (\($0))" } ?? ""
        let (training, trainOutputs) = try train(p, cache: cachePath, output: output, views: views, origin: base.origin,
                                                 label: label, events: events)
        let headPath = trainOutputs[0]
        var outputs = trainOutputs
        let evaluation = training.validationCount > 0
            ? try evaluate(cache: cachePath, head: headPath, output: output, demo: demo, events: events) : nil
        if let evaluation {
            outputs.append((output as NSString).appendingPathComponent("evaluation.json"))
            let report = (output as NSString).appendingPathComponent("report.html")
            try HTMLReport.write(cache: cachePath, head: headPath, history: training.history,
                                 title: "\(p.name ?? "pipeline")\(label)", demo: demo, evaluation: evaluation, to: report)
            outputs.append(report)
        }
        var fineTuning: HeadTrainingResult?
        if p.finetune != nil {
            let (result, files) = try finetune(p, source: source, dataset: dataset, weightsPath: weightsPath, cache: cachePath,
                                               head: headPath, output: output, origin: base.origin, label: label, events: events)
            fineTuning = result
            outputs += files
        }
        if demo { outputs.append(try writeDemoNote(in: output)) }
        return Outcome(definition: p, extraction: extraction, training: training, evaluation: evaluation,
                       fineTuning: fineTuning, weightsOrigin: base.origin, outputs: outputs)
    }

    /// Where a missing weights file comes from: generated (a demo), Keras's notop file fetched and checked
    /// against its MD5 (the file the catalogue names), or nowhere (the user's own file must exist).
    enum WeightsSource {
        case seeded, kerasNoTop, given

        init(path: String, demo: Bool) {
            if demo { self = .seeded } else if (path as NSString).lastPathComponent == Catalogue.inceptionV3NoTopWeights.filename {
                self = .kerasNoTop
            } else { self = .given }
        }
    }

    /// Where a missing dataset folder comes from: generated (a demo), the Horses-or-Humans zips fetched and
    /// verified image by image (a folder named `horse-or-human`, as the book's notebook names it), or nowhere.
    enum DatasetSource {
        case generated, horsesOrHumans, given

        init(folder: String, demo: Bool) {
            if demo { self = .generated } else if (folder as NSString).lastPathComponent == "horse-or-human" {
                self = .horsesOrHumans
            } else { self = .given }
        }
    }

    static func provideWeights(_ from: WeightsSource, at weightsPath: String, pipeline: String, downloader: Downloader,
                               events: Events) throws {
        guard !FileManager.default.fileExists(atPath: weightsPath) else { return }
        let folder = (weightsPath as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        switch from {
        case .seeded:
            events.stage("generating seeded InceptionV3 weights (demo, not trained) → \(weightsPath)")
            try SeededWeights.kerasFile(seed: 7).write(to: weightsPath, style: .fixedLength)
        case .kerasNoTop:
            let source = Catalogue.inceptionV3NoTopWeights(environment: ProcessInfo.processInfo.environment)
            events.stage("fetching \(source.filename) from \(source.url.host ?? source.url.absoluteString)")
            try offlineNamed("the InceptionV3 weights") {
                _ = try source.download(into: folder, downloader: downloader, progress: events.download)
            }
        case .given:
            throw PipelineRunError.missingWeights(pipeline: pipeline, path: weightsPath)
        }
    }

    static func provideDataset(_ from: DatasetSource, at dataset: String, pipeline: String, downloader: Downloader,
                               events: Events) throws {
        guard !FileManager.default.fileExists(atPath: dataset) else { return }
        switch from {
        case .generated:
            events.stage("generating the demo image set (discs vs stripes) → \(dataset)")
            try DemoData.generate(into: URL(fileURLWithPath: dataset), size: 150)
        case .horsesOrHumans:
            events.stage("fetching Horses-or-Humans")
            try offlineNamed("the Horses-or-Humans images") {
                _ = try HorsesOrHumans.fetch(into: dataset, downloads: (dataset as NSString).deletingLastPathComponent + "/downloads",
                                             downloader: downloader) { _, done, total in events.download(done, total) }
            }
        case .given:
            throw PipelineRunError.missingDataset(pipeline: pipeline, path: dataset)
        }
    }

    /// Runs a download; no network is `Offline` naming `what` (the caller may run the demo instead).
    static func offlineNamed(_ what: String, _ download: () throws -> Void) throws {
        do { try download() } catch let e as FetchError {
            if case .noNetwork = e { throw Offline(what: what, cause: "\(e)") }
            throw e
        }
    }

    /// Stage one: the dataset into the cache, incrementally. Also returns the base network (its weights' origin
    /// labels every output) and how many views per image the extraction made.
    /// `layer` overrides the pipeline's cut (mixed6 for the fine-tuning cache).
    static func extract(_ p: PipelineDefinition, source: String, dataset: String, weightsPath: String, cache: String,
                        layer: CutLayer? = nil, events: Events) throws -> (ExtractionSummary, BaseNetwork, Int) {
        var settings = p.extractionSettings
        if let layer { settings.layer = layer }
        events.stage("extract\(layer.map { " " + $0.rawValue } ?? ""): \(dataset) → \(cache)")
        let base = try BaseNetwork(weightsPath: weightsPath, settings: settings)
        events.weights(base.weights.sourceName, base.origin)
        var job = try p.extractionJob(source: source, cache: cache)
        job.weightsOrigin = base.origin
        let extraction = try Extraction.run(job, extractor: base.extractor, weights: base.weights, progress: events.extractProgress)
        return (extraction, base, job.views)
    }

    /// Stage two: the head over the cache with the pipeline's `train:` section (the book's recipe where it is
    /// silent), then its history and curves. Returns the result and the files written, head first.
    static func train(_ p: PipelineDefinition, cache: String, output: String, views: Int, origin: WeightsOrigin,
                      label: String, events: Events) throws -> (HeadTrainingResult, [String]) {
        let headPath = (output as NSString).appendingPathComponent("head.h5")
        let job = p.trainingJob(cache: cache, out: headPath, augmentViews: views > 0)
        let epochs = job.options.epochs
        events.stage("train: \(epochs) epochs → \(headPath)")
        let training = try HeadTraining.run(job) { events.epoch($0, epochs) }
        let curves = try writeCurves(training.history, p, output: output, prefix: "", origin: origin, label: label)
        return (training, [headPath] + curves)
    }

    /// The second phase (`finetune:`): mixed6 extracted into its own cache, then mixed7 and the head `train`
    /// saved at `head` trained together into model.h5, with finetune-history.csv and finetune-curves.svg.
    static func finetune(_ p: PipelineDefinition, source: String, dataset: String, weightsPath: String, cache: String,
                         head: String, output: String, origin: WeightsOrigin, label: String,
                         events: Events) throws -> (HeadTrainingResult, [String]) {
        let mixed6 = p.fineTuningCache(cache)
        let (_, _, views) = try extract(p, source: source, dataset: dataset, weightsPath: weightsPath, cache: mixed6,
                                        layer: FineTunedModel.cacheLayer, events: events)
        let model = (output as NSString).appendingPathComponent("model.h5")
        let job = p.fineTuningJob(cache: mixed6, weights: weightsPath, out: model, initialHead: head, augmentViews: views > 0)
        let epochs = job.options.epochs
        events.stage("finetune: mixed7 and the head, \(epochs) epochs → \(model)")
        let result = try FineTuning.run(job) { events.epoch($0, epochs) }
        let curves = try writeCurves(result.history, p, output: output, prefix: "finetune-", origin: origin, label: label)
        return (result, [model] + curves)
    }

    /// `<prefix>history.csv` and `<prefix>curves.svg` in `output`; returns their paths.
    static func writeCurves(_ history: TrainingHistory, _ p: PipelineDefinition, output: String, prefix: String,
                            origin: WeightsOrigin, label: String) throws -> [String] {
        let csv = (output as NSString).appendingPathComponent("\(prefix)history.csv")
        let svg = (output as NSString).appendingPathComponent("\(prefix)curves.svg")
        let phase = prefix.isEmpty ? "" : " (fine-tuning mixed7)"
        try AtomicFile.write(Data(TrainingReport.csv(history, weights: origin, demo: p.demo ?? false).utf8), to: csv)
        try AtomicFile.write(Data(TrainingReport.svg(history, title: "\(p.name ?? "pipeline"): accuracy and loss\(phase)\(label)").utf8),
                             to: svg)
        return [csv, svg]
    }

    /// The head on the validation split, written as evaluation.json.
    static func evaluate(cache: String, head: String, output: String, demo: Bool, events: Events) throws -> HeadEvaluationReport {
        events.stage("evaluate: validation split")
        var report = try HeadEvaluation.run(cache: cache, head: head)
        if demo { report.demo = demoNote }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(report), to: (output as NSString).appendingPathComponent("evaluation.json"))
        return report
    }

    /// DEMO.txt, which says what a demo's outputs are.
    static func writeDemoNote(in output: String) throws -> String {
        let note = (output as NSString).appendingPathComponent("DEMO.txt")
        try """
        Everything in this folder is a DEMO made offline: the InceptionV3 weights were generated from a seed in
        the Keras layout (not trained on ImageNet) and the images were generated (discs vs stripes). It shows the
        pipeline working end to end; its numbers say nothing about the real recipe. With a network, run
        `headstart run pipelines/horses-or-humans.yaml`, which fetches the real weights and images.

        """.write(toFile: note, atomically: true, encoding: .utf8)
        return note
    }

    /// What a demo's report says of itself.
    public static let demoNote = "DEMO: seeded weights (not trained) and generated images; these numbers say nothing about the real recipe"
}

/// Why `run` cannot start a pipeline. Each message starts with the pipeline file.
public enum PipelineRunError: Error, CustomStringConvertible {
    /// The pipeline lacks a key `run` needs (`dataset:`, `weights:`, `cache:`, `output:`).
    case missingKey(pipeline: String, key: String)
    /// The weights file is missing and the pipeline does not name one `run` can fetch or generate.
    case missingWeights(pipeline: String, path: String)
    /// The dataset folder is missing and the pipeline does not name one `run` can fetch or generate.
    case missingDataset(pipeline: String, path: String)

    public var description: String {
        switch self {
        case let .missingKey(pipeline, key): return "\(pipeline): the pipeline has no `\(key):`"
        case let .missingWeights(pipeline, path): return "\(pipeline): the weights file \(path) does not exist"
        case let .missingDataset(pipeline, path): return "\(pipeline): the dataset folder \(path) does not exist"
        }
    }
}
