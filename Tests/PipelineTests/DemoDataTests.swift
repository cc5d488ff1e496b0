import Extract
import Foundation
import Pipeline
import XCTest

/// The offline demo's generated image set.
final class DemoDataTests: XCTestCase {
    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-demo-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testWritesTheFlowFromDirectoryLayoutWithTheRequestedCounts() throws {
        let root = try temporary()
        XCTAssertEqual(try DemoData.generate(into: root, train: 3, validation: 2, size: 64), 10)
        let dataset = try Dataset.scan(root: root)
        XCTAssertEqual(dataset.classNames, ["discs", "stripes"])
        XCTAssertEqual(dataset.items.filter { $0.split == .train }.count, 6)
        XCTAssertEqual(dataset.items.filter { $0.split == .validation }.count, 4)
        XCTAssertTrue(dataset.problems.isEmpty, "\(dataset.problems)")
    }

    func testTheSameSeedGivesTheSameBytesAndAnotherSeedDifferentOnes() throws {
        let a = try temporary(), b = try temporary(), c = try temporary()
        try DemoData.generate(into: a, seed: 1, train: 2, validation: 1, size: 48)
        try DemoData.generate(into: b, seed: 1, train: 2, validation: 1, size: 48)
        try DemoData.generate(into: c, seed: 2, train: 2, validation: 1, size: 48)
        let file = "train/discs/discs-001.png"
        let bytes = { (root: URL) in try Data(contentsOf: root.appendingPathComponent(file)) }
        XCTAssertEqual(try bytes(a), try bytes(b))
        XCTAssertNotEqual(try bytes(a), try bytes(c))
    }

    func testDiscsAndStripesDifferInTheirPixels() throws {
        let root = try temporary()
        try DemoData.generate(into: root, train: 1, validation: 0, size: 64)
        let disc = try ImageDecoder.decode(path: root.appendingPathComponent("train/discs/discs-000.png").path).image
        let stripes = try ImageDecoder.decode(path: root.appendingPathComponent("train/stripes/stripes-000.png").path).image
        XCTAssertEqual(disc.width, 64)
        // A disc image's border rows are background; a stripes image's border crosses bands of both colours.
        func spread(_ img: RGBImage) -> Int {
            let top = (0..<img.width).map { Int(img.pixels[$0 * 3]) }
            return top.max()! - top.min()!
        }
        XCTAssertLessThan(spread(disc), spread(stripes))
    }
}
