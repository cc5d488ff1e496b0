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
        public var weightsOrigin: WeightsOrigin
        public var outputs: [String]
    }

    /// The network is needed and unavailable: the caller may run the demo instead.
    public struct Offline: Error, CustomStringConvertible {
        public var what: String
        public var cause: String
        public var description: String { "\(what) cannot be downloaded: \(cause)" }
    }

    public static func run(_ p: PipelineDefinition, source: String, downloader: Downloader = Downloader(),
                           events: Events = Events()) throws -> Outcome {
        func need(_ v: String?, _ key: String) throws -> String {
            guard let v else { throw ProvenanceError(source: source, reason: "the pipeline has no `\(key):`") }
            return v
        }
        let dataset = try need(p.dataset, "dataset"), weightsPath = try need(p.weights, "weights")
        let cachePath = try need(p.cache, "cache"), output = try need(p.output, "output")
        let fm = FileManager.default
        let demo = p.demo ?? false

        // Weights.
        if !fm.fileExists(atPath: weightsPath) {
            try fm.createDirectory(atPath: (weightsPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if demo {
                events.stage("generating seeded InceptionV3 weights (demo, not trained) → \(weightsPath)")
                try SeededWeights.kerasFile(seed: 7).write(to: weightsPath, style: .fixedLength)
            } else if (weightsPath as NSString).lastPathComponent == Catalogue.inceptionV3NoTopWeights.filename {
                let source = Catalogue.inceptionV3NoTopWeights(environment: ProcessInfo.processInfo.environment)
                events.stage("fetching \(source.filename) from \(source.url.host ?? source.url.absoluteString)")
                do {
                    _ = try source.download(
                        into: (weightsPath as NSString).deletingLastPathComponent, downloader: downloader, progress: events.download)
                } catch let e as FetchError {
                    if case .noNetwork = e { throw Offline(what: "the InceptionV3 weights", cause: "\(e)") }
                    throw e
                }
            } else {
                throw ProvenanceError(source: source, reason: "the weights file \(weightsPath) does not exist")
            }
        }
        // Data.
        if !fm.fileExists(atPath: dataset) {
            if demo {
                events.stage("generating the demo image set (discs vs stripes) → \(dataset)")
                try DemoData.generate(into: URL(fileURLWithPath: dataset), size: 150)
            } else if dataset.hasSuffix("horse-or-human") {
                events.stage("fetching Horses-or-Humans")
                do {
                    _ = try HorsesOrHumans.fetch(into: dataset, downloads: (dataset as NSString).deletingLastPathComponent + "/downloads",
                                                 downloader: downloader) { _, done, total in events.download(done, total) }
                } catch let e as FetchError {
                    if case .noNetwork = e { throw Offline(what: "the Horses-or-Humans images", cause: "\(e)") }
                    throw e
                }
            } else {
                throw ProvenanceError(source: source, reason: "the dataset folder \(dataset) does not exist")
            }
        }

        // Extract.
        events.stage("extract: \(dataset) → \(cachePath)")
        let settings = try p.extractionSettings(source: source)
        let (weights, origin) = try BaseWeights.loadClassified(path: weightsPath, cut: settings.layer)
        events.weights(weights.sourceName, origin)
        let extractor = try FeatureExtractor(weights: weights, settings: settings)
        var job = try p.extractionJob(source: source)
        job.weightsOrigin = origin
        let extraction = try Extraction.run(job, extractor: extractor, weights: weights, progress: events.extractProgress)

        // Train. The output folder is made only now, so a run that could not start leaves none behind.
        try fm.createDirectory(atPath: output, withIntermediateDirectories: true)
        let t = p.train
        let headPath = (output as NSString).appendingPathComponent("head.h5")
        var train = HeadTrainingJob(cache: cachePath, out: headPath)
        let epochs = t?.epochs ?? 40
        train.options = TrainingOptions(epochs: epochs, batchSize: t?.batch ?? 20, learningRate: Float(t?.lr ?? 1e-4),
                                        shuffle: t?.shuffle ?? true, seed: t?.seed ?? 0, earlyStopPatience: t?.earlyStop)
        train.hidden = t?.hidden ?? 1024
        if job.views > 0 { train.augment = .views }
        train.dropout = Float(t?.dropout ?? 0)
        train.initSeed = t?.seed ?? 0
        train.tensorboard = t?.tensorboard
        events.stage("train: \(epochs) epochs → \(headPath)")
        let training = try HeadTraining.run(train) { events.epoch($0, epochs) }
        let label = demo ? " (DEMO: seeded weights, generated images)" : origin.warning.map { " (\($0))" } ?? ""
        let history = (output as NSString).appendingPathComponent("history.csv")
        let curves = (output as NSString).appendingPathComponent("curves.svg")
        try AtomicFile.write(Data(TrainingReport.csv(training.history, weights: origin, demo: demo).utf8), to: history)
        try AtomicFile.write(Data(TrainingReport.svg(training.history, title: "\(p.name ?? "pipeline"): accuracy and loss\(label)").utf8),
                             to: curves)
        var outputs = [headPath, history, curves]

        // Evaluate.
        var evaluation: HeadEvaluationReport? = nil
        if training.validationCount > 0 {
            events.stage("evaluate: validation split")
            var report = try HeadEvaluation.run(cache: cachePath, head: headPath)
            if demo { report.demo = demoNote }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let json = (output as NSString).appendingPathComponent("evaluation.json")
            try AtomicFile.write(enc.encode(report), to: json)
            outputs.append(json)
            evaluation = report
        }
        if let evaluation {
            let report = (output as NSString).appendingPathComponent("report.html")
            try HTMLReport.write(cache: cachePath, head: headPath, history: training.history,
                                 title: "\(p.name ?? "pipeline")\(label)", demo: demo, evaluation: evaluation, to: report)
            outputs.append(report)
        }
        if demo {
            let note = (output as NSString).appendingPathComponent("DEMO.txt")
            try """
            Everything in this folder is a DEMO made offline: the InceptionV3 weights were generated from a seed in
            the Keras layout (not trained on ImageNet) and the images were generated (discs vs stripes). It shows the
            pipeline working end to end; its numbers say nothing about the real recipe. With a network, run
            `headstart run pipelines/horses-or-humans.yaml`, which fetches the real weights and images.

            """.write(toFile: note, atomically: true, encoding: .utf8)
            outputs.append(note)
        }
        return Outcome(definition: p, extraction: extraction, training: training, evaluation: evaluation,
                       weightsOrigin: origin, outputs: outputs)
    }

    /// What a demo's report says of itself.
    public static let demoNote = "DEMO: seeded weights (not trained) and generated images; these numbers say nothing about the real recipe"
}
