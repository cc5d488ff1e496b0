import Numerics
import XCTest
@testable import HeadTrain

final class KernelTests: XCTestCase {
    func testSigmoidBCEUsesTheLogitsFormulaAndStaysFiniteWhenSaturated() {
        let logits: [Float] = [0, 2, -3, 60, -60, -53.66]
        let labels: [Int32] = [1, 0, 0, 0, 1, 0]
        var probs = [Float](repeating: 0, count: 6), losses = probs
        let mean = sigmoid_bce_forward(&probs, &losses, logits, labels, B: 6)
        for i in 0..<6 {
            let z = Double(logits[i]), y = Double(labels[i])
            let expected = max(z, 0) - z * y + log1p(exp(-abs(z)))
            XCTAssertEqual(Double(losses[i]), expected, accuracy: 1e-6 * max(1, expected), "sample \(i)")
            XCTAssertEqual(Double(probs[i]), 1 / (1 + exp(-z)), accuracy: 1e-6 * (1 / (1 + exp(-z))), "p\(i)")
        }
        // Saturated logits: a probability-clipping BCE would cap these at -log(1e-7) ≈ 16.1; the logits form does not.
        XCTAssertEqual(losses[3], 60, accuracy: 1e-4)
        XCTAssertEqual(losses[4], 60, accuracy: 1e-4)
        // Very small probabilities keep their relative precision (the book's cat: ~5e-24).
        XCTAssertEqual(Double(probs[5]), exp(-53.66), accuracy: 1e-6 * exp(-53.66))
        XCTAssertEqual(Double(mean), losses.map(Double.init).reduce(0, +) / 6, accuracy: 1e-6)
    }

    func testSoftmaxCCEIsLogSumExpMinusTheTrueLogit() {
        let logits: [Float] = [1, 2, 3, -1000, 0, 1000]
        let labels: [Int32] = [0, 2]
        var probs = [Float](repeating: 0, count: 6), losses = [Float](repeating: 0, count: 2)
        softmax_cce_forward(&probs, &losses, logits, labels, B: 2, C: 3)
        let lse = log(exp(1.0) + exp(2.0) + exp(3.0))
        XCTAssertEqual(Double(losses[0]), lse - 1, accuracy: 1e-6)
        XCTAssertEqual(Double(probs[2]), exp(3 - lse), accuracy: 1e-6)
        XCTAssertEqual(losses[1], 0, accuracy: 1e-6)  // no overflow for ±1000
        XCTAssertEqual(probs[5], 1, accuracy: 1e-7)
        var d = [Float](repeating: 0, count: 6)
        softmax_cce_backward(&d, probs, labels, B: 2, C: 3)
        XCTAssertEqual(d[0], (probs[0] - 1) / 2, accuracy: 1e-7)
        XCTAssertEqual(d[1], probs[1] / 2, accuracy: 1e-7)
    }

    func testRMSpropMatchesKeras3UpdateRuleWithEpsilonInsideTheRoot() {
        var w: [Float] = [0, -2, 0.5]
        var v: [Float] = [0, 0.04, 1e-12]
        let g: [Float] = [0.1, -0.3, 0]
        rmsprop_update(&w, &v, g, N: 3, lr: 1e-3, rho: 0.9, oneMinusRho: 0.1, eps: 1e-7)
        // v = 0.9 v + 0.1 g²; w -= lr g / sqrt(v + 1e-7), computed in float64 here.
        let v0 = 0.1 * 0.01, v1 = 0.9 * 0.04 + 0.1 * 0.09
        XCTAssertEqual(Double(v[0]), v0, accuracy: 1e-6 * v0)  // float32 rounding
        XCTAssertEqual(Double(v[1]), v1, accuracy: 1e-6 * v1)
        XCTAssertEqual(Double(w[0]), -1e-3 * 0.1 / (v0 + 1e-7).squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(Double(w[1]), -2 + 1e-3 * 0.3 / (v1 + 1e-7).squareRoot(), accuracy: 1e-7)
        XCTAssertEqual(w[2], 0.5)  // zero gradient: no movement
        // The first step from v = 0 moves by lr·g/sqrt(0.1 g² + ε) ≈ lr·√10, not lr·g/(√v + ε).
        XCTAssertEqual(Double(-w[0]), 1e-3 * 10.0.squareRoot(), accuracy: 1e-6)
    }

    func testOneMinusRhoIsKerasFloat32OfThePythonDifference() {
        XCTAssertEqual(RMSpropConfig().oneMinusRho32, Float(0.09999999999999998))
        XCTAssertEqual(RMSpropConfig().rho32, Float(0.9))
        XCTAssertEqual(RMSpropConfig().eps32, Float(1e-7))
    }

    func testDropoutKeepsUnitsWithProbabilityOneMinusPAndScalesThemByItsInverse() {
        let n = 200_000, p: Float = 0.3
        var mask = [Float](repeating: -1, count: n)
        var rng = SplitMix64(key: 42)
        dropout_mask(&mask, N: n, p: p, rng: &rng)
        let kept = mask.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { $0 == 1 / (1 - p) }, "kept units are scaled by 1/(1-p)")
        XCTAssertTrue(mask.allSatisfy { $0 == 0 || $0 == 1 / (1 - p) })
        // Binomial(200000, 0.7): sd ≈ 205 → 5 sd ≈ 0.005 in the fraction.
        XCTAssertEqual(Double(kept.count) / Double(n), 0.7, accuracy: 0.005)
        let x = [Float](repeating: 2, count: n)
        var out = [Float](repeating: 0, count: n)
        dropout_forward(&out, x, mask, N: n)
        // Inverted dropout preserves the expectation: mean ≈ 2.
        XCTAssertEqual(Double(out.reduce(0, +)) / Double(n), 2, accuracy: 0.02)
        var dinp = [Float](repeating: 0, count: n)
        dropout_backward(&dinp, [Float](repeating: 1, count: n), mask, N: n)
        XCTAssertEqual(dinp, mask)
    }

    func testDropoutMasksAreDeterministicPerStreamAndDifferAcrossStreams() {
        func mask(_ key: UInt64) -> [Float] {
            var m = [Float](repeating: 0, count: 1000)
            var rng = SplitMix64(key: key)
            dropout_mask(&m, N: 1000, p: 0.5, rng: &rng)
            return m
        }
        XCTAssertEqual(mask(7), mask(7))
        XCTAssertNotEqual(mask(7), mask(8))
    }

    func testDropoutIsIdentityAtInference() throws {
        let c = HeadConfig(featureCount: 20, hidden: 16, classes: 2, dropout: 0.5)
        let withDropout = try Head(config: c, seed: 1)
        let without = try Head(config: HeadConfig(featureCount: 20, hidden: 16, classes: 2), seed: 1)
        let x = syntheticFeatures(seed: 1, count: 6, featureCount: 20)
        let a = x.withUnsafeBufferPointer { HeadPredictor(head: withDropout).predict(features: $0.baseAddress!, count: 6) }
        let b = x.withUnsafeBufferPointer { HeadPredictor(head: without).predict(features: $0.baseAddress!, count: 6) }
        XCTAssertEqual(a, b)
    }

    func testSplitMix64MatchesThePublishedSequence() {
        // SplitMix64 from state 0 (reference values of the published algorithm).
        var rng = SplitMix64(key: 0)
        XCTAssertEqual(rng.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(rng.next(), 0x6E78_9E6A_A1B9_65F4)
        XCTAssertEqual(rng.next(), 0x06C4_5D18_8009_454F)
    }

    func testGlorotUniformStaysWithinTheKerasLimitAndUsesTheRange() throws {
        let head = try Head(config: HeadConfig(featureCount: 300, hidden: 100, classes: 2), seed: 9)
        let limit = Float((6.0 / 400.0).squareRoot())
        XCTAssertTrue(head.kernel1.allSatisfy { abs($0) <= limit })
        XCTAssertGreaterThan(head.kernel1.max()!, 0.99 * limit)
        XCTAssertLessThan(head.kernel1.min()!, -0.99 * limit)
        XCTAssertTrue(head.bias1.allSatisfy { $0 == 0 })
        XCTAssertTrue(head.bias2.allSatisfy { $0 == 0 })
        XCTAssertEqual(head.kernel1, try Head(config: head.config, seed: 9).kernel1)
        XCTAssertNotEqual(head.kernel1, try Head(config: head.config, seed: 10).kernel1)
    }

    func testALargeKernelDrawnOnTwoThreadsIsTheSequentialStream() throws {
        let (fanIn, fanOut) = (2049, 1024)  // over 2²⁰ weights: drawn in two halves
        let w = UnsafeMutablePointer<Float>.allocate(capacity: fanIn * fanOut)
        defer { w.deallocate() }
        Head.glorotUniform(w, fanIn: fanIn, fanOut: fanOut, key: 77)
        let limit = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
        var rng = SplitMix64(key: 77)
        for i in 0..<(fanIn * fanOut) {
            let expected = (2 * rng.nextUniform() - 1) * limit
            if w[i] != expected { return XCTFail("weight \(i): \(w[i]), the sequential stream gives \(expected)") }
        }
    }
}
