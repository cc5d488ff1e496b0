import XCTest
import Extract

/// The planned network (folded BatchNorm, fused 1×1 GEMMs, moved pool branches, in-place concatenation) must
/// compute what the plain node-by-node reference computes.
final class NetworkTests: XCTestCase {
    /// Seeded, calibrated weights are costly to make; every test here shares one set.
    static let units: [ConvBNParameters] = SeededWeights.generate(seed: 7)
    static let weights = InceptionV3Weights(units: units, sha256: "seeded-7", sourceName: "seed 7")

    func images(_ n: Int, _ h: Int, _ w: Int) -> [Float] {
        (0..<(n * h * w * 3)).map { i in
            let v = SeededWeights.bits(99, 77, i) >> 40
            return Float(v % 256) / 255
        }
    }

    func assertClose(_ ours: [Float], _ reference: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.count, reference.count, what, file: file, line: line)
        let scale = reference.map(abs).max() ?? 0
        let worst = zip(ours, reference).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(scale, 0, "\(what): reference is all zeros", file: file, line: line)
        XCTAssertLessThanOrEqual(worst, 1e-4 * scale, "\(what): max |ours − reference| = \(worst), max |reference| = \(scale)", file: file, line: line)
    }

    func run(_ cut: CutLayer, size: Int, batch: Int, threads: Int = 2) throws -> (ours: [Float], reference: [Float]) {
        let input = images(batch, size, size)
        let net = try Network(weights: Self.weights, cut: cut, height: size, width: size, threads: threads)
        var out = [Float](repeating: .nan, count: batch * net.outputShape.reduce(1, *))
        input.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: batch, into: &out) }
        var units = Self.units
        let ref = ReferenceNetwork.forward(input, batch: batch, height: size, width: size, cut: cut, weights: &units)
        return (out, ref)
    }

    func testEveryCutMatchesTheReferenceAtTheSmallestInput() throws {
        for cut in CutLayer.allCases {
            let (ours, ref) = try run(cut, size: 75, batch: 2)
            assertClose(ours, ref, "\(cut.rawValue) at 75×75")
        }
    }

    func testMixed7MatchesTheReferenceAt150WithOddBatchAndOneThread() throws {
        let (a, ref) = try run(.mixed7, size: 150, batch: 3, threads: 1)
        assertClose(a, ref, "mixed7, 1 thread")
        let (b, _) = try run(.mixed7, size: 150, batch: 3, threads: 2)
        XCTAssertTrue(a == b, "thread count changed results: max difference \(zip(a, b).map { abs($0 - $1) }.max()!)")
    }

    func testAnImagesFeaturesDoNotDependOnItsBatch() throws {
        let input = images(3, 150, 150)
        let net = try Network(weights: Self.weights, cut: .mixed7)
        let n = net.outputShape.reduce(1, *)
        var together = [Float](repeating: .nan, count: 3 * n)
        input.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: 3, into: &together) }
        var alone = [Float](repeating: .nan, count: n)
        input.withUnsafeBufferPointer { net.forward($0.baseAddress! + 2 * 150 * 150 * 3, batch: 1, into: &alone) }
        let third = Array(together[(2 * n)...])
        XCTAssertTrue(third == alone, "batch changed results: max difference \(zip(third, alone).map { abs($0 - $1) }.max()!)")
    }

    func testNonSquareInputMatchesTheReference() throws {
        let input = images(1, 97, 131)
        let net = try Network(weights: Self.weights, cut: .mixed5, height: 97, width: 131)
        var out = [Float](repeating: .nan, count: net.outputShape.reduce(1, *))
        input.withUnsafeBufferPointer { net.forward($0.baseAddress!, batch: 1, into: &out) }
        var units = Self.units
        let ref = ReferenceNetwork.forward(input, batch: 1, height: 97, width: 131, cut: .mixed5, weights: &units)
        assertClose(out, ref, "mixed5 at 97×131")
    }

    func testOutputShapesFollowKeras() throws {
        XCTAssertEqual(try Network(weights: Self.weights, cut: .mixed7, height: 150, width: 150).outputShape, [7, 7, 768])
        XCTAssertEqual(try Network(weights: Self.weights, cut: .mixed7, height: 299, width: 299).outputShape, [17, 17, 768])
        XCTAssertEqual(try Network(weights: Self.weights, cut: .mixed10, height: 299, width: 299).outputShape, [8, 8, 2048])
        XCTAssertEqual(try Network(weights: Self.weights, cut: .mixed0, height: 150, width: 150).outputShape, [16, 16, 256])
    }

    func testInputSmallerThan75IsRefused() {
        XCTAssertThrowsError(try Network(weights: Self.weights, cut: .mixed7, height: 74, width: 150)) { error in
            XCTAssertEqual("\(error)", "input size 74×150 is too small: InceptionV3 needs at least 75×75")
        }
    }

    func testWeightsWithTooFewUnitsAreRefused() {
        let short = InceptionV3Weights(units: Array(Self.units.prefix(69)), sha256: "", sourceName: "")
        XCTAssertThrowsError(try Network(weights: short, cut: .mixed7)) { error in
            XCTAssertEqual("\(error)", "mixed7 needs 70 conv2d_bn units, the weights have 69")
        }
    }

    func testDifferentImagesGiveClearlyDifferentFeatures() throws {
        let (out, _) = try run(.mixed7, size: 150, batch: 2)
        let n = out.count / 2
        let a = out[0..<n], b = out[n...]
        let diff = zip(a, b).map { abs($0 - $1) }.reduce(0, +) / Float(n)
        let mag = a.map(abs).reduce(0, +) / Float(n)
        XCTAssertGreaterThan(diff / mag, 0.1, "calibrated seeded weights must keep the image's signal")
    }
}
