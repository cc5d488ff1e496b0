import Foundation
import XCTest
@testable import Store

/// Index entry version 3: the stat data git's index keeps (size, mtime, ctime, inode, device) and when the file
/// was hashed, so a rerun can trust an unchanged file without opening it; the racy rule; old versions still read,
/// newer ones refused as such.
final class StatDataTests: XCTestCase {
    let second: Int64 = 1_000_000_000
    let stat = FileStat(size: 4_096, modificationTimeNanoseconds: 1_700_000_000_123_456_789,
                        changeTimeNanoseconds: 1_700_000_000_223_456_789, inode: 123_456_789_012, device: 66_306)

    func entry(hashedAt: Int64) -> IndexEntry {
        IndexEntry(path: "train/horses/a.png", key: testKey(1), label: 1, split: .train, stat: stat, hashedAtNanoseconds: hashedAt)
    }

    func testAnEntryRoundTripsItsStatDataThroughVersion3() throws {
        let e = entry(hashedAt: stat.modificationTimeNanoseconds + 60 * second)
        let bytes = Layout.encodeIndex(e)
        XCTAssertEqual(bytes.count, 92)
        XCTAssertEqual(bytes[0], 3)
        let back = try bytes.withUnsafeBytes { try Layout.decodeIndex(path: e.path, $0).get() }
        XCTAssertEqual(back, e)
        XCTAssertEqual(back.stat, stat)
    }

    func testAFileWithEveryStatFieldAsRecordedIsUnchanged() {
        XCTAssertEqual(entry(hashedAt: stat.modificationTimeNanoseconds + 60 * second).check(stat), .unchanged)
    }

    func testAnyDifferentStatFieldMeansChanged() {
        let e = entry(hashedAt: stat.modificationTimeNanoseconds + 60 * second)
        var changes: [(String, FileStat)] = []
        var s = stat; s.size += 1; changes.append(("size", s))
        s = stat; s.modificationTimeNanoseconds += 1; changes.append(("mtime", s))
        s = stat; s.changeTimeNanoseconds += 1; changes.append(("ctime", s))
        s = stat; s.inode += 1; changes.append(("inode", s))
        s = stat; s.device += 1; changes.append(("device", s))
        for (field, now) in changes { XCTAssertEqual(e.check(now), .changed, field) }
    }

    func testAFileHashedWithinTheRacyWindowOfItsModificationIsRacy() {
        // Hashed 1 s after its mtime: a write in the same tick of a coarse file-system clock would not show.
        XCTAssertEqual(entry(hashedAt: stat.modificationTimeNanoseconds + second).check(stat), .racy)
        // A clock behind the file system's: hashed "before" its modification time.
        XCTAssertEqual(entry(hashedAt: stat.modificationTimeNanoseconds - second).check(stat), .racy)
        XCTAssertEqual(entry(hashedAt: stat.modificationTimeNanoseconds + FileStat.racyWindowNanoseconds + 1).check(stat), .unchanged)
    }

    func testEntriesOfVersions1And2HaveNoStatDataAndAreUnknown() throws {
        let v3 = Layout.encodeIndex(entry(hashedAt: stat.modificationTimeNanoseconds + 60 * second))
        var v2 = Array(v3.prefix(56))
        v2[0] = 2
        v2 += withUnsafeBytes(of: CRC32.checksum(v2 + Array("train/horses/a.png".utf8)).littleEndian, Array.init)
        var v1 = Array(v3.prefix(56))
        v1[0] = 1
        for old in [v1, v2] {
            let e = try old.withUnsafeBytes { try Layout.decodeIndex(path: "train/horses/a.png", $0).get() }
            XCTAssertEqual(e.key, testKey(1))
            XCTAssertEqual(e.fileSize, stat.size)
            XCTAssertNil(e.stat)
            XCTAssertEqual(e.check(stat), .unknown, "version \(old[0]): hashed again once")
        }
    }

    func testAnEntryOfANewerVersionIsRefusedAsWrittenByANewerHeadstartNotAsDamage() throws {
        let dir = temporaryDirectory(self)
        let cache = try FeatureCache(path: dir, fingerprint: testFingerprint())
        try cache.commit(batch: Batch(records: [PendingRecord(key: testKey(1), values: testValues(24, seed: 1))],
                                      entries: [entry(hashedAt: 1)]))
        try cache.lmdb.write { txn in
            var v = Layout.encodeIndex(entry(hashedAt: 1)) + [0, 0, 0, 0]
            v[0] = 4
            try cache.lmdb.put(txn, "index", Array("train/horses/a.png".utf8), v)
        }
        XCTAssertThrowsError(try cache.indexEntries(skippingDamaged: true)) { error in
            XCTAssertEqual(error as? StoreError, .newerEntryVersion(cache: dir, path: "train/horses/a.png", version: 4))
            XCTAssertTrue("\(error)".contains("has layout version 4, and this build reads versions 1 to 3: the cache was written by a newer headstart"), "\(error)")
        }
        XCTAssertThrowsError(try cache.screen(), "a reader does not take it for damage to skip") { error in
            XCTAssertEqual(error as? StoreError, .newerEntryVersion(cache: dir, path: "train/horses/a.png", version: 4))
        }
    }

    func testAKeptOutFileKeepsItsKeyLabelSplitAndStatInTheErrorsTable() throws {
        let e = entry(hashedAt: stat.modificationTimeNanoseconds + 60 * second)
        let kept = ErrorEntry(keptOut: e, reason: "same content as train file x: kept in train only", time: 1_700_000_100)
        let bytes = Layout.encodeError(kept)
        let back = try bytes.withUnsafeBytes { try Layout.decodeError(path: e.path, $0).get() }
        XCTAssertEqual(back, kept)
        XCTAssertEqual(back.keptOut, e)
        XCTAssertEqual(back.check(stat), .unchanged)
        XCTAssertTrue(back.isSameOutcome(ErrorEntry(keptOut: e, reason: kept.reason, time: 5)), "the time is not the outcome")
        XCTAssertFalse(back.isSameOutcome(ErrorEntry(keptOut: e, reason: "another reason")))
    }

    func testAnErrorValueWrittenBeforeTheOptionalFieldsStillReads() throws {
        let old = Array(#"{"reason":"not an image","time":1700000000.5}"#.utf8)
        let e = try old.withUnsafeBytes { try Layout.decodeError(path: "a/b.jpg", $0).get() }
        XCTAssertEqual(e, ErrorEntry(path: "a/b.jpg", reason: "not an image", time: 1_700_000_000.5))
        XCTAssertNil(e.keptOut)
        XCTAssertEqual(e.check(stat), .unknown)
    }
}
