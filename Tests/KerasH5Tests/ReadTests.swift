import KerasH5
import XCTest

/// Reading the fixtures Keras 3 and h5py wrote (see Tools/keras-reference/make_h5_fixtures.py): every
/// layer in order, weight names as stored, shapes, and values equal to what the script recorded.
final class ReadTests: XCTestCase {
    enum NameStyle { case classic, keras3 }

    /// Names, order and shapes exactly; first three and last values exactly (float32 recorded through
    /// float64 JSON is exact); the float64 sum of all values to 1e-6 absolute.
    func assertMatchesExpected(_ file: KerasWeightsFile, _ style: NameStyle, line: UInt = #line) {
        let expected = Fixtures.expected.layers
        XCTAssertEqual(file.layers.map(\.name), expected.map(\.name), line: line)
        for (layer, want) in zip(file.layers, expected) {
            XCTAssertEqual(layer.weights.map(\.name),
                           want.weights.map { "\(want.name)/\($0.name)" + (style == .classic ? ":0" : "") },
                           "layer \(layer.name)", line: line)
            for (weight, w) in zip(layer.weights, want.weights) {
                XCTAssertEqual(weight.shape, w.shape, weight.name, line: line)
                XCTAssertEqual(weight.values.count, w.shape.reduce(1, *), weight.name, line: line)
                XCTAssertEqual(Array(weight.values.prefix(3)), w.first, weight.name, line: line)
                XCTAssertEqual(weight.values.last, w.last, weight.name, line: line)
                XCTAssertEqual(weight.values.reduce(0.0) { $0 + Double($1) }, w.sum, accuracy: 1e-6, weight.name,
                               line: line)
            }
        }
    }

    func testReadsClassicFixedLengthLayoutWithColonZeroNames() throws {
        let file = try KerasWeightsFile.read(path: Fixtures.path("classic_weights.h5"))
        assertMatchesExpected(file, .classic)
        XCTAssertEqual(file.attributes, ["backend": "tensorflow", "keras_version": "2.1.5"])
    }

    func testReadsKeras3LegacyWeightsWithVariableLengthStrings() throws {
        let file = try KerasWeightsFile.read(path: Fixtures.path("keras3_weights.h5"))
        assertMatchesExpected(file, .keras3)
        XCTAssertEqual(file.attributes["backend"], "tensorflow")
        XCTAssertEqual(file.attributes["keras_version"], Fixtures.expected.versions["keras"])
    }

    func testReadsFullModelSaveFromModelWeightsGroup() throws {
        let file = try KerasWeightsFile.read(path: Fixtures.path("keras3_full_model.h5"))
        assertMatchesExpected(file, .keras3)
        // The weights group's attributes only, not the root's model_config.
        XCTAssertEqual(Set(file.attributes.keys), ["backend", "keras_version"])
    }

    func testReadsLayerNamesAndWeightNamesSplitIntoNumberedChunks() throws {
        let file = try KerasWeightsFile.read(path: Fixtures.path("keras3_split.h5"))
        assertMatchesExpected(file, .keras3)
    }

    func testSplitAndUnsplitFilesHoldTheSameContent() throws {
        let split = try KerasWeightsFile.read(path: Fixtures.path("keras3_split.h5"))
        let whole = try KerasWeightsFile.read(path: Fixtures.path("keras3_weights.h5"))
        XCTAssertEqual(split, whole)
    }

    func testConvertsFloat64DatasetsToTheSameFloatValues() throws {
        let float64 = try KerasWeightsFile.read(path: Fixtures.path("float64_weights.h5"))
        let float32 = try KerasWeightsFile.read(path: Fixtures.path("classic_weights.h5"))
        // The float64 datasets hold float32 values widened, so narrowing gives them back exactly.
        XCTAssertEqual(float64.layers, float32.layers)
    }

    func testLayersWithWeightsKeepsFileOrderAndDropsWeightlessLayers() throws {
        let file = try KerasWeightsFile.read(path: Fixtures.path("classic_weights.h5"))
        XCTAssertEqual(file.layers.count, 6)
        XCTAssertEqual(file.layersWithWeights.map(\.name), ["conv2d_1", "batch_normalization_1", "dense_1"])
        XCTAssertEqual(file.layers.first { $0.name == "activation_1" }?.weights, [])
    }

    func testBatchNormalizationWithoutScaleHasBetaMeanVarianceInKerasOrder() throws {
        let file = try KerasWeightsFile.read(path: Fixtures.path("classic_weights.h5"))
        let bn = try XCTUnwrap(file.layers.first { $0.name == "batch_normalization_1" })
        XCTAssertEqual(bn.weights.map(\.name), ["batch_normalization_1/beta:0", "batch_normalization_1/moving_mean:0",
                                                "batch_normalization_1/moving_variance:0"])
        XCTAssertTrue(bn.weights[2].values.allSatisfy { $0 > 0 }, "variances are positive")
    }
}
