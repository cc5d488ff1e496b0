import Foundation
import Numerics
import XCTest
@testable import Store

final class FingerprintTests: XCTestCase {
    func testOpeningWithADifferentFingerprintIsRefusedNamingEachDifferingField() throws {
        let dir = temporaryDirectory(self)
        _ = try FeatureCache(path: dir, fingerprint: testFingerprint())
        var other = testFingerprint()
        other.layer = "mixed6"
        other.dtype = .f32
        other.extra["note"] = "x"
        XCTAssertThrowsError(try FeatureCache(path: dir, fingerprint: other)) { error in
            guard case let StoreError.fingerprintMismatch(cache, diffs) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(cache, dir)
            XCTAssertEqual(diffs, [
                FingerprintDifference(field: "layer", old: "mixed7", new: "mixed6"),
                FingerprintDifference(field: "dtype", old: "f16", new: "f32"),
                FingerprintDifference(field: "extra.note", old: "(absent)", new: "x"),
            ])
            let text = "\(error)"
            XCTAssertTrue(text.contains("layer: cache has mixed7, this run has mixed6"), text)
            XCTAssertTrue(text.contains("--rebuild"), text)
        }
    }

    func testReopeningWithTheSameFingerprintKeepsTheContents() throws {
        let dir = temporaryDirectory(self)
        try FeatureCache(path: dir, fingerprint: testFingerprint())
            .commit(batch: Batch(records: [PendingRecord(key: testKey(1), values: testValues(24, seed: 1))]))
        let again = try FeatureCache(path: dir, fingerprint: testFingerprint())
        XCTAssertTrue(try again.contains(key: testKey(1)))
        let readOnly = try FeatureCache(path: dir, fingerprint: nil)
        XCTAssertEqual(readOnly.fingerprint, testFingerprint())
    }

    func testRebuildWipesTheCacheAndTakesTheNewFingerprint() throws {
        let dir = temporaryDirectory(self)
        try FeatureCache(path: dir, fingerprint: testFingerprint())
            .commit(batch: Batch(records: [PendingRecord(key: testKey(1), values: testValues(24, seed: 1))]))
        let rebuilt = try FeatureCache(path: dir, fingerprint: testFingerprint(dtype: .f32), rebuild: true)
        XCTAssertEqual(try rebuilt.counts().records, 0)
        XCTAssertEqual(try FeatureCache(path: dir, fingerprint: nil).fingerprint.dtype, .f32)
    }

    func testOpeningAMissingCacheWithoutAFingerprintIsNotACache() {
        let dir = temporaryDirectory(self)
        XCTAssertThrowsError(try FeatureCache(path: dir, fingerprint: nil)) { error in
            guard case StoreError.notACache(let cache, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(cache, dir)
        }
    }

    func testDifferentClassNamesAreRefused() throws {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint())
        try cache.setClassNames(["horses", "humans"])
        XCTAssertEqual(try cache.classNames(), ["horses", "humans"])
        XCTAssertThrowsError(try cache.setClassNames(["cats", "dogs"])) { error in
            guard case StoreError.classNamesConflict(_, let stored, let given) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(stored, ["horses", "humans"]); XCTAssertEqual(given, ["cats", "dogs"])
        }
    }
}

final class RecordTests: XCTestCase {
    func testIdenticalContentIsStoredOnce() throws {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint())
        let k = testKey(7)
        let v = testValues(24, seed: 7)
        let first = try cache.commit(batch: Batch(records: [PendingRecord(key: k, values: v)],
                                                  entries: [testEntry("a/one.png", k)]))
        let second = try cache.commit(batch: Batch(records: [PendingRecord(key: k, values: v)],
                                                   entries: [testEntry("b/copy-of-one.png", k, label: 1)]))
        XCTAssertEqual(first, 1)
        XCTAssertEqual(second, 0, "the second file with the same bytes adds no record")
        let c = try cache.counts()
        XCTAssertEqual(c.records, 1)
        XCTAssertEqual(c.entries, 2)
        XCTAssertEqual(try cache.indexEntries().map(\.key), [k, k])
    }

    func testFloat16RoundTripIsWithinHalfPrecisionRounding() throws {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint(dtype: .f16))
        var v = testValues(24, seed: 3, scale: 100)
        v[0] = 0; v[1] = -0.0; v[2] = 65504; v[3] = 1e-6  // zero, max half, a subnormal
        try cache.commit(batch: Batch(records: [PendingRecord(key: testKey(3), values: v)]))
        let r = try XCTUnwrap(try cache.record(key: testKey(3)))
        XCTAssertEqual(r.shape, [2, 3, 4]); XCTAssertEqual(r.dtype, .f16)
        for (a, b) in zip(v, r.values) {
            // Round to nearest: error ≤ half an ulp = 2^-11 relative for normals, 2^-25 absolute for subnormals.
            XCTAssertLessThanOrEqual(abs(a - b), max(abs(a) * 0x1p-11, 0x1p-25), "\(a) → \(b)")
            XCTAssertEqual(b, Half.float(Half.bits(a)))
        }
    }

    func testFloat32RoundTripIsExact() throws {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint(dtype: .f32))
        var v = testValues(24, seed: 4, scale: 1000)
        v[0] = .leastNonzeroMagnitude; v[1] = .greatestFiniteMagnitude; v[2] = -0.0
        try cache.commit(batch: Batch(records: [PendingRecord(key: testKey(4), view: 3, values: v)]))
        let r = try XCTUnwrap(try cache.record(key: testKey(4), view: 3))
        XCTAssertEqual(r.values.map(\.bitPattern), v.map(\.bitPattern))
        XCTAssertNil(try cache.record(key: testKey(4), view: 0), "views are separate records")
    }

    func testAWrongNumberOfValuesIsRefusedNamingTheRecord() throws {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint())
        XCTAssertThrowsError(try cache.commit(batch: Batch(records: [PendingRecord(key: testKey(1), values: [1, 2])]))) { error in
            XCTAssertEqual(error as? StoreError, .wrongValueCount(cache: cache.path, record: "\(testKey(1))/0", expected: 24, found: 2))
        }
    }

    func testTheMapGrowsWhenFull() throws {
        // 64 KiB map; 40 float32 records of 16 KiB need > 640 KiB.
        let shape = [4, 4, 256]
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint(dtype: .f32, shape: shape),
                                     initialMapSize: 64 << 10)
        for b in 0..<10 {
            let records = (0..<4).map { i in PendingRecord(key: testKey(b * 4 + i), values: testValues(4096, seed: UInt64(b * 4 + i))) }
            try cache.commit(batch: Batch(records: records))
        }
        XCTAssertGreaterThan(cache.mapGrowths, 0)
        XCTAssertGreaterThanOrEqual(cache.mapSize, 640 << 10)
        XCTAssertEqual(try cache.counts().records, 40)
        XCTAssertEqual(try cache.record(key: testKey(39))?.values, testValues(4096, seed: 39))
        XCTAssertEqual(try cache.verify(), [])
    }

    func testFeaturesDecodeIntoTheCallersBufferInEntryOrder() throws {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint(dtype: .f16))
        let entries = (0..<3).map { testEntry("p\($0).png", testKey($0)) }
        try cache.commit(batch: Batch(records: (0..<3).map { PendingRecord(key: testKey($0), values: testValues(24, seed: UInt64($0))) },
                                      entries: entries))
        var buffer = [Float](repeating: .nan, count: 3 * 24)
        try buffer.withUnsafeMutableBufferPointer {
            try cache.features(for: [entries[2], entries[0], entries[1]], into: $0, checkChecksums: true)
        }
        for (slot, i) in [2, 0, 1].enumerated() {
            XCTAssertEqual(Array(buffer[slot * 24..<(slot + 1) * 24]), try cache.record(key: testKey(i))!.values)
        }
        var small = [Float](repeating: 0, count: 24)
        XCTAssertThrowsError(try small.withUnsafeMutableBufferPointer { try cache.features(for: entries, into: $0) }) { error in
            XCTAssertEqual(error as? StoreError, .bufferTooSmall(cache: cache.path, needed: 72, given: 24))
        }
    }

    func testFeaturesOfAnEntryWithoutARecordNameThePath() throws {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint())
        var buffer = [Float](repeating: 0, count: 24)
        XCTAssertThrowsError(try buffer.withUnsafeMutableBufferPointer {
            try cache.features(for: [testEntry("gone.png", testKey(9))], into: $0)
        }) { error in
            XCTAssertEqual(error as? StoreError, .missingRecord(cache: cache.path, record: "\(testKey(9))/0", path: "gone.png"))
        }
    }
}

final class IndexTests: XCTestCase {
    func testIndexEntriesRoundTripAndIterateInPathOrder() throws {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint())
        let paths = ["b/2.png", "a/10.png", "a/9.png", "Z.png", "é.png"]
        var entries = paths.enumerated().map { testEntry($1, testKey($0), label: Int32($0), split: $0 % 2 == 0 ? .train : .validation) }
        entries[0].fileSize = 123_456_789_012; entries[0].modificationTimeNanoseconds = -5
        try cache.commit(batch: Batch(entries: entries))
        let read = try cache.indexEntries()
        XCTAssertEqual(read.map(\.path), ["Z.png", "a/10.png", "a/9.png", "b/2.png", "é.png"], "bytewise UTF-8 order")
        XCTAssertEqual(try cache.indexEntry(path: "b/2.png"), entries[0])
        XCTAssertEqual(try cache.indexEntries(split: .validation).map(\.path), ["a/10.png", "Z.png"].sorted())
    }

    func testCountsPerSplitAndLabel() throws {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint())
        try cache.commit(batch: Batch(
            records: [PendingRecord(key: testKey(0), values: testValues(24, seed: 0))],
            entries: [testEntry("a", testKey(0), label: 0), testEntry("b", testKey(0), label: 1),
                      testEntry("c", testKey(0), label: 1), testEntry("d", testKey(0), label: 1, split: .validation)],
            errors: [ErrorEntry(path: "e", reason: "truncated PNG")]))
        let c = try cache.counts()
        XCTAssertEqual(c.records, 1); XCTAssertEqual(c.errors, 1); XCTAssertEqual(c.entries, 4)
        XCTAssertEqual(c.entriesBySplit, [.train: 3, .validation: 1])
        XCTAssertEqual(c.entriesBySplitAndLabel, [.train: [0: 1, 1: 2], .validation: [1: 1]])
    }

    func testAFixedPathLeavesTheErrorsTableAndABrokenPathLeavesTheIndex() throws {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint())
        try cache.commit(batch: Batch(entries: [testEntry("good.png", testKey(1))],
                                      errors: [ErrorEntry(path: "bad.png", reason: "0-byte file", time: 12.5)]))
        XCTAssertEqual(try cache.errorEntries(), [ErrorEntry(path: "bad.png", reason: "0-byte file", time: 12.5)])
        try cache.commit(batch: Batch(entries: [testEntry("bad.png", testKey(2))],
                                      errors: [ErrorEntry(path: "good.png", reason: "truncated", time: 13)]))
        XCTAssertEqual(try cache.indexEntries().map(\.path), ["bad.png"])
        XCTAssertEqual(try cache.errorEntries().map(\.path), ["good.png"])
        try cache.commit(batch: Batch(removedPaths: ["bad.png", "good.png"]))
        XCTAssertEqual(try cache.indexEntries(), [])
        XCTAssertEqual(try cache.errorEntries(), [])
    }
}

final class VerifyTests: XCTestCase {
    /// A cache with two sound records and index entries.
    func makeCache() throws -> FeatureCache {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint())
        try cache.commit(batch: Batch(
            records: [PendingRecord(key: testKey(1), values: testValues(24, seed: 1)),
                      PendingRecord(key: testKey(2), values: testValues(24, seed: 2))],
            entries: [testEntry("one.png", testKey(1)), testEntry("two.png", testKey(2))]))
        return cache
    }

    func rawRecord(_ cache: FeatureCache, _ key: ContentKey) throws -> [UInt8] {
        try cache.lmdb.read { txn in try cache.lmdb.get(txn, "records", Layout.recordKey(key, view: 0)) { Array($0!) } }
    }

    func putRaw(_ cache: FeatureCache, _ key: ContentKey, _ bytes: [UInt8]) throws {
        _ = try cache.lmdb.write { txn in try cache.lmdb.put(txn, "records", Layout.recordKey(key, view: 0), bytes) }
    }

    func testASoundCacheVerifiesClean() throws {
        XCTAssertEqual(try makeCache().verify(), [])
    }

    func testVerifyFindsAFlippedPayloadByte() throws {
        let cache = try makeCache()
        var raw = try rawRecord(cache, testKey(2))
        raw[raw.count - 5] ^= 0x10
        try putRaw(cache, testKey(2), raw)
        let problems = try cache.verify()
        XCTAssertEqual(problems.count, 1)
        XCTAssertEqual(problems.first?.database, "records")
        XCTAssertEqual(problems.first?.item, "\(testKey(2))/0")
        XCTAssertTrue(problems.first?.reason.contains("CRC-32") ?? false, "\(problems)")
        XCTAssertThrowsError(try cache.record(key: testKey(2)))
    }

    func testVerifyFindsATruncatedValue() throws {
        let cache = try makeCache()
        let raw = try rawRecord(cache, testKey(1))
        try putRaw(cache, testKey(1), Array(raw.prefix(raw.count - 7)))
        let problems = try cache.verify()
        XCTAssertEqual(problems.map(\.item), ["\(testKey(1))/0"])
        // header 12 + 4·3 = 24 bytes, payload 24 halves = 48 bytes
        XCTAssertEqual(problems.first?.reason, "value is 65 bytes, header (f16, shape [2, 3, 4]) says 72")
    }

    func testVerifyFindsAnIndexEntryPointingToAMissingRecord() throws {
        let cache = try makeCache()
        try cache.commit(batch: Batch(entries: [testEntry("three.png", testKey(3))]))
        XCTAssertEqual(try cache.verify(), [VerificationProblem(
            database: "index", item: "three.png", reason: "points to record \(testKey(3))/0, which does not exist")])
    }

    func testVerifyFindsARecordWhoseShapeDisagreesWithTheFingerprint() throws {
        let cache = try makeCache()
        try putRaw(cache, testKey(1), Layout.encodeRecord(values: testValues(6, seed: 0), shape: [6], dtype: .f16))
        XCTAssertEqual(try cache.verify().map(\.reason), ["header says f16 [6], fingerprint says f16 [2, 3, 4]"])
    }

    func testCRC32MatchesZlib() {
        // zlib.crc32(b"123456789") == 0xCBF43926 (the standard check value); and a length not a multiple of 8.
        XCTAssertEqual(Array("123456789".utf8).withUnsafeBytes { CRC32.checksum($0) }, 0xCBF4_3926)
        XCTAssertEqual(Array("The quick brown fox jumps over the lazy dog".utf8).withUnsafeBytes { CRC32.checksum($0) }, 0x414F_A339)
    }
}

final class CopyRecordsTests: XCTestCase {
    func cache(_ name: String, _ keys: [Int], fingerprint: CacheFingerprint = testFingerprint()) throws -> FeatureCache {
        let c = try FeatureCache(path: temporaryDirectory(self, name), fingerprint: fingerprint)
        try c.commit(batch: Batch(records: keys.map { PendingRecord(key: testKey($0), values: testValues(24, seed: UInt64($0))) }))
        return c
    }

    func testCopyRecordsAddsOnlyTheMissingRecordsByteForByte() throws {
        let source = try cache("source", [1, 2, 3, 4, 5])
        let dest = try cache("dest", [2, 4])
        let copied = try dest.copyRecords(from: source, chunk: 2)
        XCTAssertEqual(copied.added, 3)
        XCTAssertEqual(copied.alreadyPresent, 2)
        XCTAssertEqual(try dest.counts().records, 5)
        for k in 1...5 { XCTAssertEqual(try dest.record(key: testKey(k)), try source.record(key: testKey(k)), "record \(k)") }
        XCTAssertEqual(try dest.verify(), [])
    }

    func testCopyRecordsRefusesACacheWithAnotherFingerprintNamingTheField() throws {
        var fp = testFingerprint()
        fp.layer = "mixed6"
        let source = try cache("source", [1], fingerprint: fp)
        let dest = try cache("dest", [])
        XCTAssertThrowsError(try dest.copyRecords(from: source)) { error in
            guard case let StoreError.fingerprintMismatch(cache, diffs) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(cache, source.path)
            XCTAssertEqual(diffs.map(\.field), ["layer"])
        }
    }
}

final class ConcurrencyTests: XCTestCase {
    /// Readers on other threads keep reading committed records correctly while one writer commits and the map
    /// doubles under them (mdb_env_set_mapsize waits for no open transaction in this process).
    func testReadersRunBesideAWriterThatGrowsTheMap() throws {
        let shape = [4, 4, 64]
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint(dtype: .f32, shape: shape),
                                     initialMapSize: 64 << 10)
        let batches = 60
        let committed = UnsafeMutablePointer<Int>.allocate(capacity: 1)  // batches visible so far (guarded by lock)
        committed.initialize(to: 0)
        defer { committed.deallocate() }
        let lock = NSLock()
        var failures = [String]()
        var reads = 0
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            if worker == 0 {
                for b in 0..<batches {
                    let records = (0..<4).map { PendingRecord(key: testKey(b * 4 + $0), values: testValues(1024, seed: UInt64(b * 4 + $0))) }
                    do { try cache.commit(batch: Batch(records: records)) } catch {
                        lock.lock(); failures.append("commit \(b): \(error)"); lock.unlock()
                    }
                    lock.lock(); committed.pointee = b + 1; lock.unlock()
                }
            } else {
                var done = false
                var i = worker
                while !done {
                    lock.lock(); let n = committed.pointee; done = n == batches; lock.unlock()
                    guard n > 0 else { continue }
                    let id = (i * 7919) % (n * 4)
                    i += 1
                    do {
                        let r = try cache.record(key: testKey(id))
                        if r?.values != testValues(1024, seed: UInt64(id)) {
                            lock.lock(); failures.append("record \(id) read back wrong"); lock.unlock()
                        }
                        lock.lock(); reads += 1; lock.unlock()
                    } catch {
                        lock.lock(); failures.append("read \(id): \(error)"); lock.unlock()
                    }
                }
            }
        }
        XCTAssertEqual(failures, [])
        XCTAssertGreaterThan(reads, 0)
        XCTAssertGreaterThan(cache.mapGrowths, 0, "the map must have grown during the run")
        XCTAssertEqual(try cache.counts().records, batches * 4)
    }
}
