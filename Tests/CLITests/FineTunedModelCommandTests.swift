import Extract
import Foundation
import HeadTrain
import KerasH5
import Numerics
import Pipeline
import XCTest

/// `predict`, `inspect` and `export-keras` with a fine-tuned model (mixed7's retrained block + head), and Keras loading
/// it. The model is the seeded base's mixed7 perturbed deterministically (`TrainedHeadFixtures.writeFineTuned`).
final class FineTunedModelCommandTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    var weights: String { FeaturesCommandTests.weights }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    var images: [String] { TrainedHeadFixtures.images.map(CLI.fixture) }

    /// `predict --json`'s output per image, in order.
    func predict(head: String, weights: String? = nil) throws -> [[Double]] {
        let r = try CLI.run(["predict", "--weights", weights ?? self.weights, "--head", head, "--json"] + images)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try Self.outputs(r.stdout, key: "predictions")
    }

    static func outputs(_ json: String, key: String) throws -> [[Double]] {
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], json)
        return try XCTUnwrap(doc[key] as? [[String: Any]]).map { try XCTUnwrap($0["output"] as? [Double]) }
    }

    /// The head over mixed7 of `images`, extracted by the ordinary network on `base` (book settings).
    func headOverMixed7(_ head: Head, base: InceptionV3Weights) throws -> [Float] {
        let extractor = try FeatureExtractor(weights: base, settings: ExtractionSettings(), threads: 2)
        let input = UnsafeMutableBufferPointer<Float>.allocate(capacity: images.count * extractor.inputCount)
        let features = UnsafeMutablePointer<Float>.allocate(capacity: images.count * extractor.featureCount)
        defer { input.deallocate(); features.deallocate() }
        for (slot, image) in images.enumerated() { _ = try extractor.prepare(path: image, into: input, slot: slot) }
        extractor.run(UnsafePointer(input.baseAddress!), count: images.count, into: features)
        return HeadPredictor(head: head).predict(features: features, count: images.count)
    }

    func testPredictRunsTheImagesThroughTheFineTunedBlockThenTheHead() throws {
        let (head, block) = try TrainedHeadFixtures.writeFineTuned(weights: weights, to: path("model.h5"))
        let ours = try predict(head: path("model.h5"))
        let base = try BaseWeights.load(path: weights, cut: .mixed7)
        var replaced = base
        for (i, u) in block.enumerated() { replaced.units[60 + i] = u }
        let expected = try headOverMixed7(head, base: replaced), unchanged = try headOverMixed7(head, base: base)
        XCTAssertEqual(ours.count, 3)
        for (i, row) in ours.enumerated() {
            XCTAssertEqual(row.count, 1)
            XCTAssertEqual(Float(row[0]), expected[i], accuracy: 1e-6 * max(1, abs(expected[i])), images[i])
            // The block is what changed the output: the same head over the base's own mixed7 says something else.
            XCTAssertGreaterThan(abs(Float(row[0]) - unchanged[i]), 1e-3, images[i])
        }
    }

    func testInspectSaysTheModelIsFineTunedFromMixed7OnItsBase() throws {
        try TrainedHeadFixtures.writeFineTuned(weights: weights, to: path("model.h5"))
        let sha = try SHA256Hasher.digest(fileAt: weights).hex
        let text = try CLI.run(["inspect", path("model.h5")])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.hasPrefix("fine-tuned model \(path("model.h5"))\n"), text.stdout)
        XCTAssertTrue(text.stdout.contains("fine-tuned    mixed7 retrained on a mixed6 cache: 10 convolutions"), text.stdout)
        XCTAssertTrue(text.stdout.contains("unit 63  conv2d_63  kernel (7, 1, 192, 192)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("weights       seeded-notop.h5  sha256 \(sha)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("features      mixed7 through the fine-tuned block (7, 7, 768), input 150×150"), text.stdout)

        let json = try CLI.run(["inspect", path("model.h5"), "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let view = try JSONDecoder().decode(ModelOverview.self, from: Data(json.stdout.utf8))
        XCTAssertEqual(view.kind, "fine-tuned model")
        XCTAssertFalse(view.wholeModel)
        XCTAssertEqual(view.layersWithWeights, 22)
        XCTAssertEqual(view.weightsSHA256, sha)
        XCTAssertEqual(view.fineTuning?.block, "mixed7")
        XCTAssertEqual(view.fineTuning?.cacheLayer, "mixed6")
        XCTAssertEqual(view.fineTuning?.convolutions.map(\.unit), Array(60..<70))
        XCTAssertEqual(view.head.hidden, 32)
    }

    func testInspectSaysAPlainHeadIsAHead() throws {
        try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        let json = try CLI.run(["inspect", path("head.h5"), "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let view = try JSONDecoder().decode(ModelOverview.self, from: Data(json.stdout.utf8))
        XCTAssertEqual(view.kind, "head")
        XCTAssertNil(view.fineTuning)
        XCTAssertEqual(view.layer, "mixed7")
        let refused = try CLI.run(["inspect", path("head.h5"), "--verify"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("is a model file"), refused.stderr)
    }

    func testExportKerasWritesTheBaseBelowMixed7UnchangedAndMixed7FineTuned() throws {
        let (head, _) = try TrainedHeadFixtures.writeFineTuned(weights: weights, to: path("model.h5"))
        let r = try CLI.run(["export-keras", "--weights", weights, "--head", path("model.h5"), "--out", path("export.h5")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("InceptionV3 to mixed7 (mixed7 fine-tuned) at 150×150"), r.stdout)
        let exported = try KerasWeightsFile.read(path: path("export.h5")).layersWithWeights
        let base = try KerasWeightsFile.read(path: weights).layersWithWeights
        let model = try KerasWeightsFile.read(path: path("model.h5")).layersWithWeights
        XCTAssertEqual(exported.count, 142)
        XCTAssertEqual(exported.prefix(140).map(\.name), base.prefix(140).map(\.name))
        // Below mixed7: the base file's arrays. mixed7 (weighted layers 121…140): the model's block, in the same order.
        for (e, b) in zip(exported.prefix(120), base.prefix(120)) { XCTAssertEqual(e.weights.map(\.values), b.weights.map(\.values), e.name) }
        for (e, m) in zip(exported[120..<140], model.prefix(20)) {
            XCTAssertEqual(e.weights.map(\.shape), m.weights.map(\.shape), e.name)
            XCTAssertEqual(e.weights.map(\.values), m.weights.map(\.values), "\(e.name) against \(m.name)")
        }
        XCTAssertNotEqual(exported[120].weights[0].values, base[120].weights[0].values)
        XCTAssertEqual(exported[140].weights.map(\.values), [head.kernel1, head.bias1])
        // The export reads back as the same fine-tuned model and predicts the same.
        let back = try FineTunedModel.load(path: path("export.h5")), original = try FineTunedModel.load(path: path("model.h5"))
        XCTAssertEqual(back.provenance, original.provenance)
        XCTAssertEqual(back.block?.map(\.kernel), original.block?.map(\.kernel))
        XCTAssertEqual(try predict(head: path("export.h5")), try predict(head: path("model.h5")))
    }

    func testABaseOtherThanTheRecordedOneIsRefused() throws {
        try TrainedHeadFixtures.writeFineTuned(weights: weights, to: path("model.h5"))
        var file = try KerasWeightsFile.read(path: weights)
        file.layers[1].weights[0].values[0] += 1
        try file.write(to: path("other.h5"), style: .fixedLength)
        let otherSHA = try SHA256Hasher.digest(fileAt: path("other.h5")).hex
        for command in [["predict", "--head", path("model.h5")] + images, ["export-keras", "--head", path("model.h5"), "--out", path("e.h5")]] {
            let r = try CLI.run(command + ["--weights", path("other.h5")])
            XCTAssertNotEqual(r.status, 0, command[0])
            XCTAssertTrue(r.stderr.contains(otherSHA) && r.stderr.contains(path("model.h5")), r.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("e.h5")))
    }

    func testADamagedBlockIsRefusedNamingTheLayer() throws {
        try TrainedHeadFixtures.writeFineTuned(weights: weights, to: path("model.h5"))
        var file = try KerasWeightsFile.read(path: path("model.h5"))
        let i = try XCTUnwrap(file.layers.firstIndex { $0.name == "batch_normalization_65" })
        file.layers[i].weights.removeLast()
        try file.write(to: path("damaged.h5"), style: .variableLength)
        for command in [["predict", "--weights", weights, "--head", path("damaged.h5")] + images, ["inspect", path("damaged.h5")]] {
            let r = try CLI.run(command)
            XCTAssertNotEqual(r.status, 0, command[0])
            XCTAssertTrue(r.stderr.contains("\(path("damaged.h5")): layer 'batch_normalization_65'"), r.stderr)
        }
    }

    // MARK: Keras loads it (skips without a Python that has Keras)

    /// Tools/keras-reference/check_export.py on `model` (with `arguments`): every weight as expected, and the images'
    /// outputs within 1e-4 of `headstart predict`'s with the fine-tuned model.
    func checkWithKeras(_ model: String, _ arguments: [String]) throws -> [String: Any] {
        let python = try TrainedHeadFixtures.pythonWithKeras()
        let ours = try predict(head: path("model.h5"))
        let script = CLI.repositoryRoot.appendingPathComponent("Tools/keras-reference/check_export.py").path
        let k = try TrainedHeadFixtures.runProcess(python, [script, model] + arguments + images)
        XCTAssertEqual(k.status, 0, k.stdout + k.stderr)
        let keras = try Self.outputs(k.stdout, key: "predictions")
        XCTAssertEqual(keras.count, ours.count)
        for (i, (a, b)) in zip(ours, keras).enumerated() {
            XCTAssertEqual(a.count, b.count)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-4, "\(images[i]): ours \(a), Keras \(b)") }
        }
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(k.stdout.utf8)) as? [String: Any])
    }

    func testKerasLoadsTheModelByNameOverTheBaseIntoTheBookModelAndPredictsAsHeadstartDoes() throws {
        try TrainedHeadFixtures.writeFineTuned(weights: weights, to: path("model.h5"))
        let report = try checkWithKeras(path("model.h5"), ["--by-name", "--base", weights])
        let check = try XCTUnwrap(report["weights_check"] as? [String: Any])
        XCTAssertEqual(check["equal"] as? Bool, true, "\(check)")
        // mixed7's 10 kernels and 10 × 3 BatchNormalization arrays and the head's 4 from the file, the rest from the base.
        XCTAssertEqual((check["from_model_file"] as? [String])?.count, 22, "\(check)")
        XCTAssertEqual(check["arrays"] as? Int, 70 + 70 * 3 + 4, "\(check)")
    }

    func testKerasLoadsTheExportedFineTunedModelInOneCallAndPredictsAsHeadstartDoes() throws {
        try TrainedHeadFixtures.writeFineTuned(weights: weights, to: path("model.h5"))
        let r = try CLI.run(["export-keras", "--weights", weights, "--head", path("model.h5"), "--out", path("export.h5")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try checkWithKeras(path("export.h5"), [])
        XCTAssertEqual((report["layers"] as? [String: Any])?["weighted"] as? Int, 142)
    }
}
