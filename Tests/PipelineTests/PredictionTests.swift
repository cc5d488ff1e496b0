import Extract
import Foundation
import HeadTrain
import Pipeline
import XCTest

/// The library side of `predict` and `export-keras` that needs no network run.
final class PredictionTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-predict-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func touch(_ relative: String) throws {
        let url = dir.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: Data([1])))
    }

    func testDirectoriesExpandToTheirImagesSortedByCodePointAndFilesStayAsGiven() throws {
        for f in ["b.png", "B.jpeg", "a/z.jpg", "a/y/x.PNG", "ä.bmp", "read-me.txt", ".hidden.png", ".cache/c.png"] { try touch(f) }
        let root = dir.path
        let paths = try Predictor.imagePaths(["/some/file.gif", root, root + "/read-me.txt"])
        // Code-point order as Python's sorted: "B" < "a" < "b" < "ä"; hidden files and folders skipped.
        XCTAssertEqual(paths, ["/some/file.gif"] + ["B.jpeg", "a/y/x.PNG", "a/z.jpg", "b.png", "ä.bmp"].map { root + "/" + $0 }
            + [root + "/read-me.txt"])
    }

    func testADirectoryWithoutImagesIsAnErrorNamingIt() throws {
        try touch("notes.txt")
        XCTAssertThrowsError(try Predictor.imagePaths([dir.path])) { error in
            XCTAssertEqual(error as? PredictionError, .noImages(directory: dir.path))
        }
    }

    func testABinaryPredictionKeepsATinySigmoidAndGivesBothClassProbabilities() {
        let p = ImagePrediction(path: "cat.jpg", classIndex: 0, className: "horses", output: [4.98e-24])
        XCTAssertEqual(p.probabilities, [1, Double(Float(4.98e-24))])
        XCTAssertEqual(p.probability, 1)
        XCTAssertEqual(p.output[0], 4.98e-24)
        let q = ImagePrediction(path: "x", classIndex: 1, className: "humans", output: [0.75])
        XCTAssertEqual(q.probability, 0.75)
        XCTAssertEqual(q.probabilities, [0.25, 0.75])
    }

    func testAHeadWhoseRecordedClassesDisagreeWithItsOutputsIsRefused() throws {
        let head = try Head(config: HeadConfig(featureCount: 7 * 7 * 768, hidden: 2, classes: 3), seed: 1)
        let provenance = HeadProvenance(weightsSHA256: "ab", weightsName: "w.h5", settings: ExtractionSettings(),
                                        classNames: ["horses", "humans"], featureShape: [7, 7, 768], weightsOrigin: .other)
        let path = dir.appendingPathComponent("head.h5").path
        try HeadFile.save(head, to: path, metadata: provenance.metadata)
        XCTAssertThrowsError(try TrainedHead.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("2 class names") && "\(error)".contains("3 classes"), "\(error)")
        }
    }

    func testAHeadWhoseRecordedFeatureShapeDisagreesWithItsFirstLayerIsRefused() throws {
        let head = try Head(config: HeadConfig(featureCount: 8 * 8 * 768, hidden: 2), seed: 1)
        let provenance = HeadProvenance(weightsSHA256: "ab", weightsName: "w.h5", settings: ExtractionSettings(),
                                        classNames: ["a", "b"], featureShape: [7, 7, 768], weightsOrigin: .other)
        let path = dir.appendingPathComponent("head.h5").path
        try HeadFile.save(head, to: path, metadata: provenance.metadata)
        XCTAssertThrowsError(try TrainedHead.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains("[7, 7, 768]") && "\(error)".contains("49152"), "\(error)")
        }
    }

    func testTheCutModelsLayersAreAPrefixOfTheFullModelsAsTheExportAssumes() {
        // KerasExport writes KerasOrder.layers(cut:) for the base; Keras's Model(input, cut-output).layers is the full
        // InceptionV3's list up to the cut (checked with Keras 3.15: 229 layers for mixed7).
        let full = KerasOrder.layers(cut: .mixed10).map(\.name)
        for cut in CutLayer.allCases {
            let names = KerasOrder.layers(cut: cut).map(\.name)
            XCTAssertEqual(names, Array(full.prefix(names.count)), cut.rawValue)
            XCTAssertEqual(names.last, cut.rawValue)
        }
        XCTAssertEqual(KerasOrder.layers(cut: .mixed7).count, 229)
    }
}
