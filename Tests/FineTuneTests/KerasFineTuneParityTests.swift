import Extract
import FineTune
import Foundation
import HeadTrain
import Numerics
import XCTest

/// Fine-tuning against Keras 3 fine-tuning the same layers from the same weights on the same batches:
/// Tests/Fixtures/finetune/{rmsprop,sgd}.json, made by Tools/keras-reference/finetune_reference.py (its header
/// and the fixtures' README give the setting; versions in each file).
///
/// Two inputs: Keras's own mixed6 of the images (mixed6-keras.npy, Tools/keras-reference/finetune_mixed6.py), so
/// that the fine-tuning is compared on exactly the features Keras fine-tuned from — the issue's bounds, 1e-3
/// relative per-epoch loss and 1e-4 on the predictions, hold there (measured, worst over the epochs and images:
/// RMSprop 1.2e-6 relative on the losses and 2.0e-7 on the predictions; SGD 2.5e-4 and 7.7e-5, its steps being
/// 10× larger on losses 5× larger); and mixed6 extracted here by Extract, as a cache made with `--layer mixed6`
/// holds it, end to end. Extract's mixed6 differs from Keras's by up to 6.6e-6 of its largest value (float32
/// summation order), and RMSprop, whose steps do not shrink with the gradient, carries that into the third epoch:
/// there the loss differs by 1.5e-3 relative and the predictions by up to 7e-4 (perturbing Extract's mixed6 by
/// ±4e-6 of its largest value moves the third epoch's loss by up to 1.2%: the fixture's own float32 noise).
final class KerasFineTuneParityTests: XCTestCase {
    struct Case {
        let json: [String: Any]
        var images: [[String: Any]] { json["images"] as! [[String: Any]] }
        var history: [String: [Double]] { json["history"] as! [String: [Double]] }
        var predictions: [Double] { json["predictions"] as! [Double] }
    }

    static func load(_ name: String) throws -> Case {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("finetune/\(name)")))
        return Case(json: try JSONSerialization.jsonObject(with: data) as! [String: Any])
    }

    /// The seeded weights of seed 7 with the BatchNorm statistics the Keras script calibrated (committed beside
    /// the extraction parity fixtures: Swift's own calibration agrees only to ~1e-6, docs/seeded-weights.md).
    static let weights: InceptionV3Weights = {
        let bn = try! NPY.read(Fixtures.path("keras/bn-params.npy")).floats
        return InceptionV3Weights(units: SeededWeights.generate(seed: 7, batchNorm: bn), sha256: "", sourceName: "seeded weights (seed 7)")
    }()

    enum Input { case kerasMixed6, extracted }

    /// mixed6 of every image of the case (Keras's, or extracted by Extract with the fixture's settings), and the
    /// sources of its training and validation splits.
    static func sources(_ c: Case, _ input: Input) throws -> (train: InMemoryFeatures, validation: InMemoryFeatures, all: InMemoryFeatures) {
        XCTAssertEqual(c.json["size"] as? Int, 150)
        XCTAssertEqual(c.json["resize"] as? String, "nearest")
        XCTAssertEqual(c.json["preprocess"] as? String, "rescale")
        let F = 7 * 7 * 768
        let features: [Float]
        switch input {
        case .kerasMixed6:
            let npy = try NPY.read(Fixtures.path("finetune/mixed6-keras.npy"))
            XCTAssertEqual(npy.shape, [c.images.count, 7, 7, 768])
            features = npy.floats
        case .extracted:
            let settings = ExtractionSettings(layer: .mixed6, size: 150, resize: .nearest, preprocess: .rescale)
            let extractor = try FeatureExtractor(weights: weights, settings: settings)
            XCTAssertEqual(extractor.featureCount, F)
            features = try extractor.features(paths: c.images.map { Fixtures.repositoryRoot.appendingPathComponent($0["path"] as! String).path })
        }
        func split(_ name: String) throws -> InMemoryFeatures {
            let rows = c.images.indices.filter { c.images[$0]["split"] as! String == name }
            return try InMemoryFeatures(features: rows.flatMap { features[($0 * F)..<(($0 + 1) * F)] }, featureCount: F,
                                        labels: rows.map { c.images[$0]["label"] as! Int })
        }
        return (try split("train"), try split("validation"),
                try InMemoryFeatures(features: features, featureCount: F, labels: c.images.map { $0["label"] as! Int }))
    }

    /// Fine-tunes as the fixture says and compares: per-epoch loss and val_loss within `lossTolerance` relative
    /// (index e for epoch e + 1; an absolute 1e-6 beside it for values at 0), accuracies exactly (as float32),
    /// the trained model's predictions on every image within `predictionTolerance`.
    func runCase(_ name: String, _ input: Input, lossTolerance: [Double], valLossTolerance: [Double]? = nil,
                 predictionTolerance: Double) throws {
        let c = try Self.load(name)
        let data = try Self.sources(c, input)
        let head = try Head(config: HeadConfig(featureCount: data.all.featureCount, hidden: c.json["hidden"] as! Int, classes: 2, dropout: 0),
                            seed: UInt64(c.json["head_seed"] as! Int))
        let options = FineTuneOptions(epochs: c.json["epochs"] as! Int, batchSize: c.json["batch_size"] as! Int,
                                      optimizer: Self.optimizer(c.json["optimizer"] as! [String: Any]), shuffle: false)
        let tuner = try FineTuner(units: Array(Self.weights.units[60..<70]), head: head, options: options)
        let history = try tuner.fit(train: data.train, validation: data.validation).history
        let keras = c.history
        let label = "\(name) from \(input)"
        func check(_ ours: [Double], _ theirs: [Double], _ what: String, relative: [Double]) {
            XCTAssertEqual(ours.count, theirs.count, what)
            for (e, (a, b)) in zip(ours, theirs).enumerated() {
                XCTAssertLessThanOrEqual(abs(a - b), relative[e] * abs(b) + 1e-6, "\(label) \(what), epoch \(e + 1): ours \(a), Keras \(b)")
            }
        }
        check(history.epochs.map(\.loss), keras["loss"]!, "loss", relative: lossTolerance)
        check(history.epochs.map { $0.valLoss! }, keras["val_loss"]!, "val_loss", relative: valLossTolerance ?? lossTolerance)
        check(history.epochs.map(\.accuracy), keras["accuracy"]!, "accuracy", relative: [1e-7, 1e-7, 1e-7])
        check(history.epochs.map { $0.valAccuracy! }, keras["val_accuracy"]!, "val_accuracy", relative: [1e-7, 1e-7, 1e-7])
        let predictions = try tuner.predict(data.all)
        XCTAssertEqual(predictions.count, c.predictions.count)
        for (i, (a, b)) in zip(predictions, c.predictions).enumerated() {
            XCTAssertEqual(Double(a), b, accuracy: predictionTolerance, "\(label): prediction of \(c.images[i]["path"]!)")
        }
    }

    static func optimizer(_ json: [String: Any]) -> FineTuneOptimizer {
        let lr = Float(json["learning_rate"] as! Double)
        if json["name"] as! String == "sgd" { return .sgd(learningRate: lr, momentum: Float(json["momentum"] as! Double)) }
        return .rmsprop(RMSpropConfig(learningRate: lr))
    }

    func testRMSpropFineTuningOfKerasMixed6MatchesKeras() throws {
        try runCase("rmsprop.json", .kerasMixed6, lossTolerance: [1e-3, 1e-3, 1e-3], predictionTolerance: 1e-4)
    }

    func testSGDMomentumFineTuningOfKerasMixed6MatchesKeras() throws {
        try runCase("sgd.json", .kerasMixed6, lossTolerance: [1e-3, 1e-3, 1e-3], predictionTolerance: 1e-4)
    }

    /// End to end; the third epoch's looser bounds are the extraction difference carried by RMSprop (see above):
    /// measured 1.5e-3 on the loss and 2.8e-2 on a val_loss of 0.010 (the model then fits the two validation
    /// images almost perfectly, and ±4e-6 perturbations of mixed6 move that val_loss by 20%).
    func testRMSpropFineTuningOfExtractedMixed6MatchesKeras() throws {
        try runCase("rmsprop.json", .extracted, lossTolerance: [1e-3, 1e-3, 5e-3], valLossTolerance: [1e-3, 1e-3, 5e-2],
                    predictionTolerance: 2e-3)
    }

    func testSGDMomentumFineTuningOfExtractedMixed6MatchesKeras() throws {
        try runCase("sgd.json", .extracted, lossTolerance: [1e-3, 1e-3, 1e-3], predictionTolerance: 2e-4)
    }
}
