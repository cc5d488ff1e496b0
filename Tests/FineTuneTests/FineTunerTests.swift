import Extract
import FineTune
import Foundation
import HeadTrain
import Numerics
import XCTest

/// The training loop on small synthetic mixed6-like features (a 2×2 grid, so each epoch takes milliseconds).
final class FineTunerTests: XCTestCase {
    let H = 2, W = 2, N = 12, validationCount = 5
    var F: Int { H * W * 768 }

    func source(seed: UInt64, count: Int) throws -> InMemoryFeatures {
        var rng = SplitMix64(key: seed)
        let labels = (0..<count).map { _ in Int(rng.next() % 2) }
        return try InMemoryFeatures(features: uniforms(count * F, seed: seed + 1, 0, 2), featureCount: F, labels: labels)
    }

    func tuner(_ options: FineTuneOptions, dropout: Float = 0) throws -> FineTuner {
        let head = try Head(config: HeadConfig(featureCount: F, hidden: 16, classes: 2, dropout: dropout), seed: 3)
        return try FineTuner(units: seededMixed7Units, head: head, options: options, height: H, width: W)
    }

    func testRMSpropEpochsLowerTheTrainingLoss() throws {
        let options = FineTuneOptions(epochs: 6, batchSize: 4, optimizer: .rmsprop(RMSpropConfig(learningRate: 1e-4)), shuffle: false)
        let history = try tuner(options).fit(train: try source(seed: 1, count: N)).history
        XCTAssertEqual(history.epochs.count, 6)
        XCTAssertLessThan(history.epochs.last!.loss, 0.8 * history.epochs.first!.loss, "\(history.epochs.map(\.loss))")
    }

    func testSGDMomentumEpochsLowerTheTrainingLoss() throws {
        let options = FineTuneOptions(epochs: 6, batchSize: 4, optimizer: .sgd(learningRate: 1e-3, momentum: 0.9), shuffle: false)
        let history = try tuner(options).fit(train: try source(seed: 1, count: N)).history
        XCTAssertLessThan(history.epochs.last!.loss, 0.8 * history.epochs.first!.loss, "\(history.epochs.map(\.loss))")
    }

    func testASoftmaxHeadOfThreeClassesTrainsToo() throws {
        var rng = SplitMix64(key: 7)
        let labels = (0..<N).map { _ in Int(rng.next() % 3) }
        let train = try InMemoryFeatures(features: uniforms(N * F, seed: 8, 0, 2), featureCount: F, labels: labels)
        let options = FineTuneOptions(epochs: 6, batchSize: 4, optimizer: .rmsprop(RMSpropConfig(learningRate: 1e-4)), shuffle: false)
        let tuner = try FineTuner(units: seededMixed7Units, headConfig: HeadConfig(featureCount: F, hidden: 16, classes: 3, dropout: 0),
                                  initSeed: 3, options: options, height: H, width: W)
        let history = try tuner.fit(train: train).history
        XCTAssertLessThan(history.epochs.last!.loss, 0.8 * history.epochs.first!.loss, "\(history.epochs.map(\.loss))")
        XCTAssertEqual(try tuner.predict(train).count, 3 * N)
    }

    func testAFreshHeadIsTheGlorotHeadOfItsSeed() throws {
        let config = HeadConfig(featureCount: F, hidden: 16, classes: 2, dropout: 0)
        let tuner = try FineTuner(units: seededMixed7Units, headConfig: config, initSeed: 5, options: FineTuneOptions(), height: H, width: W)
        let head = try Head(config: config, seed: 5)
        XCTAssertEqual(tuner.head.kernel1, head.kernel1)
        XCTAssertEqual(tuner.head.kernel2, head.kernel2)
    }

    func testTheBlockTrainsAndItsStatisticsStayFrozen() throws {
        let options = FineTuneOptions(epochs: 1, batchSize: 4, optimizer: .rmsprop(RMSpropConfig(learningRate: 1e-4)))
        let units = try tuner(options).fit(train: try source(seed: 1, count: N)).units
        for (i, u) in units.enumerated() {
            XCTAssertNotEqual(u.kernel, seededMixed7Units[i].kernel, "unit \(60 + i) kernel")
            XCTAssertNotEqual(u.beta, seededMixed7Units[i].beta, "unit \(60 + i) beta")
            XCTAssertEqual(u.movingMean, seededMixed7Units[i].movingMean)
            XCTAssertEqual(u.movingVariance, seededMixed7Units[i].movingVariance)
        }
    }

    func testTheSameSeedGivesBitIdenticalResults() throws {
        let options = FineTuneOptions(epochs: 2, batchSize: 5, optimizer: .rmsprop(RMSpropConfig(learningRate: 1e-4)),
                                      shuffle: true, seed: 9)
        let train = try source(seed: 1, count: N), validation = try source(seed: 2, count: validationCount)
        func run() throws -> FineTuneResult { try tuner(options, dropout: 0.3).fit(train: train, validation: validation) }
        let a = try run(), b = try run()
        XCTAssertEqual(a.history.epochs.map(\.loss), b.history.epochs.map(\.loss))
        XCTAssertEqual(a.history.epochs.map(\.valLoss), b.history.epochs.map(\.valLoss))
        XCTAssertEqual(a.head.kernel1, b.head.kernel1)
        XCTAssertEqual(a.head.bias2, b.head.bias2)
        for i in 0..<10 {
            XCTAssertEqual(a.units[i].kernel, b.units[i].kernel, "unit \(60 + i) kernel")
            XCTAssertEqual(a.units[i].beta, b.units[i].beta, "unit \(60 + i) beta")
        }
    }

    func testValidationIsReportedAfterEveryEpochAsEvaluateComputesIt() throws {
        let options = FineTuneOptions(epochs: 2, batchSize: 4, optimizer: .rmsprop(RMSpropConfig(learningRate: 1e-4)))
        let validation = try source(seed: 2, count: validationCount)
        let t = try tuner(options)
        var logs: [EpochLog] = []
        let history = try t.fit(train: try source(seed: 1, count: N), validation: validation, onEpoch: { logs.append($0) }).history
        XCTAssertEqual(logs, history.epochs)
        let final = try t.evaluate(validation, labels: validation.labels())
        XCTAssertEqual(history.epochs.last!.valLoss, final.loss)
        XCTAssertEqual(history.epochs.last!.valAccuracy, final.accuracy)
        // The mean of per-sample BCE over the probabilities predict gives.
        let p = try t.predict(validation)
        var bce = 0.0
        for (i, y) in validation.labels().enumerated() { bce -= y == 1 ? log(Double(p[i])) : log(1 - Double(p[i])) }
        XCTAssertEqual(final.loss, bce / Double(validationCount), accuracy: 1e-5)
    }

    func testEarlyStoppingStopsWhenTheValidationLossNoLongerImproves() throws {
        // Validation = the training features with every label flipped: once training fits them, val_loss rises.
        let train = try source(seed: 1, count: N)
        let flipped = try InMemoryFeatures(features: train.features, featureCount: F, labels: train.classLabels.map { 1 - $0 })
        let options = FineTuneOptions(epochs: 8, batchSize: 4, optimizer: .rmsprop(RMSpropConfig(learningRate: 1e-4)),
                                      shuffle: false, earlyStopPatience: 2)
        var improved: [Int] = []
        let history = try tuner(options).fit(train: train, validation: flipped, onImproved: { _, log in improved.append(log.epoch) }).history
        let v = history.epochs.map { $0.valLoss! }
        var records: [Int] = [], best = Double.infinity
        for (e, loss) in v.enumerated() where loss < best { best = loss; records.append(e + 1) }
        XCTAssertTrue(history.stoppedEarly)
        XCTAssertLessThan(v.count, 8)
        XCTAssertEqual(improved, records, "\(v)")
        XCTAssertEqual(history.bestEpoch, records.last)
        XCTAssertEqual(v.count, records.last! + 2, "stopped after 2 epochs without a new best: \(v)")
    }

    func testOptionsOutOfRangeAreRefused() throws {
        let head = try Head(config: HeadConfig(featureCount: F, hidden: 4), seed: 1)
        for (options, message) in [
            (FineTuneOptions(batchSize: 0), "batch size"),
            (FineTuneOptions(optimizer: .rmsprop(RMSpropConfig(learningRate: 0))), "learning rate"),
            (FineTuneOptions(optimizer: .sgd(learningRate: 1e-3, momentum: 1.5)), "momentum"),
        ] {
            XCTAssertThrowsError(try FineTuner(units: seededMixed7Units, head: head, options: options, height: H, width: W)) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
            }
        }
        XCTAssertThrowsError(try FineTuner(units: seededMixed7Units, head: head, options: FineTuneOptions(), height: 7, width: 7)) {
            XCTAssertTrue("\($0)".contains("the head takes 3072 features; mixed7 at 7×7 gives 37632"), "\($0)")
        }
    }
}
