import Extract
import Foundation
import Pipeline
import Store
import XCTest

/// Pipeline files: what they say, what they leave to the book's defaults, and what they get wrong.
final class PipelineDefinitionTests: XCTestCase {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-pipeline-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testTheHorsesOrHumansPipelineHoldsTheBooksSettings() throws {
        let path = repositoryRoot.appendingPathComponent("pipelines/horses-or-humans.yaml").path
        let p = try PipelineDefinition.load(path: path)
        XCTAssertEqual(try p.extractionSettings(source: path), ExtractionSettings(layer: .mixed7, size: 150, resize: .nearest, preprocess: .rescale))
        XCTAssertEqual(p.train?.epochs, 40)
        XCTAssertEqual(p.train?.batch, 20)
        XCTAssertEqual(p.train?.lr, 1e-4)
        XCTAssertEqual(p.train?.hidden, 1024)
    }

    func testEveryShippedPipelineLoads() throws {
        for name in ["horses-or-humans", "cats-vs-dogs", "cats-vs-dogs-full", "demo"] {
            let path = repositoryRoot.appendingPathComponent("pipelines/\(name).yaml").path
            let p = try PipelineDefinition.load(path: path)
            XCTAssertEqual(p.name, name)
            XCTAssertNoThrow(try p.extractionSettings(source: path), name)
            XCTAssertNoThrow(try p.featureDType(source: path), name)
        }
    }

    func testSilentKeysTakeTheBooksDefaults() throws {
        let path = try write("dataset: d\n")
        XCTAssertEqual(try PipelineDefinition.load(path: path).extractionSettings(source: path), ExtractionSettings())
        XCTAssertEqual(try PipelineDefinition.load(path: path).featureDType(source: path), .f16)
    }

    func testAnUnknownValueIsAnErrorNamingItsKey() throws {
        let path = try write("extract:\n  layer: mixed77\n")
        XCTAssertThrowsError(try PipelineDefinition.load(path: path).extractionSettings(source: path)) { error in
            XCTAssertEqual("\(error)", "\(path): extract.layer 'mixed77' is not one of mixed0, mixed1, mixed2, mixed3, mixed4, mixed5, mixed6, mixed7, mixed8, mixed9, mixed10")
        }
        let dtype = try write("extract:\n  dtype: f64\n")
        XCTAssertThrowsError(try PipelineDefinition.load(path: dtype).featureDType(source: dtype)) { error in
            XCTAssertEqual("\(error)", "\(dtype): extract.dtype 'f64' is not f16 or f32")
        }
    }

    func testAWronglyTypedValueNamesWhereItIs() throws {
        let path = try write("train:\n  epochs: many\n")
        XCTAssertThrowsError(try PipelineDefinition.load(path: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(path): train.epochs"), "\(error)")
        }
    }
}
