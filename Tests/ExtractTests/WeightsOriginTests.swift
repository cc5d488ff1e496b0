import Extract
import Foundation
import KerasH5
import XCTest

/// Where a weights file comes from: Keras's ImageNet file by its published MD5, headstart's seeded files by their
/// stamp, anything else as other weights; the recorded word reads back as the same origin.
final class WeightsOriginTests: XCTestCase {
    func temporaryFile(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-origin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent(name).path
    }

    func testKerassPublishedMD5IsTheImageNetFileWhateverItsAttributes() {
        XCTAssertEqual(WeightsOrigin.classify(md5: "bcbd6486424b2319ff4ef7d526e38f63", attributes: [:]), .kerasImageNet)
        XCTAssertEqual(WeightsOrigin.classify(md5: "BCBD6486424B2319FF4EF7D526E38F63", attributes: ["keras_version": "2.1.5"]),
                       .kerasImageNet)
    }

    func testAStampedFileIsSeededWithItsSeedAndGeneratorVersion() {
        let origin = WeightsOrigin.classify(md5: String(repeating: "0", count: 32),
                                            attributes: [WeightsOrigin.seededStampAttribute: "seed=7 generator=1"])
        XCTAssertEqual(origin, .seeded(seed: 7, generatorVersion: 1))
        XCTAssertEqual(origin.warning, "seeded weights (seed 7), not Keras's ImageNet weights: accuracy means nothing")
    }

    func testAnUnstampedFileWithAnotherMD5IsOtherWeightsAndSaysSo() {
        let origin = WeightsOrigin.classify(md5: String(repeating: "0", count: 32), attributes: ["headstart_seeded_weights": "garbled"])
        XCTAssertEqual(origin, .other)
        XCTAssertTrue(origin.warning?.contains("not Keras's ImageNet weights") ?? false)
    }

    func testOnlyKerassFileHasNoWarning() {
        XCTAssertNil(WeightsOrigin.kerasImageNet.warning)
        for o in [WeightsOrigin.seeded(seed: 1, generatorVersion: 1), .other, .unrecorded] { XCTAssertNotNil(o.warning, "\(o)") }
    }

    func testTheRecordedWordReadsBackAsTheSameOrigin() {
        for o in [WeightsOrigin.kerasImageNet, .seeded(seed: 18_446_744_073_709_551_615, generatorVersion: 3), .other, .unrecorded] {
            XCTAssertEqual(WeightsOrigin(recorded: o.recorded), o, o.recorded)
        }
        XCTAssertEqual(WeightsOrigin(recorded: nil), .unrecorded)
        XCTAssertEqual(WeightsOrigin(recorded: "from the future"), .unrecorded)
    }

    func testLoadingAStampedFileReadsItsStampBack() throws {
        var file = BaseWeightsTests.file
        file.attributes[WeightsOrigin.seededStampAttribute] = WeightsOrigin.stamp(seed: 42, generatorVersion: 1)
        let path = try temporaryFile("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
        try file.write(to: path, style: .fixedLength)
        XCTAssertEqual(try BaseWeights.loadClassified(path: path).origin, .seeded(seed: 42, generatorVersion: 1))
    }

    func testLoadingAnUnstampedFileUnderTheRealNameGivesOtherWeights() throws {
        let path = try temporaryFile("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
        try BaseWeightsTests.file.write(to: path, style: .fixedLength)
        XCTAssertEqual(try BaseWeights.loadClassified(path: path).origin, .other)
    }
}
