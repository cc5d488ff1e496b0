import Extract
import Numerics
import XCTest

/// Preprocessing against Keras on float32 arrays; equality is bitwise (tolerance 0).
final class ImagePreprocessTests: XCTestCase {
    func keras(_ name: String) throws -> NPY.Array {
        try NPY.read(ImageFixtures.dir.appendingPathComponent(name).path)
    }

    func assertBitwiseEqual(_ got: [Float], _ want: [Float], _ label: String) {
        XCTAssertEqual(got.count, want.count, label)
        let mismatches = zip(got, want).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
        if let first = mismatches.first {
            XCTFail("\(label): \(mismatches.count) values differ; first at \(first.offset): got \(first.element.0), Keras \(first.element.1)")
        }
    }

    func testRescaleMatchesImageDataGeneratorForEveryByte() throws {
        assertBitwiseEqual(PreprocessMode.rescale.table, try keras("preprocess_rescale.npy").floats, "rescale")
    }

    func testRescaleMultipliesByFloat32ReciprocalRatherThanDividing() {
        // Keras multiplies by float32(1/255); dividing by 255 rounds differently for some bytes, so the
        // distinction is observable and the table must follow the multiplication.
        let differ = (0...255).filter { Float($0) / 255 != Float($0) * Float(1.0 / 255.0) }
        XCTAssertFalse(differ.isEmpty)
        for b in differ { XCTAssertEqual(PreprocessMode.rescale.value(UInt8(b)), Float(b) * Float(1.0 / 255.0)) }
    }

    func testInceptionMatchesPreprocessInputForEveryByte() throws {
        assertBitwiseEqual(PreprocessMode.inception.table, try keras("preprocess_inception.npy").floats, "inception")
        XCTAssertEqual(PreprocessMode.inception.value(0), -1)
        XCTAssertEqual(PreprocessMode.inception.value(255), 1)
    }

    func testWriteFillsOnlyItsSlotOfAnNHWCBatchWithKerasValues() throws {
        // Keras: preprocess_input(img_to_array(load_img(rgb.png, target_size=(17, 31), interpolation='bilinear'))[None])
        let want = try keras("preprocess_inception_rgb.png.17x31.npy")
        XCTAssertEqual(want.shape, [1, 17, 31, 3])
        let image = try ImageDecoder.load(path: ImageFixtures.input("rgb.png"), height: 17, width: 31, method: .bilinear).image
        let per = 17 * 31 * 3
        var batch = [Float](repeating: .nan, count: 3 * per)
        batch.withUnsafeMutableBufferPointer { ImagePreprocess.write(image, mode: .inception, into: $0, slot: 1) }
        XCTAssertTrue(batch[0..<per].allSatisfy { $0.isNaN }, "slot 0 untouched")
        XCTAssertTrue(batch[(2 * per)...].allSatisfy { $0.isNaN }, "slot 2 untouched")
        assertBitwiseEqual(Array(batch[per..<(2 * per)]), want.floats, "slot 1")
    }
}
