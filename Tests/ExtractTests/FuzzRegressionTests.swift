import Extract
import Foundation
import Numerics
import XCTest

/// Every input in Tests/Fixtures/fuzz/images and …/npy — what the fuzzers (Fuzz/run) found, and the crafted
/// headers that trapped before the fuzzers existed — replayed through the same code: each ends in a value or a
/// typed error, never a trap.
final class FuzzRegressionTests: XCTestCase {
    static func inputs(_ target: String) throws -> [URL] {
        let dir = Fixtures.repositoryRoot.appendingPathComponent("Tests/Fixtures/fuzz/\(target)")
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
    }

    func testEveryImageInputDecodesOrIsRefusedWithAnImageError() throws {
        let inputs = try Self.inputs("images")
        XCTAssertGreaterThanOrEqual(inputs.count, 5)
        for url in inputs {
            let bytes = [UInt8](try Data(contentsOf: url))
            do {
                let d = try ImageDecoder.decode(data: bytes, name: url.lastPathComponent, pixelLimit: 1 << 20)
                for method in ResizeMethod.allCases {
                    XCTAssertEqual(ImageResize.resize(d.image, height: 75, width: 75, method: method).pixels.count, 75 * 75 * 3)
                }
            } catch let e as ImageError {
                XCTAssertEqual(e.path, url.lastPathComponent)
            }
        }
    }

    func testEveryNPYInputParsesOrIsRefusedWithAFormatError() throws {
        let inputs = try Self.inputs("npy")
        XCTAssertGreaterThanOrEqual(inputs.count, 2)
        for url in inputs {
            XCTAssertThrowsError(try NPY.parse(try Data(contentsOf: url), name: url.lastPathComponent), url.lastPathComponent) { error in
                XCTAssertTrue(error is NPY.FormatError, "\(error)")
            }
        }
    }
}
