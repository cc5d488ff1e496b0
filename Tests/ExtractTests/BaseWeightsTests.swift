import Extract
import Foundation
import KerasH5
import XCTest

/// A weights file that does not fit InceptionV3 is refused with the layer that does not fit and both shapes.
final class BaseWeightsTests: XCTestCase {
    /// Zero-valued units with the real shapes: the checks concern structure, not values.
    static let file: KerasWeightsFile = BaseWeights.kerasFile(units: SeededWeights.kernelShapes.map { s in
        ConvBNParameters(kernel: [Float](repeating: 0, count: s.reduce(1, *)), kernelShape: s,
                         beta: [Float](repeating: 0, count: s[3]), movingMean: [Float](repeating: 0, count: s[3]),
                         movingVariance: [Float](repeating: 1, count: s[3]))
    })

    func match(_ f: KerasWeightsFile, cut: CutLayer = .mixed7) throws -> InceptionV3Weights {
        try BaseWeights.match(f, path: "w.h5", sha256: "", sourceName: "w.h5", cut: cut)
    }

    func testTheNotopLayoutBindsEveryCut() throws {
        XCTAssertEqual(Self.file.layersWithWeights.count, 188)
        XCTAssertEqual(try match(Self.file, cut: .mixed7).units.count, 70)
        XCTAssertEqual(try match(Self.file, cut: .mixed10).units.count, 94)
    }

    func testAFileWithAClassificationTopIsRefused() {
        var f = Self.file
        f.layers.append(KerasLayer(name: "predictions", weights: [
            KerasWeight(name: "predictions/kernel", shape: [2048, 1000], values: []),
            KerasWeight(name: "predictions/bias", shape: [1000], values: [])]))
        XCTAssertThrowsError(try match(f)) { error in
            XCTAssertEqual("\(error)", "w.h5: layer 'predictions': the file has 189 layers with weights, InceptionV3 without its top has 188; "
                + "layer 189 (predictions/kernel (2048, 1000), predictions/bias (1000,)) is a classification top: use the notop weights file "
                + "(inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5)")
        }
    }

    func testATruncatedFileIsRefusedWithTheCountItNeeds() {
        var f = Self.file
        let keep = f.layers.firstIndex { $0.name == "mixed4" }!
        f.layers = Array(f.layers.prefix(keep))
        XCTAssertThrowsError(try match(f)) { error in
            XCTAssertEqual("\(error)", "w.h5: the file has 80 layers with weights, mixed7 needs the first 140 of InceptionV3's 188 "
                + "(a truncated file, or not InceptionV3 weights)")
        }
        XCTAssertEqual(try match(f, cut: .mixed3).units.count, 30, "the same file serves a cut it covers")
    }

    func testAKernelOfTheWrongShapeNamesTheLayerAndBothShapes() {
        var f = Self.file
        let i = f.layers.firstIndex { $0.name == "conv2d_5" }!
        f.layers[i].weights[0].shape = [3, 3, 80, 191]
        XCTAssertThrowsError(try match(f)) { error in
            XCTAssertEqual("\(error)", "w.h5: layer 'conv2d_5': weighted layer 9 of 188 should be Conv2D 'conv2d_5' with one kernel "
                + "(3, 3, 80, 192), found conv2d_5/kernel (3, 3, 80, 191)")
        }
    }

    func testLayersOutOfModelOrderAreRefused() {
        // Keras orders mixed0 as branch3x3dbl_1 (conv2d_9) before branch5x5_1 (conv2d_7); a file in conv2d_bn call
        // order puts a (1, 1, 192, 48) kernel where a (1, 1, 192, 64) one belongs.
        var f = Self.file
        let a = f.layers.firstIndex { $0.name == "conv2d_7" }!, b = f.layers.firstIndex { $0.name == "conv2d_9" }!
        f.layers.swapAt(a, b)
        XCTAssertThrowsError(try match(f)) { error in
            XCTAssertTrue("\(error)".hasPrefix("w.h5: layer 'conv2d_7': weighted layer "), "\(error)")
            XCTAssertTrue("\(error)".hasSuffix("should be Conv2D 'conv2d_9' with one kernel (1, 1, 192, 64), found conv2d_7/kernel (1, 1, 192, 48)"), "\(error)")
        }
    }

    func testABatchNormWithGammaIsRefused() {
        var f = Self.file
        let i = f.layers.firstIndex { $0.name == "batch_normalization_1" }!
        f.layers[i].weights.insert(KerasWeight(name: "batch_normalization_1/gamma", shape: [32], values: []), at: 0)
        XCTAssertThrowsError(try match(f)) { error in
            XCTAssertEqual("\(error)", "w.h5: layer 'batch_normalization_1': weighted layer 2 of 188 should be BatchNormalization(scale=False) "
                + "'batch_normalization_1' with beta, moving_mean, moving_variance of shape (32,), found batch_normalization_1/gamma (32,), "
                + "batch_normalization_1/beta (32,), batch_normalization_1/moving_mean (32,), batch_normalization_1/moving_variance (32,)")
        }
    }

    func testANonHDF5FileIsRefusedByName() throws {
        let dir = try Fixtures.temporaryDirectory()
        let path = dir.appendingPathComponent("weights.h5").path
        try "not weights".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BaseWeights.load(path: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix(path), "\(error)")
            XCTAssertTrue("\(error)".contains("HDF5"), "\(error)")
        }
    }
}
