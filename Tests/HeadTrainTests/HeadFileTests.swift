import Foundation
import KerasH5
import XCTest
@testable import HeadTrain

final class HeadFileTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("headfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    let metadata = ["cut_layer": "mixed7", "preprocessing": "inception:150x150:bilinear", "weights_sha256": "ab12"]

    func testSavedHeadLoadsBackWithItsWeightsConfigAndMetadataInBothStyles() throws {
        for (style, dropout) in [(KerasStringStyle.variableLength, Float(0)), (.fixedLength, 0.25)] {
            let head = try Head(config: HeadConfig(featureCount: 36, hidden: 8, classes: 2, dropout: dropout), seed: 3)
            for i in 0..<8 { head.b1[i] = Float(i) * 0.01 }
            head.b2[0] = -0.5
            let path = tmp.appendingPathComponent("head-\(style).h5").path
            try HeadFile.save(head, to: path, metadata: metadata, style: style)
            let loaded = try HeadFile.load(path: path)
            XCTAssertEqual(loaded.head.config, head.config)
            XCTAssertEqual(loaded.head.kernel1, head.kernel1)
            XCTAssertEqual(loaded.head.bias1, head.bias1)
            XCTAssertEqual(loaded.head.kernel2, head.kernel2)
            XCTAssertEqual(loaded.head.bias2, head.bias2)
            XCTAssertEqual(loaded.metadata, metadata)
        }
    }

    func testFileHasTheBookModelsHeadLayerNamesAndShapes() throws {
        let head = try Head(config: HeadConfig(featureCount: 20, hidden: 6, classes: 4), seed: 1)
        let path = tmp.appendingPathComponent("h.h5").path
        try HeadFile.save(head, to: path)
        let file = try KerasWeightsFile.read(path: path)
        XCTAssertEqual(file.layers.map(\.name), ["flatten", "dense", "dense_1"])
        XCTAssertEqual(file.layersWithWeights.map { $0.weights.map(\.shape) }, [[[20, 6], [6]], [[6, 4], [4]]])
        XCTAssertEqual(file.attributes["backend"], "tensorflow")
    }

    func testMetadataMismatchesAreListed() throws {
        let head = try Head(config: HeadConfig(featureCount: 4, hidden: 2), seed: 1)
        let path = tmp.appendingPathComponent("m.h5").path
        try HeadFile.save(head, to: path, metadata: metadata)
        let loaded = try HeadFile.load(path: path)
        XCTAssertTrue(loaded.mismatches(with: metadata).isEmpty)
        let m = loaded.mismatches(with: ["cut_layer": "mixed6", "image_size": "150"])
        XCTAssertEqual(m.map(\.key), ["cut_layer", "image_size"])
        XCTAssertEqual(m[0].found, "mixed7")
        XCTAssertNil(m[1].found)
    }

    func testAFileWhoseLayersAreNotADenseHeadIsRejectedNamingTheLayer() throws {
        let path = tmp.appendingPathComponent("bad.h5").path
        try KerasWeightsFile(layers: [
            KerasLayer(name: "dense", weights: [KerasWeight(name: "dense/kernel", shape: [4, 3], values: .init(repeating: 0, count: 12)),
                                                KerasWeight(name: "dense/bias", shape: [3], values: [0, 0, 0])]),
            KerasLayer(name: "dense_1", weights: [KerasWeight(name: "dense_1/kernel", shape: [5, 1], values: [0, 0, 0, 0, 0]),
                                                  KerasWeight(name: "dense_1/bias", shape: [1], values: [0])]),
        ], attributes: [:]).write(to: path, style: .variableLength)
        XCTAssertThrowsError(try HeadFile.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains("dense_1") && "\(error)".contains("5 inputs"), "\(error)")
        }
    }

    // MARK: Keras loads our file

    func pythonWithKeras() throws -> URL {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["HEADSTART_PYTHON"] { candidates.append(URL(fileURLWithPath: env)) }
        candidates.append(repoRoot().deletingLastPathComponent().appendingPathComponent("venv/bin/python"))
        candidates.append(URL(fileURLWithPath: "/work/venv/bin/python"))
        for python in candidates where FileManager.default.isExecutableFile(atPath: python.path) {
            if (try? run(python, ["-c", "import keras, h5py, tensorflow"])) == 0 { return python }
        }
        throw XCTSkip("no Python with keras, h5py and tensorflow found (set HEADSTART_PYTHON); Keras loading not checked")
    }

    @discardableResult
    func run(_ executable: URL, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
        environment["CUDA_VISIBLE_DEVICES"] = ""
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Keras `load_weights` takes our head file into a bare head model (by layer order) and predicts what we
    /// predict (≤ 1e-5), and `load_weights(by_name=True)` takes it into the book's model (InceptionV3 cut at
    /// mixed7 + head), ending with our weights in its `dense` and `dense_1`.
    func checkKerasLoads(config: HeadConfig, shape: [Int], bookModel: Bool) throws {
        let python = try pythonWithKeras()
        let head = try Head(config: config, seed: 17)
        for i in 0..<config.hidden { head.b1[i] = 0.01 * Float(i % 5) }
        for o in 0..<config.outputs { head.b2[o] = 0.1 * Float(o) - 0.05 }
        let path = tmp.appendingPathComponent("keras.h5").path
        try HeadFile.save(head, to: path, metadata: metadata)
        let count = 6, dataSeed: UInt64 = 77
        let request = tmp.appendingPathComponent("request.json")
        let req: [String: Any] = ["shape": shape, "hidden": config.hidden, "classes": config.classes,
                                  "dataSeed": dataSeed, "count": count, "bookModel": bookModel]
        try JSONSerialization.data(withJSONObject: req).write(to: request)
        let script = repoRoot().appendingPathComponent("Tools/keras-reference/head_reference.py").path
        XCTAssertEqual(try run(python, [script, "load-check", path, request.path]), 0, "the Keras load script failed")
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: request)) as? [String: Any])
        let kerasPredictions = try XCTUnwrap(result["predictions"] as? [Double]).map(Float.init)
        let x = syntheticFeatures(seed: dataSeed, count: count, featureCount: config.featureCount)
        let ours = x.withUnsafeBufferPointer { HeadPredictor(head: head).predict(features: $0.baseAddress!, count: count) }
        XCTAssertEqual(kerasPredictions.count, ours.count)
        XCTAssertLessThanOrEqual(maxAbsoluteDifference(kerasPredictions, ours), 1e-5)
        let sums = [head.kernel1, head.bias1, head.kernel2, head.bias2].map { $0.reduce(0.0) { $0 + abs(Double($1)) } }
        let headSums = try XCTUnwrap(result["headSums"] as? [Double])
        for (a, b) in zip(headSums, sums) { XCTAssertEqual(a, b, accuracy: 1e-9 * max(1, b)) }
        if bookModel {
            XCTAssertEqual(result["bookLayerNames"] as? [String], ["flatten", "dense", "dense_1"])
            let bookSums = try XCTUnwrap(result["bookHeadSums"] as? [Double])
            XCTAssertEqual(bookSums.count, 4)
            for (a, b) in zip(bookSums, sums) { XCTAssertEqual(a, b, accuracy: 1e-9 * max(1, b)) }
        }
    }

    func testKerasLoadsOurBinaryHeadIntoTheBooksModelAndABareHead() throws {
        try checkKerasLoads(config: HeadConfig(featureCount: 7 * 7 * 768, hidden: 16, classes: 2), shape: [7, 7, 768], bookModel: true)
    }

    func testKerasLoadsOurSoftmaxHead() throws {
        try checkKerasLoads(config: HeadConfig(featureCount: 7 * 7 * 12, hidden: 10, classes: 3), shape: [7, 7, 12], bookModel: false)
    }
}

final class HeadFileRefusalTests: XCTestCase {
    func testAHeadHoldingANaNIsNeverSaved() throws {
        let head = try Head(config: HeadConfig(featureCount: 4, hidden: 3), seed: 1)
        head.w2[1] = .nan
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nan-\(UUID().uuidString).h5").path
        XCTAssertThrowsError(try HeadFile.save(head, to: path)) { error in
            XCTAssertEqual(error as? HeadError, .headFile(path: path, reason: "the head's weights hold a NaN or an infinity; not saved"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testAHeadTooLargeToAddressIsRefusedBeforeAllocating() {
        XCTAssertThrowsError(try Head(config: HeadConfig(featureCount: 37_632, hidden: 2_000_000_000))) { error in
            guard case .invalidConfig(let why)? = error as? HeadError else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains("more than the 2147483648 a head may have"), why)
        }
        XCTAssertThrowsError(try Head(config: HeadConfig(featureCount: Int.max / 2, hidden: 4)))
    }

    func testATrainerLargerThanTheMachineIsRefusedBeforeAllocating() throws {
        let head = try Head(config: HeadConfig(featureCount: 8, hidden: 2))
        XCTAssertThrowsError(try HeadTrainer(head: head, options: TrainingOptions(batchSize: Int.max / 4))) { error in
            guard case .tooLarge? = error as? HeadError else { return XCTFail("\(error)") }
        }
    }
}
