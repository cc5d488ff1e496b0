import Foundation
import Numerics
import XCTest

/// Committed fixtures live in Tests/Fixtures; the shared Horses-or-Humans images beside the repository.
enum Fixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String {
        repositoryRoot.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative).path
    }

    static func floats(_ relative: String) throws -> [Float] { try NPY.read(path(relative)).floats }

    static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(relative)))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// ../shared/data/horse-or-human from the repository root, or a skip when this machine does not have it.
    static func horsesOrHumans() throws -> URL {
        let url = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/data/horse-or-human")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("the Horses-or-Humans images are not at \(url.path)")
        }
        return url
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// max |ours − reference| ≤ tolerance · max |reference|, reporting the worst difference either way.
func assertClose(_ ours: [Float], _ reference: [Float], relativeTo tolerance: Float, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard ours.count == reference.count else {
        return XCTFail("\(what): \(ours.count) values, reference has \(reference.count)", file: file, line: line)
    }
    let scale = reference.map(abs).max() ?? 0
    var worst: Float = 0, at = 0
    for i in ours.indices where abs(ours[i] - reference[i]) > worst || ours[i].isNaN { worst = abs(ours[i] - reference[i]); at = i }
    XCTAssertGreaterThan(scale, 0, "\(what): the reference is all zeros", file: file, line: line)
    XCTAssertLessThanOrEqual(worst, tolerance * scale,
        "\(what): max |ours − reference| = \(worst) at \(at) (ours \(ours[at]), reference \(reference[at])), max |reference| = \(scale)",
        file: file, line: line)
}
