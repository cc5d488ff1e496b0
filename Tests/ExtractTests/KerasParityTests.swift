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

    func mixed7(for input: [Float], cut: CutLayer = .mixed7, size: Int = 150, instructionSet: InstructionSet? = nil,
                winograd: Bool = true) throws -> [Float] {
        let weights = try BaseWeights.load(path: Self.weightsPath, cut: cut)
        let net = try Network(weights: weights, cut: cut, height: size, width: size, instructionSet: instructionSet, winograd: winograd)
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

    /// Every instruction set this machine runs (HEADSTART_ISA=avx2 on an AVX-512 host, say), with and without
    /// Winograd, stays at the same bound.
    func testMixed7MatchesKerasOnEveryInstructionSetWithAndWithoutWinograd() throws {
        let input = try Fixtures.floats("keras/input1.npy")
        let keras = try Fixtures.floats("keras/mixed7-1.npy")
        for isa in InstructionSet.supported {
            for winograd in [true, false] {
                assertClose(try mixed7(for: input, instructionSet: isa, winograd: winograd), keras, relativeTo: 1e-4,
                            "mixed7 on \(isa.rawValue)\(winograd ? " with Winograd" : " without Winograd")")
            }
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

    static let imageFiles = ["keras/image0-horse-rgba.png", "keras/image1-human-rgb-q90.jpg", "keras/image2-horse-gray.png"]

    func testPreprocessedInputIsBitIdenticalToKeras() throws {
        let extractor = try FeatureExtractor(weights: BaseWeights.load(path: Self.weightsPath), settings: ExtractionSettings())
        for (k, file) in Self.imageFiles.enumerated() {
            var input = [Float](repeating: .nan, count: extractor.inputCount)
            try input.withUnsafeMutableBufferPointer { _ = try extractor.prepare(path: Fixtures.path(file), into: $0, slot: 0) }
            let keras = try Fixtures.floats("keras/input\(k).npy")
            XCTAssertTrue(input == keras, "\(file): preprocessed input differs from Keras's in \(zip(input, keras).filter { $0 != $1 }.count) values")
        }
    }

    /// mixed7 at other input sizes, with inception preprocessing and with bilinear resizing, against Keras's
    /// summaries (shape, mean, extremes, 32 sampled values) and the SHA-256 of Keras's resized pixels.
    func testMixed7VariantsMatchKerasSummaries() throws {
        let variants = try Fixtures.json("keras/summaries.json")["variants"] as! [String: [String: Any]]
        let cases: [(String, ExtractionSettings)] = [
            ("mixed7_input75_nearest_rescale", ExtractionSettings(size: 75)),
            ("mixed7_input299_nearest_rescale", ExtractionSettings(size: 299)),
            ("mixed7_input150_nearest_inception", ExtractionSettings(preprocess: .inception)),
            ("mixed7_input150_bilinear_rescale", ExtractionSettings(resize: .bilinear)),
        ]
        let weights = try BaseWeights.load(path: Self.weightsPath)
        for (name, settings) in cases {
            let expected = variants[name]!
            let decoded = try ImageDecoder.load(path: Fixtures.path(Self.imageFiles[0]), height: settings.size,
                                                width: settings.size, method: settings.resize)
            XCTAssertEqual(decoded.image.pixels.withUnsafeBytes { SHA256Hasher.digest($0).hex },
                           expected["resized_pixels_sha256"] as! String, "\(name): resized pixels")
            let extractor = try FeatureExtractor(weights: weights, settings: settings)
            let out = try extractor.features(paths: [Fixtures.path(Self.imageFiles[0])])
            let summary = expected["output"] as! [String: Any]
            XCTAssertEqual(extractor.featureShape, summary["shape"] as! [Int], name)
            let maxAbs = Float(summary["max"] as! Double)
            for (i, v) in zip(summary["sample_indices"] as! [Int], summary["sample_values"] as! [Double]) {
                XCTAssertEqual(out[i], Float(v), accuracy: 1e-4 * maxAbs, "\(name)[\(i)]")
            }
            let mean = out.reduce(0.0) { $0 + Double($1) } / Double(out.count)
            XCTAssertEqual(mean, summary["mean"] as! Double, accuracy: 1e-5 * Double(maxAbs), "\(name) mean")
            XCTAssertEqual(out.max()!, maxAbs, accuracy: 1e-4 * maxAbs, "\(name) max")
        }
    }

    /// Real photos stored as TIFF (LZW), GIF (256 colours) and lossy WebP with alpha, through the book's input path
    /// (load_img to 150x150, x/255) to mixed7, against Keras on the same seeded weights
    /// (Tests/Fixtures/images/features, made by Tools/keras-reference/make_image_fixtures.py).
    func testTIFFGIFAndWebPPhotosGiveKerasMixed7() throws {
        let extractor = try FeatureExtractor(weights: BaseWeights.load(path: Self.weightsPath), settings: ExtractionSettings())
        for name in ["horse_photo.tif", "human_photo.gif", "horse_photo.webp"] {
            assertClose(try extractor.features(paths: [Fixtures.path("images/inputs/\(name)")]),
                        try Fixtures.floats("images/features/\(name).mixed7.npy"), relativeTo: 1e-4, "mixed7 of \(name)")
        }
    }

    /// The same horse photo read from the shared Horses-or-Humans folder, as a user would point headstart at it.
    func testARealHorsesOrHumansImageGivesKerasMixed7() throws {
        let root = try Fixtures.horsesOrHumans()
        let path = root.appendingPathComponent("train/horses/horse12-2.png").path
        let extractor = try FeatureExtractor(weights: BaseWeights.load(path: Self.weightsPath), settings: ExtractionSettings())
        assertClose(try extractor.features(paths: [path]), try Fixtures.floats("keras/mixed7-0.npy"), relativeTo: 1e-4,
                    "mixed7 of \(path)")
    }
}
