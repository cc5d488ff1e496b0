@testable import KerasH5
import XCTest

/// The writer: what it writes reads back unchanged, and its files have the exact layout Keras writes
/// (compared object by object and attribute by attribute with the Keras-written fixtures).
final class WriteTests: XCTestCase {
    func fixture(_ name: String) throws -> KerasWeightsFile {
        try KerasWeightsFile.read(path: Fixtures.path(name))
    }

    func write(_ file: KerasWeightsFile, _ style: KerasStringStyle, limit: Int = 64512) throws -> String {
        let path = try temporaryDirectory(self).appendingPathComponent("out.h5").path
        try file.write(to: path, style: style, attributeSizeLimit: limit)
        return path
    }

    /// Renames each weight as `rename` does, keeping everything else.
    func renamingWeights(_ file: KerasWeightsFile, _ rename: (String) -> String) -> KerasWeightsFile {
        KerasWeightsFile(layers: file.layers.map { layer in
            KerasLayer(name: layer.name, weights: layer.weights.map {
                KerasWeight(name: rename($0.name), shape: $0.shape, values: $0.values)
            })
        }, attributes: file.attributes)
    }

    func testClassicWriteAppendsColonZeroAndKeepsEveryValueBitForBit() throws {
        let keras3 = try fixture("keras3_weights.h5")
        let back = try KerasWeightsFile.read(path: try write(keras3, .fixedLength))
        XCTAssertEqual(back, renamingWeights(keras3) { $0 + ":0" })
    }

    func testKeras3WriteDropsColonZeroAndKeepsEveryValueBitForBit() throws {
        let classic = try fixture("classic_weights.h5")
        let back = try KerasWeightsFile.read(path: try write(classic, .variableLength))
        XCTAssertEqual(back, renamingWeights(classic) { String($0.dropLast(2)) })
    }

    func testRoundTripInTheSameStyleIsIdentity() throws {
        let classic = try fixture("classic_weights.h5")
        XCTAssertEqual(try KerasWeightsFile.read(path: try write(classic, .fixedLength)), classic)
        let keras3 = try fixture("keras3_weights.h5")
        XCTAssertEqual(try KerasWeightsFile.read(path: try write(keras3, .variableLength)), keras3)
    }

    func testVariableLengthStyleReproducesKeras3LayoutExactly() throws {
        let path = try write(try fixture("keras3_weights.h5"), .variableLength)
        XCTAssertEqual(try hdf5Layout(path: path), try hdf5Layout(path: Fixtures.path("keras3_weights.h5")))
    }

    func testFixedLengthStyleReproducesClassicLayoutExactly() throws {
        let path = try write(try fixture("classic_weights.h5"), .fixedLength)
        XCTAssertEqual(try hdf5Layout(path: path), try hdf5Layout(path: Fixtures.path("classic_weights.h5")))
    }

    func testSplitsAttributesExactlyAsKerasDoesUnderTheSameLimit() throws {
        // keras3_split.h5 was written by Keras with HDF5_OBJECT_HEADER_LIMIT = 40.
        let path = try write(try fixture("keras3_split.h5"), .variableLength, limit: 40)
        XCTAssertEqual(try hdf5Layout(path: path), try hdf5Layout(path: Fixtures.path("keras3_split.h5")))
    }

    func testArraySplitGivesTheFirstChunksOneExtraItemLikeNumpy() {
        XCTAssertEqual(arraySplit(Array(0..<10), into: 3), [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]])
        XCTAssertEqual(arraySplit(Array(0..<2), into: 1), [[0, 1]])
    }

    func testChunkCountIsTheSmallestWhoseLargestChunkFitsTheLimit() throws {
        // 5 names of 4 bytes: 20 bytes unsplit; limit 12 allows 3 names per chunk -> n = 2 (3 + 2 names).
        let names = ["aaaa", "bbbb", "cccc", "dddd", "eeee"]
        XCTAssertEqual(try kerasAttributeChunks(names, limit: 20).chunks.count, 1)
        let split = try kerasAttributeChunks(names, limit: 12)
        XCTAssertEqual(split.chunks, [["aaaa", "bbbb", "cccc"], ["dddd", "eeee"]])
        XCTAssertEqual(split.itemSize, 4)
        XCTAssertThrowsError(try kerasAttributeChunks(names, limit: 3), "a single name above the limit")
    }

    func testRefusesWeightWhoseValueCountDoesNotMatchItsShape() throws {
        let file = KerasWeightsFile(layers: [KerasLayer(name: "dense", weights: [
            KerasWeight(name: "dense/kernel", shape: [2, 3], values: [1, 2, 3]),
        ])], attributes: [:])
        XCTAssertThrowsError(try write(file, .variableLength)) { error in
            XCTAssertEqual((error as? KerasH5Error)?.layer, "dense")
            XCTAssertEqual((error as? KerasH5Error)?.reason, "weight 'dense/kernel' has shape [2, 3] but 3 values")
        }
    }

    func testRefusesDuplicateLayerNames() throws {
        let file = KerasWeightsFile(layers: [KerasLayer(name: "a", weights: []), KerasLayer(name: "a", weights: [])],
                                    attributes: [:])
        XCTAssertThrowsError(try write(file, .fixedLength)) { error in
            XCTAssertEqual((error as? KerasH5Error)?.description.hasSuffix("layer 'a': layer name appears twice"), true)
        }
    }

    func testWriteFailingHalfwayLeavesNoFileBehind() throws {
        // "dense/kernel" is a dataset, so HDF5 cannot create "dense/kernel/extra" beneath it: the write fails
        // after layer_names and the first dataset are already in the file.
        let dir = try temporaryDirectory(self)
        let path = dir.appendingPathComponent("out.h5").path
        let file = KerasWeightsFile(layers: [KerasLayer(name: "dense", weights: [
            KerasWeight(name: "dense/kernel", shape: [1], values: [1]),
            KerasWeight(name: "dense/kernel/extra", shape: [1], values: [2]),
        ])], attributes: [:])
        XCTAssertThrowsError(try file.write(to: path, style: .variableLength)) { error in
            XCTAssertEqual((error as? KerasH5Error)?.layer, "dense")
            XCTAssertTrue((error as? KerasH5Error)?.reason.hasPrefix("cannot create dataset 'dense/kernel/extra'") == true,
                          "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testUnwritableDirectoryGivesCannotCreate() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("missing-dir/out.h5").path
        XCTAssertThrowsError(try fixture("classic_weights.h5").write(to: path, style: .fixedLength)) { error in
            XCTAssertTrue((error as? KerasH5Error)?.reason.hasPrefix("cannot create the file") == true, "\(error)")
        }
    }

    func testOverwritesAnExistingFile() throws {
        let path = try write(try fixture("classic_weights.h5"), .fixedLength)
        let small = KerasWeightsFile(layers: [KerasLayer(name: "only", weights: [])], attributes: ["backend": "x"])
        try small.write(to: path, style: .fixedLength)
        XCTAssertEqual(try KerasWeightsFile.read(path: path), small)
    }

    func testScalarAndLargeWeightsRoundTrip() throws {
        // A scalar (shape []) and a mixed7-sized 3x3x192x384 kernel (663,552 floats, 2.6 MB).
        let count = 3 * 3 * 192 * 384
        let kernel = (0..<count).map { Float($0 % 1009) * 0.001 - 0.5 }
        let file = KerasWeightsFile(layers: [
            KerasLayer(name: "input_1", weights: []),
            KerasLayer(name: "conv2d_70", weights: [KerasWeight(name: "conv2d_70/kernel", shape: [3, 3, 192, 384],
                                                                values: kernel)]),
            KerasLayer(name: "counter", weights: [KerasWeight(name: "counter/count", shape: [], values: [42])]),
        ], attributes: ["backend": "tensorflow", "keras_version": "3.15.1"])
        XCTAssertEqual(try KerasWeightsFile.read(path: try write(file, .variableLength)), file)
    }
}
