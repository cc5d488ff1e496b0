import XCTest
@testable import HeadTrain

/// Training parity with Keras 3 (fixtures from Tools/keras-reference/head_reference.py): the same initial head
/// (glorot_uniform from headstart's generator, reproduced in NumPy), the same synthetic features, unshuffled
/// batches, no dropout, RMSprop — Keras's per-epoch metrics, final weights and predictions.
final class KerasParityTests: XCTestCase {
    struct Fixture: Decodable {
        var shape: [Int]
        var featureCount, hidden, classes, trainCount, valCount, batch, epochs: Int
        var learningRate: Float
        var initSeed, dataSeed, valDataSeed: UInt64
        var history: [String: [Double]]
        var predictions: [Float]
        var bias1, kernel2, bias2: [Float]
        var kernel1Stride: Int
        var kernel1Strided: [Float]
        var versions: [String: String]
    }

    func load(_ name: String) throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixtureURL("\(name).json")))
    }

    func train(_ f: Fixture, fused: Bool = true) throws -> (TrainingHistory, Head, HeadPredictor, InMemoryFeatures) {
        let config = HeadConfig(featureCount: f.featureCount, hidden: f.hidden, classes: f.classes)
        let head = try Head(config: config, seed: f.initSeed)
        let train = try InMemoryFeatures(
            features: syntheticFeatures(seed: f.dataSeed, count: f.trainCount, featureCount: f.featureCount),
            featureCount: f.featureCount, labels: syntheticLabels(seed: f.dataSeed, count: f.trainCount, classes: f.classes))
        let val = try InMemoryFeatures(
            features: syntheticFeatures(seed: f.valDataSeed, count: f.valCount, featureCount: f.featureCount),
            featureCount: f.featureCount, labels: syntheticLabels(seed: f.valDataSeed, count: f.valCount, classes: f.classes))
        var options = TrainingOptions(epochs: f.epochs, batchSize: f.batch, learningRate: f.learningRate, shuffle: false)
        options.referenceStep = !fused
        let history = try HeadTrainer(head: head, options: options).fit(train: train, validation: val)
        return (history, head, HeadPredictor(head: head, batchSize: f.batch), val)
    }

    func checkParity(_ name: String) throws {
        let f = try load(name)
        let (history, head, predictor, val) = try train(f)
        XCTAssertEqual(history.epochs.count, f.epochs)
        let keys: [(String, (EpochLog) -> Double?)] = [
            ("loss", { $0.loss }), ("acc", { $0.accuracy }), ("val_loss", { $0.valLoss }), ("val_acc", { $0.valAccuracy })]
        for (key, path) in keys {
            let keras = try XCTUnwrap(f.history[key], "fixture lacks \(key)")
            for (e, log) in history.epochs.enumerated() {
                let ours = try XCTUnwrap(path(log))
                if key.hasSuffix("loss") {
                    // The issue asks for 1e-3 relative; measured differences are ≤ 2e-7 (float32 summation order).
                    XCTAssertEqual(ours, keras[e], accuracy: 1e-5 * abs(keras[e]), "\(name) epoch \(e + 1) \(key)")
                } else {
                    // Keras keeps accuracy in float32; one sample more or less would move it by ≥ 1/60.
                    XCTAssertEqual(ours, keras[e], accuracy: 1e-6, "\(name) epoch \(e + 1) \(key)")
                }
            }
        }
        // Final weights: the fully kept tensors and a stride of the first kernel, 1e-4 absolute + 1e-3 relative
        // (each of 5·steps RMSprop updates moves a weight by up to lr; they are close to ~1e-6).
        func close(_ a: [Float], _ b: [Float], _ what: String) {
            XCTAssertEqual(a.count, b.count, what)
            for i in a.indices where abs(a[i] - b[i]) > 1e-5 + 1e-3 * abs(b[i]) {
                XCTFail("\(name) \(what)[\(i)]: ours \(a[i]), Keras \(b[i])"); return
            }
        }
        close(head.bias1, f.bias1, "bias1")
        close(head.kernel2, f.kernel2, "kernel2")
        close(head.bias2, f.bias2, "bias2")
        close(stride(from: 0, to: head.kernel1.count, by: f.kernel1Stride).map { head.kernel1[$0] }, f.kernel1Strided, "kernel1")
        // Predictions of the trained head on the validation features within 1e-5.
        let ours = try predictor.predict(val)
        XCTAssertEqual(ours.count, f.predictions.count)
        XCTAssertLessThanOrEqual(maxAbsoluteDifference(ours, f.predictions), 1e-5, "\(name) predictions")
    }

    func testBinaryHeadMatchesKerasOverFiveEpochs() throws { try checkParity("binary_small") }
    func testCategoricalHeadMatchesKerasOverFiveEpochs() throws { try checkParity("categorical_small") }
    func testBinaryHeadAtMixed7WidthMatchesKeras() throws { try checkParity("binary_mixed7_width") }

    func testReferenceStepAlsoMatchesKeras() throws {
        let f = try load("binary_small")
        let (history, _, _, _) = try train(f, fused: false)
        for (e, log) in history.epochs.enumerated() {
            XCTAssertEqual(log.loss, f.history["loss"]![e], accuracy: 1e-4 * f.history["loss"]![e])
        }
    }
}
