import XCTest
@testable import HeadTrain

final class EvaluationTests: XCTestCase {
    func testROCAUCCountsTiesAsHalf() {
        let scores: [Float] = [0.9, 0.8, 0.4, 0.35, 0.35, 0.1]
        let labels = [1, 0, 1, 1, 0, 0]
        // 0.9 beats 3 negatives; 0.4 beats 0.35 and 0.1; 0.35 ties 0.35 (½) and beats 0.1 → (3 + 2 + 1.5) / 9.
        XCTAssertEqual(try XCTUnwrap(rocAUC(scores: scores, labels: labels)), 6.5 / 9, accuracy: 1e-12)
        XCTAssertNil(rocAUC(scores: [0.1, 0.2], labels: [1, 1]))
        XCTAssertEqual(rocAUC(scores: [0.1, 0.9], labels: [0, 1]), 1)
    }

    func testTheROCCurveStepsThroughEveryThresholdWithTiesTogetherAndItsAreaIsTheAUC() throws {
        let scores: [Float] = [0.9, 0.8, 0.4, 0.35, 0.35, 0.1]
        let labels = [1, 0, 1, 1, 0, 0]
        let curve = try XCTUnwrap(rocCurve(scores: scores, labels: labels))
        let expected: [(Double, Double)] = [(0, 0), (0, 1.0 / 3), (1.0 / 3, 1.0 / 3), (1.0 / 3, 2.0 / 3), (2.0 / 3, 1), (1, 1)]
        XCTAssertEqual(curve.count, expected.count)
        for (p, e) in zip(curve, expected) {
            XCTAssertEqual(p.fpr, e.0, accuracy: 1e-12)
            XCTAssertEqual(p.tpr, e.1, accuracy: 1e-12)
        }
        let area = zip(curve, curve.dropFirst()).reduce(0.0) { $0 + ($1.1.fpr - $1.0.fpr) * ($1.1.tpr + $1.0.tpr) / 2 }
        XCTAssertEqual(area, try XCTUnwrap(rocAUC(scores: scores, labels: labels)), accuracy: 1e-12)
        XCTAssertNil(rocCurve(scores: [0.1, 0.2], labels: [0, 0]))
    }

    func testEvaluationReportsConfusionPrecisionRecallAndLoss() throws {
        // A head whose output is the first feature times 10 minus 5: probabilities are set by the features.
        let c = HeadConfig(featureCount: 1, hidden: 1, classes: 2)
        let head = try Head(config: c, kernel1: [1], bias1: [0], kernel2: [10], bias2: [-5])
        let x: [Float] = [0.9, 0.2, 0.7, 0.4, 0.1, 0.6]
        let labels = [1, 1, 1, 0, 0, 0]
        let e = try HeadPredictor(head: head, batchSize: 4).evaluate(InMemoryFeatures(features: x, featureCount: 1, labels: labels))
        XCTAssertEqual(e.predicted, [1, 0, 1, 0, 0, 1])
        XCTAssertEqual(e.confusion, [[2, 1], [1, 2]])
        XCTAssertEqual(e.accuracy, 4.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(e.precision.map { $0! }, [2.0 / 3, 2.0 / 3])
        XCTAssertEqual(e.recall.map { $0! }, [2.0 / 3, 2.0 / 3])
        XCTAssertEqual(e.misclassified, [1, 5])
        let expectedLoss = zip(x, labels).map { v, y -> Double in
            let z = Double(v) * 10 - 5
            return max(z, 0) - z * Double(y) + log1p(exp(-abs(z)))
        }.reduce(0, +) / 6
        XCTAssertEqual(e.loss, expectedLoss, accuracy: 1e-6)
        for i in 0..<6 { XCTAssertEqual(Double(e.probabilities[i]), 1 / (1 + exp(-(Double(x[i]) * 10 - 5))), accuracy: 1e-6) }
        // Positives 0.9, 0.2, 0.7 against negatives 0.4, 0.1, 0.6: 3 + 1 + 3 = 7 of 9 pairs.
        XCTAssertEqual(try XCTUnwrap(e.rocAUC), 7.0 / 9, accuracy: 1e-12)
    }

    func testMultiClassEvaluationUsesArgmaxAndHasNoAUC() throws {
        // Three classes, identity-like head: logits = 5·x with a one-hot feature.
        let c = HeadConfig(featureCount: 3, hidden: 3, classes: 3)
        let eye: [Float] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        let head = try Head(config: c, kernel1: eye, bias1: [0, 0, 0], kernel2: eye.map { $0 * 5 }, bias2: [0, 0, 0])
        let x: [Float] = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0]
        let e = try HeadPredictor(head: head).evaluate(InMemoryFeatures(features: x, featureCount: 3, labels: [0, 1, 2, 2]))
        XCTAssertEqual(e.predicted, [0, 1, 2, 1])
        XCTAssertEqual(e.confusion, [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
        XCTAssertEqual(e.precision[1]!, 0.5)
        XCTAssertEqual(e.recall[2]!, 0.5)
        XCTAssertNil(e.rocAUC)
        XCTAssertEqual(e.probabilities.count, 12)
        XCTAssertEqual(e.probabilities[0 ..< 3].reduce(0, +), 1, accuracy: 1e-6)
    }

    func testPredictOverASourceMatchesPredictOverRows() throws {
        let c = HeadConfig(featureCount: 16, hidden: 8, classes: 2)
        let head = try Head(config: c, seed: 5)
        let x = syntheticFeatures(seed: 2, count: 11, featureCount: 16)
        let p = HeadPredictor(head: head, batchSize: 4)
        let a = try p.predict(InMemoryFeatures(features: x, featureCount: 16, labels: [Int](repeating: 0, count: 11)))
        let b = x.withUnsafeBufferPointer { p.predict(features: $0.baseAddress!, count: 11) }
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, 11)
    }
}
