import Numerics
import XCTest
@testable import HeadTrain

/// The head's steps for a trainable layer below it: ∂L/∂x against finite differences of the float64 reference
/// loss, and the steps' parameter updates equal to the plain ones.
final class InputGradientTests: XCTestCase {
    let B = 3

    func makeStepper(_ config: HeadConfig, x: [Float], labels: [Int]) throws -> HeadStepper {
        let head = try Head(config: config, seed: 11)
        for h in 0..<config.hidden { head.b1[h] = 0.05 * Float(h % 3) - 0.05 }
        let stepper = HeadStepper(head: head, maxBatch: B, parallelism: .threads(1), inputBuffers: 1)
        x.withUnsafeBufferPointer { stepper.workspace.x.update(from: $0.baseAddress!, count: $0.count) }
        for b in 0..<B { stepper.workspace.labels[b] = Int32(labels[b]) }
        return stepper
    }

    func testInputGradientMatchesFiniteDifferencesForSigmoidAndSoftmaxHeads() throws {
        for classes in [2, 3] {
            let config = HeadConfig(featureCount: 10, hidden: 6, classes: classes, dropout: 0)
            var x = syntheticFeatures(seed: 5, count: B, featureCount: 10)
            let labels = syntheticLabels(seed: 5, count: B, classes: classes)
            let stepper = try makeStepper(config, x: x, labels: labels)
            let h = stepper.head
            var dx = [Float](repeating: .nan, count: x.count)
            var grads = [Float](repeating: 0, count: h.layout.total)
            var rng = SplitMix64(key: 1)
            stepper.backward(B: B, rng: &rng, gradients: &grads, inputGradient: &dx)
            let w1 = h.kernel1.map(Double.init), b1 = h.bias1.map(Double.init), w2 = h.kernel2.map(Double.init), b2 = h.bias2.map(Double.init)
            for i in x.indices {
                let saved = x[i]
                x[i] = saved + 1e-3; let xp = x[i]
                let plus = GradientTests.referenceLoss(config: config, w1: w1, b1: b1, w2: w2, b2: b2, x: x, labels: labels, mask: nil)
                x[i] = saved - 1e-3; let xm = x[i]
                let minus = GradientTests.referenceLoss(config: config, w1: w1, b1: b1, w2: w2, b2: b2, x: x, labels: labels, mask: nil)
                x[i] = saved
                let numeric = (plus - minus) / Double(xp - xm)
                XCTAssertEqual(Double(dx[i]), numeric, accuracy: 1e-4 + 1e-3 * abs(numeric), "\(classes) classes, dx[\(i)]")
            }
        }
    }

    func testBackwardGivesTheGradientsOfThePlainStep() throws {
        let config = HeadConfig(featureCount: 10, hidden: 6, classes: 2, dropout: 0.3)
        let x = syntheticFeatures(seed: 6, count: B, featureCount: 10), labels = syntheticLabels(seed: 6, count: B, classes: 2)
        let stepper = try makeStepper(config, x: x, labels: labels)
        let l = stepper.head.layout
        var rng = SplitMix64(key: 2)
        let want = stepper.gradients(B: B, rng: &rng)
        var grads = [Float](repeating: 0, count: l.total), dx = [Float](repeating: 0, count: x.count)
        rng = SplitMix64(key: 2)
        let loss = stepper.backward(B: B, rng: &rng, gradients: &grads, inputGradient: &dx)
        XCTAssertEqual(loss, want.loss)
        XCTAssertEqual(Array(grads[l.w1..<(l.w1 + l.F * l.H)]), want.w1)
        XCTAssertEqual(Array(grads[l.b1..<(l.b1 + l.H)]), want.b1)
        XCTAssertEqual(Array(grads[l.w2..<(l.w2 + l.H * l.O)]), want.w2)
        XCTAssertEqual(Array(grads[l.b2..<(l.b2 + l.O)]), want.b2)
    }

    func testTrainStepWithInputGradientUpdatesTheHeadAsTrainStep() throws {
        let config = HeadConfig(featureCount: 40, hidden: 8, classes: 2, dropout: 0)
        let x = syntheticFeatures(seed: 7, count: B, featureCount: 40), labels = syntheticLabels(seed: 7, count: B, classes: 2)
        let a = try makeStepper(config, x: x, labels: labels), b = try makeStepper(config, x: x, labels: labels)
        var dx = [Float](repeating: 0, count: x.count)
        for _ in 0..<3 {
            var r1 = SplitMix64(key: 3), r2 = SplitMix64(key: 3)
            let la = a.trainStep(B: B, rng: &r1)
            let lb = b.trainStep(B: B, rng: &r2, inputGradient: &dx)
            XCTAssertEqual(la, lb)
        }
        XCTAssertEqual(a.head.kernel1, b.head.kernel1)
        XCTAssertEqual(a.head.bias1, b.head.bias1)
        XCTAssertEqual(a.head.kernel2, b.head.kernel2)
        XCTAssertEqual(a.head.bias2, b.head.bias2)
        XCTAssertTrue(dx.contains { $0 != 0 })
    }
}
