import Foundation
import Pipeline
import Store
import XCTest

/// LMDB keys are at most 511 bytes, and the index and errors tables are keyed by the path.
final class LongPathTests: XCTestCase {
    func testAPathTooLongForTheCacheIsSkippedWithItsReasonAndTheRunGoesOn() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 10)
        // 3 folders of 150 bytes + a 70-byte name: a 530-byte relative path (each component under NAME_MAX 255).
        let deep = "b/" + (0..<3).map { String(repeating: "\($0)", count: 150) + "/" }.joined() + String(repeating: "x", count: 66) + ".jpg"
        XCTAssertGreaterThan(deep.utf8.count, 511)
        d.write(deep, TestImages.jpegVariant(50))
        let cache = temporaryDirectory(self, "cache")
        let s = try extract(d, cache: cache, batch: 4)
        XCTAssertEqual(s.extracted, 20, "every other image")
        let failure = try XCTUnwrap(s.failed.first { $0.path == deep }, "\(s.failed)")
        XCTAssertEqual(failure.reason, "the path is \(deep.utf8.count) bytes long; the cache keys paths of at most 511 bytes (UTF-8): not extracted")
        let c = try FeatureCache.open(cache)
        XCTAssertEqual(try c.indexEntries().count, 20)
        XCTAssertEqual(try c.verify(), [])
    }
}
