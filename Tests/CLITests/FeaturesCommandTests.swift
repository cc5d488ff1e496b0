import Extract
import Foundation
import KerasH5
import Numerics
import XCTest

/// `headstart features`: images in, a NumPy file of Keras's features out.
final class FeaturesCommandTests: XCTestCase {
    /// The seeded notop file of the Keras parity fixtures (seed 7 + committed calibrated BatchNorm).
    static let weights: String = {
        let bn = try! NPY.read(CLI.fixture("keras/bn-params.npy")).floats
        let path = try! CLI.temporaryDirectory().appendingPathComponent("seeded-notop.h5").path
        try! BaseWeights.kerasFile(units: SeededWeights.generate(seed: 7, batchNorm: bn)).write(to: path, style: .fixedLength)
        return path
    }()

    func testWritesKerasMixed7ForRealImagesInTheOrderGiven() throws {
        let out = try CLI.temporaryDirectory().appendingPathComponent("f.npy").path
        let images = ["keras/image2-horse-gray.png", "keras/image0-horse-rgba.png", "keras/image1-human-rgb-q90.jpg"]
        let r = try CLI.run(["features", "--weights", Self.weights, "--out", out] + images.map(CLI.fixture))
        XCTAssertEqual(r.status, 0, r.stderr)
        let array = try NPY.read(out)
        XCTAssertEqual(array.dtype, .float32)
        XCTAssertEqual(array.shape, [3, 7, 7, 768])
        let values = array.floats
        for (slot, k) in [2, 0, 1].enumerated() {
            let keras = try NPY.read(CLI.fixture("keras/mixed7-\(k).npy")).floats
            let ours = Array(values[(slot * keras.count)..<((slot + 1) * keras.count)])
            let scale = keras.map(abs).max()!
            let worst = zip(ours, keras).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-4 * scale, "image \(k) in slot \(slot): max difference \(worst) of \(scale)")
        }
    }

    func testAnUnreadableImageIsAnErrorNamingTheFile() throws {
        let dir = try CLI.temporaryDirectory()
        let empty = dir.appendingPathComponent("empty.jpg").path
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        let r = try CLI.run(["features", "--weights", Self.weights, "--out", dir.appendingPathComponent("f.npy").path, empty])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(empty), r.stderr)
        XCTAssertTrue(r.stderr.contains("empty"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("f.npy").path), "no partial output")
    }

    func testTooSmallAnInputSizeIsRefusedBeforeAnyWork() throws {
        let r = try CLI.run(["features", "--weights", "/nonexistent.h5", "--size", "74", "--out", "x.npy", "a.png"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--size 74 is too small: InceptionV3 needs at least 75 pixels."), r.stderr)
    }

    func testAMissingWeightsFileIsNamed() throws {
        let r = try CLI.run(["features", "--weights", "/nonexistent/w.h5", "--out", "x.npy", CLI.fixture("keras/image0-horse-rgba.png")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/nonexistent/w.h5"), r.stderr)
    }

    func testHelpTeachesTheOptionsAndAnExample() throws {
        let r = try CLI.run(["features", "--help"])
        XCTAssertEqual(r.status, 0)
        for text in ["--weights", "--layer", "mixed0…mixed10", "--resize", "nearest|bilinear", "--preprocess", "rescale|inception",
                     "Example:", "(N, 7, 7, 768)"] {
            XCTAssertTrue(r.stdout.contains(text), "help lacks \(text):\n\(r.stdout)")
        }
    }
}
