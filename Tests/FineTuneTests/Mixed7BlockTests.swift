import Extract
@testable import FineTune
import Foundation
import Numerics
import XCTest

final class Mixed7BlockTests: XCTestCase {
    /// Committed photos (a horse, a human, a gray horse) in Tests/Fixtures/keras.
    let images = ["image0-horse-rgba.png", "image1-human-rgb-q90.jpg", "image2-horse-gray.png"].map { Fixtures.path("keras/\($0)") }

    func testForwardOnMixed6EqualsExtractsOwnMixed7() throws {
        func features(_ layer: CutLayer) throws -> [Float] {
            let settings = ExtractionSettings(layer: layer, size: 150, resize: .nearest, preprocess: .inception)
            return try FeatureExtractor(weights: seededWeights, settings: settings).features(paths: images)
        }
        let mixed6 = try features(.mixed6), mixed7 = try features(.mixed7)
        let block = try Mixed7Block(weights: seededWeights, capacity: images.count)
        XCTAssertEqual(mixed6.count, images.count * block.inputCount)
        var ours = [Float](repeating: .nan, count: mixed7.count)
        block.forward(input: mixed6, B: images.count, output: &ours)
        let scale = mixed7.map(abs).max()!
        var worst: Float = 0
        for i in ours.indices { worst = max(worst, abs(ours[i] - mixed7[i])) }
        XCTAssertGreaterThan(scale, 0)
        XCTAssertLessThanOrEqual(worst / scale, 1e-4, "max |block − Extract| = \(worst), largest mixed7 value \(scale)")
    }

    func testAUnitOfTheWrongShapeIsRefusedByItsIndex() {
        var units = seededMixed7Units
        units[2].kernelShape = [7, 1, 192, 192]  // unit 62 is mixed7's 1×7
        XCTAssertThrowsError(try Mixed7Block(units: units, capacity: 1)) { error in
            XCTAssertEqual(error as? FineTuneError, .wrongShape(unit: 62, what: "kernel", expected: [1, 7, 192, 192], found: [7, 1, 192, 192]))
            XCTAssertTrue("\(error)".contains("conv2d_bn unit 62"), "\(error)")
        }
        units = seededMixed7Units
        units[9].beta.removeLast()
        XCTAssertThrowsError(try Mixed7Block(units: units, capacity: 1)) { error in
            XCTAssertEqual(error as? FineTuneError, .wrongShape(unit: 69, what: "beta", expected: [192], found: [191]))
        }
    }

    func testWeightsWithoutMixed7AreRefused() {
        let short = InceptionV3Weights(units: Array(seededWeights.units[0..<65]), sha256: "", sourceName: "short")
        XCTAssertThrowsError(try Mixed7Block(weights: short, capacity: 1)) { error in
            XCTAssertEqual(error as? FineTuneError, .missingUnits(expected: 70, found: 65))
        }
    }

    func testUnitsGiveBackTheKernelsBetasAndUnchangedStatistics() throws {
        let block = try Mixed7Block(units: seededMixed7Units, capacity: 1)
        block.kernel(4)[5] += 1
        block.beta(7)[3] -= 2
        let units = block.units()
        for i in 0..<10 {
            let want = seededMixed7Units[i]
            XCTAssertEqual(units[i].kernelShape, want.kernelShape)
            XCTAssertEqual(units[i].movingMean, want.movingMean)
            XCTAssertEqual(units[i].movingVariance, want.movingVariance)
            var kernel = want.kernel, beta = want.beta
            if i == 4 { kernel[5] += 1 }
            if i == 7 { beta[3] -= 2 }
            XCTAssertEqual(units[i].kernel, kernel, "unit \(60 + i) kernel")
            XCTAssertEqual(units[i].beta, beta, "unit \(60 + i) beta")
        }
    }

    func testSplittingTheBatchOverThreadsChangesOnlyRounding() throws {
        let B = 3, H = 3, W = 2
        let one = try Mixed7Block(units: seededMixed7Units, capacity: B, height: H, width: W, threads: 1)
        let two = try Mixed7Block(units: seededMixed7Units, capacity: B, height: H, width: W, threads: 2)
        let input = uniforms(B * one.inputCount, seed: 50, 0, 2), r = uniforms(B * one.outputCount, seed: 51)
        var a = [Float](repeating: 0, count: r.count), b = a
        one.forward(input: input, B: B, output: &a)
        two.forward(input: input, B: B, output: &b)
        var forwardWorst: Float = 0
        for i in a.indices { forwardWorst = max(forwardWorst, abs(a[i] - b[i])) }
        // Different GEMM shapes take different OpenBLAS kernels (AVX2 or AVX-512 by host), so sums of 768 or more
        // products round differently: 1.3e-6 of the largest value measured on an AVX-512 host, 1e-5 allowed, as for
        // the gradients; a wrong sample or offset would differ by the values themselves.
        XCTAssertLessThanOrEqual(forwardWorst, 1e-5 * a.map(abs).max()!)
        one.backward(input: input, dOutput: r)
        two.backward(input: input, dOutput: r)
        var worst: Float = 0, largest: Float = 0
        for k in 0..<one.parameterCount {
            worst = max(worst, abs(one.gradients.pointer[k] - two.gradients.pointer[k]))
            largest = max(largest, abs(one.gradients.pointer[k]))
        }
        XCTAssertGreaterThan(largest, 0)
        XCTAssertLessThanOrEqual(worst, 1e-5 * largest)
    }

    /// ∂(Σ r·mixed7)/∂θ from `backward` against central differences for a sample of entries of every kernel and
    /// every beta, on a 2×3 grid (H and W general; small, so that few ReLUs lie near their kink) of mixed6-like (non-negative) inputs. With every ReLU's on/off
    /// pattern fixed, the output is linear in any one kernel entry or beta, so the difference is exact up to
    /// float32 rounding; an entry whose ±ε step flips a ReLU somewhere in the block is not a valid check and is
    /// skipped (most are not).
    func testGradientsOfEveryKernelAndBetaMatchFiniteDifferences() throws {
        let B = 1, H = 2, W = 3
        let block = try Mixed7Block(units: seededMixed7Units, capacity: B, height: H, width: W)
        let input = uniforms(B * block.inputCount, seed: 40, 0, 2)
        let r = uniforms(B * block.outputCount, seed: 41)
        var out = [Float](repeating: 0, count: r.count)
        func loss() -> Double {
            block.forward(input: input, B: B, output: &out)
            return dot(out, r)
        }
        func reluPattern() -> [Bool] {
            block.activations.flatMap { a in (0..<(B * H * W * 192)).map { a.pointer[$0] > 0 } }
        }
        _ = loss()
        let pattern = reluPattern()
        block.backward(input: input, dOutput: r)
        var largest: Float = 0
        for k in 0..<block.parameterCount { largest = max(largest, abs(block.gradients.pointer[k])) }
        var checked = 0, skipped = 0
        for i in 0..<10 {
            let n = seededMixed7Units[i].kernel.count
            var entries: [(UnsafeMutablePointer<Float>, Int, String)] = (0..<4).map { (block.kernel(i), (n * $0) / 4 + 7 * $0 + 1, "kernel") }
            entries += (0..<2).map { (block.beta(i), 50 * $0 + 3, "beta") }
            for (p, j, what) in entries {
                let analytic = Double(what == "kernel" ? block.kernelGradient(i)[j] : block.betaGradient(i)[j])
                let saved = p[j], eps: Float = 1e-2
                p[j] = saved + eps; let plus = loss(); let plusPattern = reluPattern()
                p[j] = saved - eps; let minus = loss(); let minusPattern = reluPattern()
                p[j] = saved
                guard plusPattern == pattern, minusPattern == pattern else { skipped += 1; continue }
                let numeric = (plus - minus) / (2 * Double(eps))
                XCTAssertLessThanOrEqual(abs(analytic - numeric), 5e-3 * max(abs(analytic), abs(numeric)) + 1e-4 * Double(largest),
                                         "unit \(60 + i) \(what)[\(j)]: backward \(analytic), finite differences \(numeric)")
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 40, "\(skipped) of 60 entries flipped a ReLU")
    }
}
