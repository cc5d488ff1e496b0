import Foundation
import Pipeline
import XCTest
@testable import Store

/// `--verify` on an extracted cache, corrupted through LMDB directly.
final class InspectionVerifyTests: XCTestCase {
    func open() throws -> (FeatureCache, [IndexEntry]) {
        let (_, path) = try InspectionFixture.extracted(self)
        let cache = try FeatureCache(path: path, fingerprint: nil)
        return (cache, try cache.indexEntries())
    }

    func raw(_ cache: FeatureCache, _ key: ContentKey) throws -> [UInt8] {
        try cache.lmdb.read { txn in try cache.lmdb.get(txn, "records", Layout.recordKey(key, view: 0)) { Array($0!) } }
    }

    func put(_ cache: FeatureCache, _ key: ContentKey, _ bytes: [UInt8]) throws {
        _ = try cache.lmdb.write { txn in try cache.lmdb.put(txn, "records", Layout.recordKey(key, view: 0), bytes) }
    }

    func testASoundCacheIsOK() throws {
        let (cache, _) = try open()
        let r = try Inspection.verify(cache)
        XCTAssertTrue(r.ok)
        XCTAssertEqual(r.problems, [])
        XCTAssertEqual([r.recordsChecked, r.indexEntriesChecked, r.errorEntriesChecked], [5, 5, 1])
    }

    func testFlippedBytesInAValueAreFound() throws {
        let (cache, entries) = try open()
        let e = entries.first { $0.path == "train/horses/b.png" }!
        var bytes = try raw(cache, e.key)
        bytes[bytes.count / 2] ^= 0xFF
        bytes[bytes.count / 2 + 1] ^= 0x01
        try put(cache, e.key, bytes)
        let r = try Inspection.verify(cache)
        XCTAssertFalse(r.ok)
        XCTAssertEqual(r.problems.count, 1, "\(r.problems)")
        XCTAssertEqual(r.problems.first?.database, "records")
        XCTAssertEqual(r.problems.first?.item, "\(e.key)/0")
        XCTAssertTrue(r.problems.first?.reason.contains("CRC-32") ?? false, "\(r.problems)")
    }

    func testATruncatedValueIsFound() throws {
        let (cache, entries) = try open()
        let e = entries.first { $0.path == "validation/humans/e.png" }!
        let bytes = try raw(cache, e.key)
        try put(cache, e.key, Array(bytes.prefix(bytes.count - 100)))
        let r = try Inspection.verify(cache)
        XCTAssertEqual(r.problems, [ProblemView(
            database: "records", item: "\(e.key)/0",
            reason: "value is \(bytes.count - 100) bytes, header (f16, shape [3, 3, 768]) says \(bytes.count)")])
    }

    func testAnIndexEntryPointingToAMissingRecordIsFound() throws {
        let (cache, entries) = try open()
        let e = entries.first { $0.path == "train/humans/c.jpg" }!
        try cache.lmdb.write { txn in try cache.lmdb.delete(txn, "records", Layout.recordKey(e.key, view: 0)) }
        let r = try Inspection.verify(cache)
        XCTAssertEqual(r.problems, [ProblemView(database: "index", item: "train/humans/c.jpg",
                                                reason: "points to record \(e.key)/0, which does not exist")])
        XCTAssertEqual(r.recordsChecked, 4)
    }

    func testEveryProblemIsListedNotOnlyTheFirst() throws {
        let (cache, entries) = try open()
        let byPath = Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0) })
        var flipped = try raw(cache, byPath["train/horses/a.png"]!.key)
        flipped[40] ^= 0x80
        try put(cache, byPath["train/horses/a.png"]!.key, flipped)
        let cut = try raw(cache, byPath["validation/horses/d.jpg"]!.key)
        try put(cache, byPath["validation/horses/d.jpg"]!.key, Array(cut.prefix(10)))
        try cache.lmdb.write { txn in try cache.lmdb.delete(txn, "records", Layout.recordKey(byPath["train/humans/c.jpg"]!.key, view: 0)) }
        let r = try Inspection.verify(cache)
        XCTAssertEqual(Set(r.problems.map(\.item)), ["\(byPath["train/horses/a.png"]!.key)/0", "\(byPath["validation/horses/d.jpg"]!.key)/0",
                                                     "train/humans/c.jpg"])
    }
}
