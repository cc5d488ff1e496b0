import Foundation
import KerasH5
import XCTest

/// The same weights always give the same bytes, so a weights file regenerated from a seed keeps its SHA-256
/// (heads and caches identify their base weights by it).
final class DeterminismTests: XCTestCase {
    func testWritingTheSameWeightsTwiceGivesIdenticalBytes() throws {
        let file = KerasWeightsFile(layers: [
            KerasLayer(name: "input_1", weights: []),
            KerasLayer(name: "conv2d_1", weights: [KerasWeight(name: "conv2d_1/kernel", shape: [3, 3, 3, 4], values: (0..<108).map(Float.init))]),
            KerasLayer(name: "batch_normalization_1", weights: [
                KerasWeight(name: "batch_normalization_1/beta", shape: [4], values: [1, 2, 3, 4])]),
        ], attributes: ["backend": "tensorflow", "keras_version": "2.1.5"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-h5-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        for style in [KerasStringStyle.fixedLength, .variableLength] {
            let a = dir.appendingPathComponent("a.h5").path, b = dir.appendingPathComponent("b.h5").path
            try file.write(to: a, style: style)
            Thread.sleep(forTimeInterval: 1.1)  // HDF5 timestamps have a resolution of one second
            try file.write(to: b, style: style)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: a)), try Data(contentsOf: URL(fileURLWithPath: b)), "\(style)")
            XCTAssertEqual(try KerasWeightsFile.read(path: b), file.withStoredNames(style))
        }
    }
}

extension KerasWeightsFile {
    /// What reading back gives: the weight names as the style stores them.
    func withStoredNames(_ style: KerasStringStyle) -> KerasWeightsFile {
        var copy = self
        for i in copy.layers.indices {
            for j in copy.layers[i].weights.indices where style == .fixedLength {
                copy.layers[i].weights[j].name += ":0"
            }
        }
        return copy
    }
}
