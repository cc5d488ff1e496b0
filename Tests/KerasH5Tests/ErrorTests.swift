import KerasH5
import XCTest

/// Every way reading can fail gives a KerasH5Error naming the file, the layer when one is involved, and
/// what was expected against what was found.
final class ErrorTests: XCTestCase {
    /// Reads `path`, expecting a KerasH5Error; fails the test if reading succeeds or throws anything else.
    func readError(_ path: String, line: UInt = #line) -> KerasH5Error? {
        do {
            _ = try KerasWeightsFile.read(path: path)
            XCTFail("reading \(path) succeeded, expected an error", line: line)
        } catch let error as KerasH5Error {
            XCTAssertEqual(error.file, path, line: line)
            XCTAssertTrue(error.description.hasPrefix(path + ": "), error.description, line: line)
            return error
        } catch {
            XCTFail("expected KerasH5Error, got \(error)", line: line)
        }
        return nil
    }

    func testMissingPathSaysNoSuchFile() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("absent.h5").path
        let error = readError(path)
        XCTAssertNil(error?.layer)
        XCTAssertEqual(error?.reason, "no such file")
    }

    func testDirectoryIsRefused() throws {
        let error = readError(try temporaryDirectory(self).path)
        XCTAssertEqual(error?.reason, "is a directory, expected a Keras .h5 weights file")
    }

    func testJPEGIsNotAnHDF5FileAndIsRecognisedAsJPEG() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("photo.h5").path
        // The start of a JFIF file: SOI marker, APP0 segment.
        let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01] + Array(repeating: 0, count: 600)
        try Data(jpeg).write(to: URL(fileURLWithPath: path))
        let reason = try XCTUnwrap(readError(path)?.reason)
        XCTAssertTrue(reason.hasPrefix("not an HDF5 file: no HDF5 signature"), reason)
        XCTAssertTrue(reason.contains("starts with FF D8 FF E0 00 10 4A 46, which looks like a JPEG image"), reason)
    }

    func testTextFileIsNotAnHDF5File() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("notes.h5").path
        try "layer_names: conv2d_1\n".write(toFile: path, atomically: true, encoding: .utf8)
        let reason = try XCTUnwrap(readError(path)?.reason)
        XCTAssertTrue(reason.hasPrefix("not an HDF5 file"), reason)
        XCTAssertTrue(reason.hasSuffix("which looks like text"), reason)
    }

    func testEmptyFileIsNotAnHDF5File() throws {
        let path = try temporaryDirectory(self).appendingPathComponent("empty.h5").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        let reason = try XCTUnwrap(readError(path)?.reason)
        XCTAssertTrue(reason.hasPrefix("not an HDF5 file") && reason.hasSuffix("it is empty"), reason)
    }

    func testFileCutInHalfIsReportedAsTruncated() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("keras3_weights.h5")))
        let path = try temporaryDirectory(self).appendingPathComponent("half.h5").path
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: path))
        let reason = try XCTUnwrap(readError(path)?.reason)
        XCTAssertEqual(reason, "truncated HDF5 file: \(whole.count / 2) bytes, but its superblock records "
                       + "\(whole.count) (an interrupted download or copy?)")
    }

    func testHDF5FileWithoutLayerNamesIsNotKerasWeights() throws {
        let path = Fixtures.path("error_not_keras.h5")
        let error = readError(path)
        XCTAssertNil(error?.layer)
        XCTAssertEqual(error?.reason, "not a Keras weights file: no 'layer_names' attribute (nor layer_names0, ...) "
                       + "at the root or in /model_weights")
    }

    func testLayerListedWithoutGroupNamesTheLayer() throws {
        let error = readError(Fixtures.path("error_missing_group.h5"))
        XCTAssertEqual(error?.layer, "dense_1")
        XCTAssertEqual(error?.reason, "listed in layer_names but the file has no group /dense_1")
    }

    func testWeightListedWithoutDatasetNamesLayerAndWeight() throws {
        let error = readError(Fixtures.path("error_missing_dataset.h5"))
        XCTAssertEqual(error?.layer, "batch_normalization_1")
        XCTAssertEqual(error?.reason, "weight 'batch_normalization_1/moving_mean:0' is listed in weight_names but the "
                       + "file has no dataset /batch_normalization_1/batch_normalization_1/moving_mean:0")
    }

    func testIntegerDatasetIsRefusedAsUnsupportedDtype() throws {
        let error = readError(Fixtures.path("error_int32.h5"))
        XCTAssertEqual(error?.layer, "dense_1")
        XCTAssertEqual(error?.reason, "weight 'dense_1/kernel:0' (/dense_1/dense_1/kernel:0): unsupported dtype int32, "
                       + "expected float32 or float64")
    }

    func testDescriptionNamesFileLayerAndReason() {
        let error = KerasH5Error(file: "/w.h5", layer: "conv2d_1", reason: "boom")
        XCTAssertEqual(error.description, "/w.h5: layer 'conv2d_1': boom")
        XCTAssertEqual(KerasH5Error(file: "/w.h5", reason: "boom").description, "/w.h5: boom")
    }
}
