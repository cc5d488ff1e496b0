import Foundation
import HeadTrain
import KerasH5
import Numerics
import Pipeline
import XCTest

/// `headstart export-keras`: the book's whole model (base to the cut + head) as one Keras weights file.
final class ExportKerasCommandTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    var weights: String { FeaturesCommandTests.weights }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// Keras's `model.layers` names of InceptionV3 (include_top=False), from the committed Keras fixture.
    func kerasLayerNames() throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: CLI.fixture("keras/model-layers.json")))
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(doc["layers"] as? [[String: Any]]).compactMap { $0["name"] as? String }
    }

    func export(head: String, out: String) throws -> CLI.Result {
        try CLI.run(["export-keras", "--weights", weights, "--head", head, "--out", out])
    }

    func testHoldsKerasModelLayersUpToTheCutThenTheHeadWithTheirWeights() throws {
        let head = try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        let r = try export(head: path("head.h5"), out: path("model.h5"))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("232 layers, 142 with weights"), r.stdout)
        let model = try KerasWeightsFile.read(path: path("model.h5"))
        // Keras (checked with 3.15): Model(InceptionV3.input, head(mixed7)).layers is the full model's list up
        // to mixed7 (229 layers, none after it), then the head's.
        let keras = try kerasLayerNames()
        let mixed7 = try XCTUnwrap(keras.firstIndex(of: "mixed7"))
        XCTAssertEqual(mixed7 + 1, 229)
        XCTAssertEqual(model.layers.map(\.name), Array(keras[...mixed7]) + ["flatten", "dense", "dense_1"])
        // Weights: the base file's first 140 weighted layers, unchanged, then the head's two.
        let base = try KerasWeightsFile.read(path: weights).layersWithWeights
        let exported = model.layersWithWeights
        XCTAssertEqual(exported.count, 142)
        for (e, b) in zip(exported.prefix(140), base.prefix(140)) {
            XCTAssertEqual(e.name, b.name)
            XCTAssertEqual(e.weights.map(\.shape), b.weights.map(\.shape), e.name)
            XCTAssertTrue(zip(e.weights, b.weights).allSatisfy { $0.values == $1.values }, "\(e.name): values differ")
        }
        XCTAssertEqual(exported[140].weights.map(\.values), [head.kernel1, head.bias1])
        XCTAssertEqual(exported[141].weights.map(\.values), [head.kernel2, head.bias2])
        XCTAssertEqual(exported[141].weights.map(\.shape), [[32, 1], [1]])
    }

    func testADropoutHeadHasItsDropoutLayerBetweenTheDenseLayers() throws {
        try TrainedHeadFixtures.write(dropout: 0.2, weights: weights, to: path("head.h5"))
        let r = try export(head: path("head.h5"), out: path("model.h5"))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("Dropout(0.2)"), r.stdout)
        XCTAssertEqual(try KerasWeightsFile.read(path: path("model.h5")).layers.suffix(5).map(\.name),
                       ["mixed7", "flatten", "dense", "dropout", "dense_1"])
    }

    func testTheExportCarriesTheHeadAndItsProvenance() throws {
        try TrainedHeadFixtures.write(classes: 3, weights: weights, to: path("head.h5"))
        XCTAssertEqual(try export(head: path("head.h5"), out: path("model.h5")).status, 0)
        let original = try TrainedHead.load(path: path("head.h5")), exported = try TrainedHead.load(path: path("model.h5"))
        XCTAssertEqual(exported.provenance, original.provenance)
        XCTAssertEqual(exported.head.config, original.head.config)
        XCTAssertEqual(exported.head.kernel1, original.head.kernel1)
        XCTAssertEqual(exported.head.bias2, original.head.bias2)
    }

    func testAWeightsFileOtherThanTheRecordedOneIsRefusedAndNothingIsWritten() throws {
        try TrainedHeadFixtures.write(weights: weights, to: path("head.h5"))
        var file = try KerasWeightsFile.read(path: weights)
        let last = file.layers.lastIndex { !$0.weights.isEmpty }!
        file.layers[last].weights[0].values[0] += 1  // beyond mixed7: the file still differs
        try file.write(to: path("other.h5"), style: .fixedLength)
        let r = try CLI.run(["export-keras", "--weights", path("other.h5"), "--head", path("head.h5"), "--out", path("model.h5")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(try SHA256Hasher.digest(fileAt: path("other.h5")).hex), r.stderr)
        XCTAssertTrue(r.stderr.contains(try SHA256Hasher.digest(fileAt: weights).hex), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("model.h5")))
    }

    // MARK: Keras loads it (skips without a Python that has Keras)

    /// Exports, predicts with headstart, then runs Tools/keras-reference/check_export.py: the book's model
    /// built in Keras, `load_weights(model.h5)` in one call, the fixture images predicted as the book does.
    func checkWithKeras(classes: Int, dropout: Float) throws {
        let python = try TrainedHeadFixtures.pythonWithKeras()
        try TrainedHeadFixtures.write(classes: classes, dropout: dropout, weights: weights, to: path("head.h5"))
        XCTAssertEqual(try export(head: path("head.h5"), out: path("model.h5")).status, 0)
        let images = TrainedHeadFixtures.images.map(CLI.fixture)
        let ours = try CLI.run(["predict", "--weights", weights, "--head", path("head.h5"), "--json"] + images)
        XCTAssertEqual(ours.status, 0, ours.stderr)
        let script = CLI.repositoryRoot.appendingPathComponent("Tools/keras-reference/check_export.py").path
        let k = try TrainedHeadFixtures.runProcess(python, [script, path("model.h5"), "--base", weights, "--head", path("head.h5")] + images)
        XCTAssertEqual(k.status, 0, k.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(k.stdout.utf8)) as? [String: Any], k.stdout)

        // Every weight Keras loaded from the export equals the base file's (loaded into InceptionV3) and the head's.
        let check = try XCTUnwrap(report["weights_check"] as? [String: Any])
        XCTAssertEqual(check["equal"] as? Bool, true, "\(check)")
        // mixed7's 70 Conv2D kernels + 70 × (beta, moving_mean, moving_variance) + two kernels and biases.
        XCTAssertEqual(check["arrays"] as? Int, 70 + 70 * 3 + 4, "\(check)")

        let keras = try XCTUnwrap(report["predictions"] as? [[String: Any]])
        let mine = try XCTUnwrap(try XCTUnwrap(JSONSerialization.jsonObject(with: Data(ours.stdout.utf8)) as? [String: Any])["predictions"] as? [[String: Any]])
        XCTAssertEqual(keras.count, 3)
        XCTAssertEqual(mine.count, 3)
        for (kp, mp) in zip(keras, mine) {
            XCTAssertEqual(kp["path"] as? String, mp["path"] as? String)
            let kOut = try XCTUnwrap(kp["output"] as? [Double]), mOut = try XCTUnwrap(mp["output"] as? [Double])
            XCTAssertEqual(kOut.count, classes == 2 ? 1 : classes)
            XCTAssertEqual(mOut.count, kOut.count)
            for (a, b) in zip(mOut, kOut) {
                // 1e-5 absolute; an output below 1e-3 (a saturated sigmoid or softmax) also within 1e-3 relative.
                XCTAssertLessThanOrEqual(abs(a - b), 1e-5, "\(mp["path"]!): ours \(mOut), Keras \(kOut)")
                if abs(b) < 1e-3 { XCTAssertLessThanOrEqual(abs(a - b), 1e-3 * abs(b), "\(mp["path"]!): ours \(mOut), Keras \(kOut)") }
            }
        }
    }

    func testKerasLoadsTheExportedBinaryModelInOneCallAndPredictsAsHeadstartDoes() throws {
        try checkWithKeras(classes: 2, dropout: 0)
    }

    func testKerasLoadsAnExportedSoftmaxModelWithDropoutAndPredictsAsHeadstartDoes() throws {
        try checkWithKeras(classes: 3, dropout: 0.5)
    }
}
