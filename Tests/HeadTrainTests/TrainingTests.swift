import Numerics
import XCTest
@testable import HeadTrain

final class TrainingTests: XCTestCase {
    func data(seed: UInt64, count: Int, F: Int, classes: Int = 2) throws -> InMemoryFeatures {
        try InMemoryFeatures(features: syntheticFeatures(seed: seed, count: count, featureCount: F), featureCount: F,
                             labels: syntheticLabels(seed: seed, count: count, classes: classes))
    }

    func testEpochMetricsAreSampleWeightedMeansOfTheBatches() throws {
        // 10 samples in batches of 4, 4, 2: the epoch loss is (4·l1 + 4·l2 + 2·l3) / 10, not the mean of batch means.
        let c = HeadConfig(featureCount: 30, hidden: 8, classes: 2)
        let train = try data(seed: 1, count: 10, F: 30)
        let head = try Head(config: c, seed: 4)
        var options = TrainingOptions(epochs: 1, batchSize: 4, learningRate: 1e-2, shuffle: false)
        options.parallelism = .threads(1)
        let log = try HeadTrainer(head: head, options: options).fit(train: train).epochs[0]

        let replay = try Head(config: c, seed: 4)
        let stepper = HeadStepper(head: replay, maxBatch: 4, optimizer: RMSpropConfig(learningRate: 1e-2), parallelism: .threads(1))
        var losses: [Double] = [], correct: [Int] = []
        for (s, b) in [(0, 4), (4, 4), (8, 2)] {
            try train.fill(indices: Array(s..<(s + b)), into: stepper.workspace.x)
            for r in 0..<b { stepper.workspace.labels[r] = Int32(train.classLabels[s + r]) }
            var rng = SplitMix64(key: 0)
            losses.append(Double(stepper.trainStep(B: b, rng: &rng)))
            correct.append(stepper.correctCount(B: b))
        }
        let weighted = (4 * losses[0] + 4 * losses[1] + 2 * losses[2]) / 10
        XCTAssertEqual(log.loss, weighted, accuracy: 1e-7)
        XCTAssertNotEqual(log.loss, losses.reduce(0, +) / 3, accuracy: 1e-6, "batch means differ, so the weighting matters")
        XCTAssertEqual(log.accuracy, Double(correct.reduce(0, +)) / 10, accuracy: 1e-12)
    }

    func testValidationMetricsUseTheWeightsAfterTheEpoch() throws {
        let c = HeadConfig(featureCount: 25, hidden: 6, classes: 3)
        let train = try data(seed: 2, count: 12, F: 25, classes: 3), val = try data(seed: 3, count: 7, F: 25, classes: 3)
        let head = try Head(config: c, seed: 5)
        let log = try HeadTrainer(head: head, options: TrainingOptions(epochs: 1, batchSize: 5, learningRate: 1e-2))
            .fit(train: train, validation: val).epochs[0]
        let e = try HeadPredictor(head: head, batchSize: 5).evaluate(val)
        XCTAssertEqual(try XCTUnwrap(log.valLoss), e.loss, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(log.valAccuracy), e.accuracy, accuracy: 1e-12)
    }

    func testValidationInChunksOfWholeBatchesEqualsBatchByBatchEvaluationBitwise() throws {
        // 700 samples in batches of 3: chunks of 255 samples (85 batches), the last chunk ending in a batch of 1.
        for classes in [2, 3] {
            let c = HeadConfig(featureCount: 300, hidden: 40, classes: classes)
            let head = try Head(config: c, seed: 6), val = try data(seed: 7, count: 700, F: 300, classes: classes)
            let options = TrainingOptions(epochs: 1, batchSize: 3)
            let trainer = try HeadTrainer(head: head, options: options)
            XCTAssertEqual(BatchedValidation.chunkRows(batch: 3, count: 700), 255)
            let chunked = try trainer.meanLossAndAccuracy(val, labels: val.classLabels, evaluator: trainer.makeEvaluator(rows: 255))

            var loss = WeightedMean(), accuracy = WeightedMean()
            let stepper = HeadStepper(head: head, maxBatch: 3)
            try forEachBatch(val, labels: val.classLabels, stepper: stepper, batch: 3) { b, l in
                loss.add(Double(l), weight: Double(b))
                accuracy.add(Double(stepper.correctCount(B: b)) / Double(b), weight: Double(b))
            }
            XCTAssertEqual(chunked.loss, loss.mean, "\(classes) classes")
            XCTAssertEqual(chunked.accuracy, accuracy.mean, "\(classes) classes")
        }
    }

    func testAValidationChunkIsWholeBatchesOfAbout256SamplesAndNoMoreThanTheSplitNeeds() {
        XCTAssertEqual(BatchedValidation.chunkRows(batch: 20, count: 256), 240)
        XCTAssertEqual(BatchedValidation.chunkRows(batch: 20, count: 45), 60)
        XCTAssertEqual(BatchedValidation.chunkRows(batch: 500, count: 10_000), 500)
        XCTAssertEqual(BatchedValidation.chunkRows(batch: 32, count: .max), 256)
    }

    func testTrainingIsDeterministicForASeedWithShuffleAndDropout() throws {
        let c = HeadConfig(featureCount: 40, hidden: 16, classes: 2, dropout: 0.3)
        let train = try data(seed: 4, count: 30, F: 40)
        func run(_ seed: UInt64) throws -> ([Double], [Float]) {
            let head = try Head(config: c, seed: 1)
            let h = try HeadTrainer(head: head, options: TrainingOptions(epochs: 3, batchSize: 7, learningRate: 1e-3, seed: seed))
                .fit(train: train)
            return (h.epochs.map(\.loss), head.kernel1)
        }
        let a = try run(10), b = try run(10), other = try run(11)
        XCTAssertEqual(a.0, b.0)
        XCTAssertEqual(a.1, b.1)
        XCTAssertNotEqual(a.0, other.0, "another seed shuffles and drops differently")
    }

    func testShuffleVisitsEverySampleOncePerEpochInASeededOrder() {
        var r1 = SplitMix64(key: SplitMix64.streamKey(seed: 3, tag: .shuffle, index: 0))
        var r2 = SplitMix64(key: SplitMix64.streamKey(seed: 3, tag: .shuffle, index: 1))
        var a = Array(0..<100), b = Array(0..<100)
        a.shuffle(with: &r1); b.shuffle(with: &r2)
        XCTAssertEqual(a.sorted(), Array(0..<100))
        XCTAssertNotEqual(a, Array(0..<100))
        XCTAssertNotEqual(a, b, "each epoch has its own order")
    }

    func testLossFallsOnALearnableProblem() throws {
        let c = HeadConfig(featureCount: 50, hidden: 32, classes: 2)
        let train = try data(seed: 6, count: 40, F: 50)
        let head = try Head(config: c, seed: 2)
        let h = try HeadTrainer(head: head, options: TrainingOptions(epochs: 30, batchSize: 8, learningRate: 1e-3, seed: 1))
            .fit(train: train)
        XCTAssertLessThan(h.epochs.last!.loss, 0.5 * h.epochs.first!.loss)
    }

    /// A source whose validation loss gets worse after epoch 1: the labels flip relative to training.
    func testEarlyStoppingStopsAfterPatienceEpochsWithoutValLossImprovement() throws {
        let c = HeadConfig(featureCount: 30, hidden: 16, classes: 2)
        let train = try data(seed: 7, count: 24, F: 30)
        let flipped = try InMemoryFeatures(features: train.features, featureCount: 30, labels: train.classLabels.map { 1 - $0 })
        let head = try Head(config: c, seed: 3)
        var options = TrainingOptions(epochs: 30, batchSize: 8, learningRate: 1e-3, shuffle: false)
        options.earlyStopPatience = 2
        var seen: [Int] = [], improved: [Int] = []
        let h = try HeadTrainer(head: head, options: options).fit(train: train, validation: flipped,
            onEpoch: { seen.append($0.epoch) }, onImproved: { _, log in improved.append(log.epoch) })
        XCTAssertTrue(h.stoppedEarly)
        let best = try XCTUnwrap(h.bestEpoch)
        // Keras: stop at the first epoch where `patience` epochs have passed without improvement.
        XCTAssertEqual(h.epochs.count, best + 2)
        XCTAssertEqual(seen, Array(1...(best + 2)))
        XCTAssertEqual(improved.last, best)
        let valLosses = h.epochs.map { $0.valLoss! }
        XCTAssertEqual(valLosses.firstIndex(of: valLosses.min()!)! + 1, best)
        XCTAssertEqual(improved, improved.sorted())
    }

    func testWithoutPatienceAllEpochsRun() throws {
        let c = HeadConfig(featureCount: 10, hidden: 4, classes: 2)
        let train = try data(seed: 8, count: 9, F: 10)
        let h = try HeadTrainer(head: try Head(config: c, seed: 1), options: TrainingOptions(epochs: 4, batchSize: 4))
            .fit(train: train, validation: train)
        XCTAssertEqual(h.epochs.map(\.epoch), [1, 2, 3, 4])
        XCTAssertFalse(h.stoppedEarly)
    }

    func testLabelsOutsideTheClassesAreRejectedWithTheSampleIndex() throws {
        let train = try InMemoryFeatures(features: [Float](repeating: 1, count: 6), featureCount: 2, labels: [0, 1, 2])
        let trainer = try HeadTrainer(head: try Head(config: HeadConfig(featureCount: 2, hidden: 2)), options: TrainingOptions(epochs: 1))
        XCTAssertThrowsError(try trainer.fit(train: train)) {
            XCTAssertEqual($0 as? HeadError, .invalidLabel(index: 2, label: 2, classes: 2))
        }
    }

    func testFeatureCountMismatchIsRejected() throws {
        let train = try InMemoryFeatures(features: [Float](repeating: 1, count: 6), featureCount: 3, labels: [0, 1])
        let trainer = try HeadTrainer(head: try Head(config: HeadConfig(featureCount: 2, hidden: 2)), options: TrainingOptions(epochs: 1))
        XCTAssertThrowsError(try trainer.fit(train: train)) {
            XCTAssertEqual($0 as? HeadError, .featureCountMismatch(expected: 2, found: 3))
        }
    }
}
