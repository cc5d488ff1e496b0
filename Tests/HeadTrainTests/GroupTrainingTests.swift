import XCTest
@testable import HeadTrain

/// Heads trained in one shared pass (a sweep's group) end exactly as each trained alone by `fit`.
final class GroupTrainingTests: XCTestCase {
    // F = 300: several 64-row tiles per thread in the fused step.
    let F = 300, classes = 2

    func sources() throws -> (InMemoryFeatures, InMemoryFeatures) {
        // 37 training samples: the last batch of 8 is partial (5), as in real datasets.
        let train = try InMemoryFeatures(features: syntheticFeatures(seed: 11, count: 37, featureCount: F),
                                         featureCount: F, labels: syntheticLabels(seed: 11, count: 37, classes: classes))
        let val = try InMemoryFeatures(features: syntheticFeatures(seed: 12, count: 13, featureCount: F),
                                       featureCount: F, labels: syntheticLabels(seed: 12, count: 13, classes: classes))
        return (train, val)
    }

    /// (hidden, dropout, lr, epochs): differing widths, dropout on and off, and one head leaving the pass early.
    let variants: [(Int, Float, Float, Int)] = [(16, 0, 1e-3, 3), (24, 0.5, 3e-4, 3), (8, 0.2, 1e-2, 2)]

    func trainer(_ v: (Int, Float, Float, Int)) throws -> HeadTrainer {
        let head = try Head(config: HeadConfig(featureCount: F, hidden: v.0, classes: classes, dropout: v.1), seed: 7)
        return try HeadTrainer(head: head, options: TrainingOptions(epochs: v.3, batchSize: 8, learningRate: v.2, seed: 7))
    }

    func withoutSeconds(_ h: TrainingHistory) -> [EpochLog] {
        h.epochs.map { var e = $0; e.seconds = 0; return e }
    }

    func testEachHeadOfAGroupIsBitwiseTheHeadTrainedAlone() throws {
        let (train, val) = try sources()
        let group = try HeadGroupTrainer(trainers: variants.map(trainer))
        try group.train(train: train, validation: val, until: 3)
        for (i, v) in variants.enumerated() {
            let alone = try trainer(v)
            let history = try alone.fit(train: train, validation: val)
            let m = group.members[i]
            XCTAssertEqual(withoutSeconds(m.history), withoutSeconds(history), "variant \(i): histories")
            XCTAssertEqual(m.history.bestEpoch, history.bestEpoch)
            XCTAssertEqual(m.head.kernel1, alone.head.kernel1, "variant \(i): kernel1 bitwise")
            XCTAssertEqual(m.head.bias1, alone.head.bias1)
            XCTAssertEqual(m.head.kernel2, alone.head.kernel2)
            XCTAssertEqual(m.head.bias2, alone.head.bias2)
        }
        XCTAssertEqual(group.members[2].history.epochs.count, 2, "the 2-epoch head left the pass after its epochs")
    }

    func testTrainingInRungsEqualsTrainingStraightThrough() throws {
        let (train, val) = try sources()
        let straight = try HeadGroupTrainer(trainers: [try trainer(variants[1])])
        try straight.train(train: train, validation: val, until: 3)
        let rungs = try HeadGroupTrainer(trainers: [try trainer(variants[1])])
        try rungs.train(train: train, validation: val, until: 1)
        try rungs.train(train: train, validation: val, until: 3)
        XCTAssertEqual(rungs.members[0].head.kernel1, straight.members[0].head.kernel1)
        XCTAssertEqual(withoutSeconds(rungs.members[0].history), withoutSeconds(straight.members[0].history))
    }

    func testResumingFromASavedStateEqualsTrainingStraightThrough() throws {
        let (train, val) = try sources()
        let straight = try HeadGroupTrainer(trainers: [try trainer(variants[1])])
        try straight.train(train: train, validation: val, until: 3)
        let first = try HeadGroupTrainer(trainers: [try trainer(variants[1])])
        try first.train(train: train, validation: val, until: 1)
        // Copy weights and optimizer state into a fresh trainer, as a sweep does through a state file.
        let resumed = try trainer(variants[1])
        first.members[0].head.withParameters { src in resumed.head.withParameters { dst in _ = dst.update(from: src) } }
        first.members[0].trainer.stepper.withOptimizerState { src in resumed.stepper.withOptimizerState { dst in _ = dst.update(from: src) } }
        let second = try HeadGroupTrainer(trainers: [resumed], startEpoch: 1)
        second.restore(0, history: first.members[0].history)
        try second.train(train: train, validation: val, until: 3)
        XCTAssertEqual(resumed.head.kernel1, straight.members[0].head.kernel1)
        XCTAssertEqual(withoutSeconds(second.members[0].history), withoutSeconds(straight.members[0].history))
    }

    func testHeadsWithDifferentBatchSizesCannotShareAPass() throws {
        let a = try trainer(variants[0])
        let head = try Head(config: HeadConfig(featureCount: F, hidden: 4), seed: 7)
        let b = try HeadTrainer(head: head, options: TrainingOptions(epochs: 1, batchSize: 16, seed: 7))
        XCTAssertThrowsError(try HeadGroupTrainer(trainers: [a, b])) { error in
            guard case HeadError.invalidConfig(let s) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(s.contains("batch size"), s)
        }
    }
}
