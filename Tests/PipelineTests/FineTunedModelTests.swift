import Extract
import Foundation
import HeadTrain
import KerasH5
import Pipeline
import XCTest

/// The fine-tuned model file: mixed7's ten retrained units and the head in one Keras .h5 (no trainer needed: the
/// block is the seeded base's mixed7, perturbed deterministically).
final class FineTunedModelTests: XCTestCase {
    var path: String!
    override func setUp() { path = temporaryDirectory(self, "model.h5").path }

    /// mixed7's units of the seeded base, each kernel value scaled by 1 ± 0.5 and each beta moved by up to 0.1.
    static let block: [ConvBNParameters] = FineTunedModel.units.map { c in
        var u = seededWeights.units[c]
        u.kernel = u.kernel.enumerated().map { j, w in w * (1 + 0.5 * sin(Float(j % 97 + c))) }
        u.beta = u.beta.enumerated().map { k, b in b + 0.1 * cos(Float(k + c)) }
        return u
    }

    /// The provenance of a `--layer mixed6` cache of the seeded base.
    static let cacheProvenance = HeadProvenance(
        weightsSHA256: seededWeights.sha256, weightsName: "seeded.h5", settings: ExtractionSettings(layer: .mixed6),
        classNames: ["horses", "humans"], featureShape: [7, 7, 768], weightsOrigin: .seeded(seed: 7, generatorVersion: 1))

    func head() throws -> Head { try Head(config: HeadConfig(featureCount: 7 * 7 * 768, hidden: 8), seed: 5) }

    func save(_ head: Head) throws {
        try FineTunedModel.save(head: head, block: Self.block, provenance: Self.cacheProvenance, to: path)
    }

    func testSavedBlockHeadAndProvenanceLoadBackAsAFineTunedMixed7Model() throws {
        let head = try head()
        try save(head)
        let model = try FineTunedModel.load(path: path)
        XCTAssertEqual(model.head.kernel1, head.kernel1)
        XCTAssertEqual(model.head.kernel2, head.kernel2)
        let block = try XCTUnwrap(model.block)
        XCTAssertEqual(block.count, 10)
        for (a, b) in zip(block, Self.block) {
            XCTAssertEqual(a.kernelShape, b.kernelShape)
            XCTAssertEqual(a.kernel, b.kernel)
            XCTAssertEqual(a.beta, b.beta)
            XCTAssertEqual(a.movingMean, b.movingMean)
            XCTAssertEqual(a.movingVariance, b.movingVariance)
        }
        var expected = Self.cacheProvenance
        expected.settings.layer = .mixed7
        expected.fineTuning = .init(block: .mixed7, cacheLayer: .mixed6)
        XCTAssertEqual(model.provenance, expected)
    }

    func testTheFileHoldsMixed7sLayersUnderKeras3NamesInModelOrderThenTheHead() throws {
        try save(try head())
        let file = try KerasWeightsFile.read(path: path)
        // model.layers order of mixed7's weighted layers (as the Keras 3.15 book model lists them), named by conv2d_bn
        // position as a fresh Keras 3 session names them.
        XCTAssertEqual(file.layers.map(\.name), [
            "conv2d_64", "batch_normalization_64", "conv2d_65", "batch_normalization_65", "conv2d_61", "conv2d_66",
            "batch_normalization_61", "batch_normalization_66", "conv2d_62", "conv2d_67", "batch_normalization_62",
            "batch_normalization_67", "conv2d_60", "conv2d_63", "conv2d_68", "conv2d_69", "batch_normalization_60",
            "batch_normalization_63", "batch_normalization_68", "batch_normalization_69", "flatten", "dense", "dense_1"])
        let conv = try XCTUnwrap(file.layers.first { $0.name == "conv2d_63" })
        XCTAssertEqual(conv.weights.map(\.name), ["conv2d_63/kernel"])
        XCTAssertEqual(conv.weights[0].shape, [7, 1, 192, 192])  // branch7x7_3
        XCTAssertEqual(conv.weights[0].values, Self.block[3].kernel)
        let bn = try XCTUnwrap(file.layers.first { $0.name == "batch_normalization_69" })
        XCTAssertEqual(bn.weights.map(\.name), ["batch_normalization_69/beta", "batch_normalization_69/moving_mean",
                                                "batch_normalization_69/moving_variance"])
        XCTAssertEqual(bn.weights[0].values, Self.block[9].beta)
        XCTAssertEqual(bn.weights[2].values, seededWeights.units[69].movingVariance)
        XCTAssertEqual(file.attributes["headstart_finetuned"], "mixed7")
        XCTAssertEqual(file.attributes["headstart_finetune_cache_layer"], "mixed6")
        XCTAssertEqual(file.attributes["headstart_layer"], "mixed7")
        XCTAssertEqual(file.attributes["headstart_weights_sha256"], seededWeights.sha256)
    }

    func testAHeadReaderReadsTheModelsHead() throws {
        let head = try head()
        try save(head)
        let contents = try HeadFile.load(path: path)
        XCTAssertEqual(contents.head.kernel1, head.kernel1)
        XCTAssertEqual(contents.metadata["finetuned"], "mixed7")
    }

    func testApplyingTheBlockReplacesMixed7sUnitsAndNothingElse() throws {
        let applied = try FineTunedModel.apply(Self.block, to: seededWeights, model: path)
        XCTAssertEqual(applied.units.count, seededWeights.units.count)
        for c in applied.units.indices {
            let expected = FineTunedModel.units.contains(c) ? Self.block[c - 60] : seededWeights.units[c]
            XCTAssertEqual(applied.units[c].kernel, expected.kernel, "unit \(c)")
            XCTAssertEqual(applied.units[c].beta, expected.beta, "unit \(c)")
        }
        XCTAssertNotEqual(applied.units[60].kernel, seededWeights.units[60].kernel)
        XCTAssertEqual(applied.sha256, seededWeights.sha256)
    }

    func testABlockLayerOfTheWrongShapeInTheFileIsRefusedNamingTheLayer() throws {
        try save(try head())
        var file = try KerasWeightsFile.read(path: path)
        let i = try XCTUnwrap(file.layers.firstIndex { $0.name == "conv2d_62" })
        file.layers[i].weights[0] = KerasWeight(name: "conv2d_62/kernel", shape: [7, 1, 192, 192],
                                                values: file.layers[i].weights[0].values)  // 1×7 stored as 7×1
        try file.write(to: path, style: .variableLength)
        XCTAssertThrowsError(try FineTunedModel.load(path: path)) { error in
            XCTAssertEqual(error as? FineTunedModelError, .layerShape(
                path: path, layer: "conv2d_62", expected: "mixed7's conv2d_bn 62 (conv2d_62): one kernel [1, 7, 192, 192]",
                found: [[7, 1, 192, 192]]))
        }
    }

    func testAModelWithoutItsBlockIsRefused() throws {
        try save(try head())
        var file = try KerasWeightsFile.read(path: path)
        file.layers.removeFirst(20)
        try file.write(to: path, style: .variableLength)
        XCTAssertThrowsError(try FineTunedModel.load(path: path)) { error in
            XCTAssertEqual(error as? FineTunedModelError, .missingBlock(path: path, found: 2))
            XCTAssertTrue("\(error)".contains("mixed7's 20 Conv2D and BatchNormalization layers"), "\(error)")
        }
    }

    func testAPlainHeadIsNotAFineTunedModel() throws {
        var p = Self.cacheProvenance
        p.settings.layer = .mixed7
        try HeadFile.save(try head(), to: path, metadata: p.metadata)
        XCTAssertNil(try TrainedHead.load(path: path).block)
        XCTAssertThrowsError(try FineTunedModel.load(path: path)) { error in
            XCTAssertEqual(error as? FineTunedModelError, .notFineTuned(path: path))
        }
    }

    func testSavingRefusesFeaturesOfAnotherCutThanMixed6() throws {
        var p = Self.cacheProvenance
        p.settings.layer = .mixed7
        XCTAssertThrowsError(try FineTunedModel.save(head: try head(), block: Self.block, provenance: p, to: path)) { error in
            XCTAssertEqual(error as? FineTunedModelError, .wrongCut(path: path, layer: .mixed7))
            XCTAssertTrue("\(error)".contains("--layer mixed6"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testSavingRefusesABlockThatIsNotMixed7s() throws {
        XCTAssertThrowsError(try FineTunedModel.save(head: try head(), block: Array(Self.block.prefix(9)),
                                                     provenance: Self.cacheProvenance, to: path)) { error in
            XCTAssertEqual(error as? FineTunedModelError, .blockCount(path: path, count: 9))
        }
        var swapped = Self.block
        swapped.swapAt(2, 3)  // the 1×7 and 7×1 convolutions of branch7x7
        XCTAssertThrowsError(try FineTunedModel.save(head: try head(), block: swapped, provenance: Self.cacheProvenance,
                                                     to: path)) { error in
            guard case let .layerShape(_, layer, _, _)? = error as? FineTunedModelError else { return XCTFail("\(error)") }
            XCTAssertEqual(layer, "conv2d_62")
        }
    }

    func testAFineTunedModelDoesNotFitAMixed7CacheOfItsBase() throws {
        try save(try head())
        let model = try FineTunedModel.load(path: path)
        var cache = Self.cacheProvenance
        cache.settings.layer = .mixed7
        XCTAssertThrowsError(try HeadEvaluation.check(model.provenance, against: cache, head: path, cache: "c")) { error in
            XCTAssertTrue("\(error)".contains("fine-tuned from mixed7"), "\(error)")
        }
    }
}
