import Extract
import Foundation
import KerasH5
import Numerics
import XCTest

/// headstart's InceptionV3 against Keras, on weights generated from seed 7 (docs/seeded-weights.md) and three
/// real images. Fixtures: Tests/Fixtures/keras, made by Tools/keras-reference/make_parity_fixtures.py with
/// TensorFlow 2.21 / Keras 3.15 (versions in manifest.json).
final class KerasParityTests: XCTestCase {
    static let seed: UInt64 = 7

    /// The seeded weights file in the classic notop layout, rebuilt from the seed plus the committed calibrated
    /// BatchNorm parameters, written once per test run.
    static let weightsPath: String = {
        let bn = try! Fixtures.floats("keras/bn-params.npy")
        let units = SeededWeights.generate(seed: seed, batchNorm: bn)
        let dir = try! Fixtures.temporaryDirectory()
        let path = dir.appendingPathComponent("seeded-notop.h5").path
        try! BaseWeights.kerasFile(units: units).write(to: path, style: .fixedLength)
        return path
    }()

    func testLayerOrderIsKerasModelLayersOrder() throws {
        let keras = (try Fixtures.json("keras/model-layers.json")["layers"] as! [[String: Any]]).map { $0["name"] as! String }
        let ours = KerasOrder.layers().map(\.name)
        XCTAssertEqual(ours.count, 311)
        XCTAssertEqual(ours, keras)
    }

    func testSeededKernelsAndBetasAreBitIdenticalToTheKerasScript() throws {
        let table = try Fixtures.json("keras/kernels.json")
        let shapes = SeededWeights.kernelShapes
        let convOrder = SeededWeights.fileOrderOfConv
        for entry in table["convolutions"] as! [[String: Any]] {
            let c = entry["c"] as! Int
            let call = convOrder.firstIndex(of: c)!
            XCTAssertEqual(shapes[call], entry["shape"] as! [Int], "conv \(c) shape")
            let kernel = SeededWeights.kernel(seed: Self.seed, conv: c, shape: shapes[call])
            let sha = kernel.withUnsafeBytes { SHA256Hasher.digest($0).hex }
            XCTAssertEqual(sha, entry["sha256"] as! String, "conv \(c) (\(entry["name"]!)) kernel bytes")
        }
        let bnOrder = SeededWeights.fileOrderOfBatchNorm
        for entry in table["batch_normalizations"] as! [[String: Any]] {
            let b = entry["b"] as! Int
            let beta = SeededWeights.beta(seed: Self.seed, bn: b, count: entry["channels"] as! Int)
            XCTAssertEqual(beta.withUnsafeBytes { SHA256Hasher.digest($0).hex }, entry["beta_sha256"] as! String, "BN \(b) beta")
            XCTAssertEqual(shapes[bnOrder.firstIndex(of: b)!][3], entry["channels"] as! Int, "BN \(b) follows its convolution")
        }
    }

    func testCalibrationImagesAreBitIdenticalToTheKerasScript() throws {
        let table = try Fixtures.json("keras/kernels.json")
        let images = SeededWeights.calibrationImages(seed: Self.seed)
        XCTAssertEqual(images.withUnsafeBytes { SHA256Hasher.digest($0).hex }, table["calibration_images_sha256"] as! String)
    }

    func testSwiftCalibrationLandsOnKerasCalibration() throws {
        let keras = try Fixtures.floats("keras/bn-params.npy")
        let ours = SeededWeights.generate(seed: Self.seed)
        let reference = SeededWeights.generate(seed: Self.seed, batchNorm: keras)
        for (call, (a, b)) in zip(ours, reference).enumerated() {
            assertClose(a.movingMean, b.movingMean, relativeTo: 1e-3, "conv2d_bn call \(call) moving_mean")
            assertClose(a.movingVariance, b.movingVariance, relativeTo: 1e-3, "conv2d_bn call \(call) moving_variance")
            XCTAssertEqual(a.beta, b.beta, "conv2d_bn call \(call) beta")
        }
    }

    func mixed7(for input: [Float], cut: CutLayer = .mixed7, size: Int = 150) throws -> [Float] {
        let weights = try BaseWeights.load(path: Self.weightsPath, cut: cut)
        let net = try Network(weights: weights, cut: cut, height: size, width: size)
        var out = [Float](repeating: .nan, count: net.outputShape.reduce(1, *))
        net.forward(input, batch: 1, into: &out)
        return out
    }

    func testMixed7MatchesKerasOnThreeRealImages() throws {
        for k in 0..<3 {
            let input = try Fixtures.floats("keras/input\(k).npy")
            let keras = try Fixtures.floats("keras/mixed7-\(k).npy")
            assertClose(try mixed7(for: input), keras, relativeTo: 1e-4, "mixed7 of image \(k)")
        }
    }

    func testEveryCutMatchesKerasSummaries() throws {
        let input = try Fixtures.floats("keras/input0.npy")
        let cuts = try Fixtures.json("keras/summaries.json")["cuts_input150_nearest_rescale"] as! [String: [String: Any]]
        for cut in CutLayer.allCases {
            let expected = cuts[cut.rawValue]!
            let weights = try BaseWeights.load(path: Self.weightsPath, cut: cut)
            let net = try Network(weights: weights, cut: cut)
            XCTAssertEqual(net.outputShape, expected["shape"] as! [Int], cut.rawValue)
            var out = [Float](repeating: .nan, count: net.outputShape.reduce(1, *))
            net.forward(input, batch: 1, into: &out)
            let indices = expected["sample_indices"] as! [Int]
            let values = (expected["sample_values"] as! [Double]).map(Float.init)
            let maxAbs = Float(max(abs(expected["max"] as! Double), abs(expected["min"] as! Double)))
            for (i, v) in zip(indices, values) {
                XCTAssertEqual(out[i], v, accuracy: 1e-4 * maxAbs, "\(cut.rawValue)[\(i)]")
            }
            let mean = out.reduce(0.0) { $0 + Double($1) } / Double(out.count)
            XCTAssertEqual(mean, expected["mean"] as! Double, accuracy: 1e-5 * Double(maxAbs), "\(cut.rawValue) mean")
            XCTAssertEqual(Double(out.max()!), expected["max"] as! Double, accuracy: 1e-4 * Double(maxAbs), "\(cut.rawValue) max")
        }
    }
}
