import Extract
import FineTune
import Foundation
import HeadTrain
import Store

/// A saved head against a cache split, with the file behind every sample.
public struct HeadEvaluationReport: Encodable {
    public struct Misclassified: Encodable {
        public var path: String
        public var label: String
        public var predicted: String
        /// The head's outputs: [P(classes[1])] for a binary (sigmoid) head, one per class for softmax.
        public var probabilities: [Float]
        /// The class each probability is for.
        public var probabilityClasses: [String]
    }
    public var cache: String
    public var head: String
    public var split: String
    public var count: Int
    public var loss: Double
    public var accuracy: Double
    public var classes: [String]
    /// confusion[true][predicted]
    public var confusion: [[Int]]
    public var precision: [Double?]
    public var recall: [Double?]
    public var rocAUC: Double?
    /// The ROC curve of a binary head: [false positive rate, true positive rate] per threshold (`rocCurve`).
    public var rocCurve: [[Double]]?
    public var misclassified: [Misclassified]
    /// Entries left out as damaged (`--skip-damaged`), by path with the reason.
    public var damaged: [DamagedEntry] = []
    /// Where the cache's weights came from (`WeightsOrigin.recorded`), and for anything but Keras's ImageNet file
    /// the warning in words.
    public var weightsOrigin: String = WeightsOrigin.unrecorded.recorded
    public var weightsWarning: String?
    /// Set by a demo pipeline: what the numbers are not.
    public var demo: String?

    /// The class each of a head's outputs is the probability of: classes[1] alone for a sigmoid head.
    public static func probabilityClasses(outputs: Int, classes: [String]) -> [String] {
        outputs == 1 ? [classes.count > 1 ? classes[1] : "class 1"] : Array(classes.prefix(outputs))
    }
}

public enum HeadEvaluation {
    /// Evaluates `headPath` on `split` of the cache. Refuses a head whose features came from other weights or
    /// other settings than the cache's (it would be meaningless).
    public static func run(cache cachePath: String, head headPath: String, split: Split = .validation,
                           damagePolicy: DamagePolicy = .refuse) throws -> HeadEvaluationReport {
        let cache = try FeatureCache(path: cachePath, fingerprint: nil, readOnly: true)
        let trained = try TrainedHead.load(path: headPath)
        let expected = try HeadProvenance(cache: cache)
        var recorded = trained.provenance, against = expected
        if let f = recorded.fineTuning, expected.settings.layer == f.cacheLayer {
            // A fine-tuned model over a cache of its block's input: its features are mixed7 through its own block.
            recorded.fineTuning = nil
            against.settings.layer = f.block
        }
        try check(recorded, against: against, head: headPath, cache: cachePath)
        let screening = try cache.screened(split: split, policy: damagePolicy)
        let entries = CacheFeatures(cache: cache, entries: screening.usable)
        guard entries.count > 0 else { throw HeadTrainingError.emptySplit(cache: cachePath, split: split) }
        var source: FeatureSource = entries
        if let block = trained.block {
            let shape = expected.featureShape
            source = try Mixed7Features(mixed6: entries, units: block, height: shape[0], width: shape[1])
        }
        let e = try HeadPredictor(head: trained.head).evaluate(source)
        let names = expected.classNames
        let misclassified = e.misclassified.map { i in
            HeadEvaluationReport.Misclassified(
                path: entries.entries[i].path, label: names[e.labels[i]], predicted: names[e.predicted[i]],
                probabilities: Array(e.probabilities[(i * e.outputs)..<((i + 1) * e.outputs)]),
                probabilityClasses: HeadEvaluationReport.probabilityClasses(outputs: e.outputs, classes: names))
        }
        var report = HeadEvaluationReport(
            cache: cachePath, head: headPath, split: "\(split)", count: e.count, loss: e.loss, accuracy: e.accuracy,
            classes: names, confusion: e.confusion, precision: e.precision, recall: e.recall, rocAUC: e.rocAUC,
            misclassified: misclassified, damaged: screening.damaged)
        if e.outputs == 1 { report.rocCurve = rocCurve(scores: e.probabilities, labels: e.labels)?.map { [$0.fpr, $0.tpr] } }
        report.weightsOrigin = expected.weightsOrigin.recorded
        report.weightsWarning = expected.weightsOrigin.warning
        return report
    }

    /// The fields that must agree between a head's recorded provenance and a cache (or a base weights file).
    public static func check(_ recorded: HeadProvenance, against expected: HeadProvenance, head: String, cache: String) throws {
        var diffs: [String] = []
        if recorded.weightsSHA256 != expected.weightsSHA256 {
            diffs.append("weights: head trained on \(recorded.weightsName) (\(recorded.weightsSHA256.prefix(12))…), cache from \(expected.weightsName) (\(expected.weightsSHA256.prefix(12))…)")
        }
        if recorded.settings != expected.settings {
            diffs.append("settings: head \(describe(recorded)), cache \(describe(expected))")
        }
        if let f = recorded.fineTuning {
            diffs.append("the head is a model fine-tuned from \(f.block.rawValue): its features are \(f.block.rawValue) through "
                + "its own retrained block, not the weights file's \(f.block.rawValue) a cache holds (evaluate it on a cache of \(f.cacheLayer.rawValue), or use `headstart predict`)")
        }
        if recorded.classNames != expected.classNames {
            diffs.append("classes: head \(recorded.classNames), cache \(expected.classNames)")
        }
        if !diffs.isEmpty {
            throw ProvenanceError.doesNotFit(head: head, cache: cache, differences: diffs)
        }
    }

    static func describe(_ p: HeadProvenance) -> String {
        "\(p.settings.layer.rawValue) \(p.settings.size)×\(p.settings.size) \(p.settings.resize.rawValue) \(p.settings.preprocess.rawValue)"
    }
}
