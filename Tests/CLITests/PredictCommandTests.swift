import Extract
import Foundation
import HeadTrain
import KerasH5
import Numerics
import Pipeline
import XCTest

/// `headstart predict`: images in, class and probability out, extracted as the head's features were.
final class PredictCommandTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    var weights: String { FeaturesCommandTests.weights }
    var images: [String] { TrainedHeadFixtures.images.map(CLI.fixture) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// The predictions of a --json run: path and output row.
    func outputs(_ doc: [String: Any]) throws -> [(path: String, output: [Double])] {
        let predictions = try XCTUnwrap(doc["predictions"] as? [[String: Any]])
        return try predictions.map { (try XCTUnwrap($0["path"] as? String), try XCTUnwrap($0["output"] as? [Double])) }
    }

    func testOutputsEqualTheHeadOnKerasFeaturesOfTheSameImages() throws {
        // Keras's mixed7 of the three fixture images (committed) through the head in-process, against the whole
        // command: decode, resize and rescale as recorded, our network, the head. Agreement within 1e-5 means the
        // recorded settings were used and the network matches Keras.
        let head = try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        let features = try TrainedHeadFixtures.kerasFeatures()
        let expected = features.withUnsafeBufferPointer { HeadPredictor(head: head).predict(features: $0.baseAddress!, count: 3) }
        let r = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json"] + images)
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = try outputs(try json(r.stdout))
        XCTAssertEqual(got.map(\.path), images)
        for (g, e) in zip(got, expected) {
            XCTAssertEqual(g.output.count, 1)
            XCTAssertEqual(g.output[0], Double(e), accuracy: 1e-5, g.path)
        }
        // The outputs are on the sigmoid's slope (not saturated), so the comparison is not trivially met.
        XCTAssertTrue(expected.allSatisfy { $0 > 0.05 && $0 < 0.95 }, "\(expected)")
    }

    func testPrintsPathClassProbabilityAndSigmoidOutputPerImageInTheOrderGiven() throws {
        try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        let order = [images[2], images[0], images[1]]
        let r = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5")] + order)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, r.stdout)
        let j = try outputs(try json(CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json"] + order).stdout))
        for (line, (p, output)) in zip(lines, j) {
            let s = output[0], cls = s > 0.5 ? "humans" : "horses", prob = s > 0.5 ? s : 1 - s
            XCTAssertEqual(line, "\(p): \(cls) (probability \(String(format: "%.6g", prob)); sigmoid output \(String(format: "%.6g", s)))")
        }
    }

    func testAHeadOnOtherWeightsIsCalledOutOnStandardErrorAndInTheJSON() throws {
        // The fixture heads record `other` weights (the parity weights are seeded values without the stamp).
        try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        let text = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), images[0]])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stderr.contains("WARNING: other weights, not Keras's ImageNet weights"), text.stderr)
        let doc = try json(CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json", images[0]]).stdout)
        XCTAssertEqual(doc["weights_origin"] as? String, "other")
        XCTAssertEqual(doc["weights_warning"] as? String, WeightsOrigin.other.warning)
    }

    func testJSONHasSettingsClassesAndPerImageClassProbabilitiesAndOutput() throws {
        try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        let r = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json", images[0]])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try json(r.stdout)
        XCTAssertEqual(doc["classes"] as? [String], ["horses", "humans"])
        XCTAssertEqual(doc["weights_sha256"] as? String, try SHA256Hasher.digest(fileAt: weights).hex)
        let settings = try XCTUnwrap(doc["settings"] as? [String: Any])
        XCTAssertEqual(settings["layer"] as? String, "mixed7")
        XCTAssertEqual(settings["size"] as? Int, 150)
        XCTAssertEqual(settings["resize"] as? String, "nearest")
        XCTAssertEqual(settings["preprocess"] as? String, "rescale")
        XCTAssertEqual((doc["failures"] as? [Any])?.count, 0)
        let p = try XCTUnwrap((doc["predictions"] as? [[String: Any]])?.first)
        let output = try XCTUnwrap(p["output"] as? [Double]), probabilities = try XCTUnwrap(p["probabilities"] as? [Double])
        let index = try XCTUnwrap(p["class_index"] as? Int)
        XCTAssertEqual(probabilities.count, 2)
        XCTAssertEqual(probabilities[1], output[0], accuracy: 1e-7)
        XCTAssertEqual(probabilities[0] + probabilities[1], 1, accuracy: 1e-12)
        XCTAssertEqual(index, output[0] > 0.5 ? 1 : 0)
        XCTAssertEqual(p["class"] as? String, ["horses", "humans"][index])
        XCTAssertEqual(try XCTUnwrap(p["probability"] as? Double), probabilities[index], accuracy: 0)
    }

    func testATinySigmoidOutputPrintsAtFullPrecisionNotAsZero() throws {
        // Second kernel zero, bias −46: every image's output is sigmoid(−46) ≈ 1.05e-20 (the book's cat: 4.98e-24).
        let head = try TrainedHeadFixtures.write(weights: weights, to: path("tmp.h5"))
        for i in 0..<head.layout.H { head.w2[i] = 0 }
        head.b2[0] = -46
        let metadata = try TrainedHeadFixtures.provenance(weights: weights).metadata
        try HeadFile.save(head, to: path("head.h5"), metadata: metadata)
        let r = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), images[0]])
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = 1 / (1 + exp(46.0))  // 1.0530e-20
        XCTAssertTrue(r.stdout.contains("horses (probability 1; sigmoid output 1.053"), r.stdout)
        XCTAssertTrue(r.stdout.contains("e-20)"), r.stdout)
        let j = try outputs(try json(CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json", images[0]]).stdout))
        XCTAssertEqual(j[0].output[0], expected, accuracy: expected * 1e-5)
    }

    func testASoftmaxHeadPrintsTheLargestClassWithoutASigmoidOutput() throws {
        try TrainedHeadFixtures.write(classes: 3, weights: weights, classNames: ["cats", "dogs", "horses"], to: path("head.h5"))
        let r = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json", images[1]])
        XCTAssertEqual(r.status, 0, r.stderr)
        let p = try XCTUnwrap((try json(r.stdout)["predictions"] as? [[String: Any]])?.first)
        let output = try XCTUnwrap(p["output"] as? [Double])
        XCTAssertEqual(output.count, 3)
        XCTAssertEqual(output.reduce(0, +), 1, accuracy: 1e-6)
        let best = output.indices.max { output[$0] < output[$1] }!
        XCTAssertEqual(p["class"] as? String, ["cats", "dogs", "horses"][best])
        let text = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), images[1]])
        XCTAssertEqual(text.stdout, "\(images[1]): \(["cats", "dogs", "horses"][best]) (probability \(String(format: "%.6g", output[best])))\n")
    }

    func testAWeightsFileOtherThanTheRecordedOneIsRefusedNamingBothFilesAndHashes() throws {
        try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        // The same layout with one kernel value changed: a valid InceptionV3 file, but not the head's.
        var file = try KerasWeightsFile.read(path: weights)
        let first = file.layers.firstIndex { !$0.weights.isEmpty }!
        file.layers[first].weights[0].values[0] += 1
        try file.write(to: path("other.h5"), style: .fixedLength)
        let r = try CLI.run(["predict", "--weights", path("other.h5"), "--head", path("head.h5"), images[0]])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "", "nothing predicted")
        let recorded = try SHA256Hasher.digest(fileAt: weights).hex, other = try SHA256Hasher.digest(fileAt: path("other.h5")).hex
        for text in [path("other.h5"), other, path("head.h5"), "seeded-notop.h5", recorded, "is not the weights file the head"] {
            XCTAssertTrue(r.stderr.contains(text), "stderr lacks \(text):\n\(r.stderr)")
        }
    }

    func testAHeadWithoutProvenanceIsRefused() throws {
        let head = try Head(config: HeadConfig(featureCount: TrainedHeadFixtures.featureCount, hidden: 4), seed: 1)
        try HeadFile.save(head, to: path("bare.h5"))
        let r = try CLI.run(["predict", "--weights", weights, "--head", path("bare.h5"), images[0]])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(path("bare.h5")), r.stderr)
        XCTAssertTrue(r.stderr.contains("does not record"), r.stderr)
        XCTAssertTrue(r.stderr.contains("headstart train"), r.stderr)
    }

    func testAnUnreadableImageIsReportedWithItsReasonAndTheOthersArePredicted() throws {
        try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("empty.jpg"), contents: Data()))
        let r = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), images[0], path("empty.jpg"), images[1]])
        XCTAssertEqual(r.status, 1, "non-zero at the end when an image failed")
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, r.stdout)
        XCTAssertTrue(lines[0].hasPrefix(images[0] + ": "), r.stdout)
        XCTAssertTrue(lines[1].hasPrefix(images[1] + ": "), r.stdout)
        XCTAssertTrue(r.stderr.contains("\(path("empty.jpg")): cannot predict: empty file (0 bytes)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("1 of 3 image(s) could not be read"), r.stderr)

        let j = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json", path("empty.jpg"), images[0]])
        XCTAssertEqual(j.status, 1)
        let doc = try json(j.stdout)
        XCTAssertEqual(try outputs(doc).map(\.path), [images[0]])
        let failures = try XCTUnwrap(doc["failures"] as? [[String: String]])
        XCTAssertEqual(failures, [["path": path("empty.jpg"), "reason": "empty file (0 bytes)"]])
    }

    func testSmallBatchesWithAFailureInsideGiveEachImageItsOwnOutput() throws {
        try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("empty.png"), contents: Data()))
        let list = [images[0], path("empty.png"), images[1], images[2], images[0]]
        let whole = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json"] + list)
        let pairs = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json", "--batch", "2"] + list)
        XCTAssertEqual(whole.status, 1)
        XCTAssertEqual(pairs.status, 1)
        let a = try outputs(try json(whole.stdout)), b = try outputs(try json(pairs.stdout))
        XCTAssertEqual(b.map(\.path), [images[0], images[1], images[2], images[0]])
        XCTAssertEqual(a.map(\.path), b.map(\.path))
        for (x, y) in zip(a, b) { XCTAssertEqual(x.output[0], y.output[0], accuracy: 1e-6, x.path) }
        XCTAssertEqual(b[0].output[0], b[3].output[0], accuracy: 1e-6, "image 0 in the first and the last batch")
        XCTAssertGreaterThan(abs(b[0].output[0] - b[1].output[0]), 1e-3, "different images, different outputs")
    }

    func testADirectoryStandsForEveryImageBelowItSorted() throws {
        try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        let root = dir.appendingPathComponent("images")
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("b/inner"), withIntermediateDirectories: true)
        try fm.copyItem(atPath: images[0], toPath: root.appendingPathComponent("b/inner/z.png").path)
        try fm.copyItem(atPath: images[1], toPath: root.appendingPathComponent("a.JPG").path)
        try fm.copyItem(atPath: images[2], toPath: root.appendingPathComponent("b/c.png").path)
        XCTAssertTrue(fm.createFile(atPath: root.appendingPathComponent("notes.txt").path, contents: Data("not an image".utf8)))
        XCTAssertTrue(fm.createFile(atPath: root.appendingPathComponent("b/._c.png").path, contents: Data([0, 5, 22, 7])))  // macOS fork
        let r = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json", root.path, images[0]])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try outputs(try json(r.stdout)).map(\.path),
                       [root.path + "/a.JPG", root.path + "/b/c.png", root.path + "/b/inner/z.png", images[0]])
        let got = try outputs(try json(r.stdout))
        XCTAssertEqual(got[2].output, got[3].output, "the same image gives the same output")
    }

    func testADirectoryWithoutImagesIsAnError() throws {
        try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("none"), withIntermediateDirectories: true)
        let r = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), path("none")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(path("none")): no image files"), r.stderr)
    }

    func testHelpSaysTheSettingsComeFromTheHead() throws {
        let r = try CLI.run(["predict", "--help"])
        XCTAssertEqual(r.status, 0)
        for text in ["--weights", "--head", "--json", "recorded", "SHA-256", "4.98e-24", "Example:"] {
            XCTAssertTrue(r.stdout.contains(text), "help lacks \(text):\n\(r.stdout)")
        }
        for option in ["--layer", "--size", "--resize", "--preprocess"] {
            XCTAssertFalse(r.stdout.contains(option), "predict must not offer \(option): the head records it")
        }
    }
}
