import Foundation
import XCTest

/// Tests/Fixtures/keras-h5, found by walking up from this file to the directory holding Package.swift.
enum Fixtures {
    static let repoRoot: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()

    static func path(_ name: String) -> String {
        repoRoot.appendingPathComponent("Tests/Fixtures/keras-h5/\(name)").path
    }

    /// expected.json, written by Tools/keras-reference/make_h5_fixtures.py with the Keras and h5py
    /// versions that produced the fixtures.
    struct Expected: Decodable {
        struct Weight: Decodable { var name: String; var shape: [Int]; var first: [Float]; var last: Float; var sum: Double }
        struct Layer: Decodable { var name: String; var weights: [Weight] }
        var versions: [String: String]
        var layers: [Layer]
    }

    static let expected: Expected = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: path("expected.json")))
        return try! JSONDecoder().decode(Expected.self, from: data)
    }()
}

/// A fresh directory under the system temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("kerash5-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}
