import Numerics
import XCTest
@testable import HeadTrain

/// The analytic gradients of the fused kernels against central finite differences of a float64 re-implementation
/// of the same head and loss (Keras's formulas), on a small head.
final class GradientTests: XCTestCase {
    /// Mean loss in float64 for parameters p (Keras layouts), features x[B,F], labels, and a dropout mask
    /// (nil = no dropout).
    static func referenceLoss(config c: HeadConfig, w1: [Double], b1: [Double], w2: [Double], b2: [Double],
                              x: [Float], labels: [Int], mask: [Float]?) -> Double {
        let F = c.featureCount, H = c.hidden, O = c.outputs, B = labels.count
        var total = 0.0
        for b in 0..<B {
            var a = [Double](repeating: 0, count: H)
            for h in 0..<H {
                var s = b1[h]
                for f in 0..<F { s += Double(x[b * F + f]) * w1[f * H + h] }
                a[h] = max(s, 0) * (mask.map { Double($0[b * H + h]) } ?? 1)
            }
            var z = [Double](repeating: 0, count: O)
            for o in 0..<O {
                z[o] = b2[o]
                for h in 0..<H { z[o] += a[h] * w2[h * O + o] }
            }
            if O == 1 {
                let y = Double(labels[b])
                total += max(z[0], 0) - z[0] * y + log1p(exp(-abs(z[0])))
            } else {
                let m = z.max()!
                let lse = m + log(z.map { exp($0 - m) }.reduce(0, +))
                total += lse - z[labels[b]]
            }
        }
        return total / Double(B)
    }

    func checkGradients(config: HeadConfig, B: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let head = try Head(config: config, seed: 11)
        // Non-zero biases so every term of the gradient is exercised.
        for h in 0..<config.hidden { head.b1[h] = 0.05 * Float(h % 3) - 0.05 }
        for o in 0..<config.outputs { head.b2[o] = 0.1 * Float(o) - 0.05 }
        let x = syntheticFeatures(seed: 5, count: B, featureCount: config.featureCount)
        let labels = syntheticLabels(seed: 5, count: B, classes: config.classes)
        let stepper = HeadStepper(head: head, maxBatch: B, parallelism: .threads(1))
        x.withUnsafeBufferPointer { stepper.workspace.x.update(from: $0.baseAddress!, count: $0.count) }
        for b in 0..<B { stepper.workspace.labels[b] = Int32(labels[b]) }
        var rng = SplitMix64(key: 99)
        let g = stepper.gradients(B: B, rng: &rng)
        let mask: [Float]? = config.dropout > 0
            ? Array(UnsafeBufferPointer(start: stepper.workspace.mask, count: B * config.hidden)) : nil

        var p = [head.kernel1, head.bias1, head.kernel2, head.bias2].map { $0.map(Double.init) }
        let analytic = [g.w1, g.b1, g.w2, g.b2]
        let loss0 = Self.referenceLoss(config: config, w1: p[0], b1: p[1], w2: p[2], b2: p[3], x: x, labels: labels, mask: mask)
        XCTAssertEqual(Double(g.loss), loss0, accuracy: 1e-5 * max(1, loss0), "forward loss", file: file, line: line)
        let eps = 1e-5
        var checked = 0
        for t in 0..<4 {
            for i in p[t].indices {
                let keep = p[t][i]
                p[t][i] = keep + eps
                let up = Self.referenceLoss(config: config, w1: p[0], b1: p[1], w2: p[2], b2: p[3], x: x, labels: labels, mask: mask)
                p[t][i] = keep - eps
                let down = Self.referenceLoss(config: config, w1: p[0], b1: p[1], w2: p[2], b2: p[3], x: x, labels: labels, mask: mask)
                p[t][i] = keep
                let numeric = (up - down) / (2 * eps)
                // float32 analytic gradient vs float64 central difference: 1e-5 absolute + 1e-3 relative.
                XCTAssertEqual(Double(analytic[t][i]), numeric, accuracy: 1e-5 + 1e-3 * abs(numeric),
                               "tensor \(t) element \(i)", file: file, line: line)
                checked += 1
            }
        }
        XCTAssertEqual(checked, config.featureCount * config.hidden + config.hidden + config.hidden * config.outputs + config.outputs)
    }

    func testSigmoidBinaryCrossEntropyGradientsMatchFiniteDifferences() throws {
        try checkGradients(config: HeadConfig(featureCount: 12, hidden: 7, classes: 2), B: 5)
    }

    func testSoftmaxCategoricalCrossEntropyGradientsMatchFiniteDifferences() throws {
        try checkGradients(config: HeadConfig(featureCount: 12, hidden: 7, classes: 4), B: 6)
    }

    func testGradientsWithDropoutMatchFiniteDifferencesForTheSameMask() throws {
        try checkGradients(config: HeadConfig(featureCount: 10, hidden: 8, classes: 2, dropout: 0.4), B: 5)
        try checkGradients(config: HeadConfig(featureCount: 10, hidden: 8, classes: 3, dropout: 0.25), B: 4)
    }
}
