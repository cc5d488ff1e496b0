import CLMDB
import Foundation
import XCTest
@testable import Store

/// Opening a cache that is damaged, unfinished, truncated, contested or read-only: an error naming the cache and
/// what is wrong, never a trap or a signal, and never a cache that claims settings its features were not made with.
final class OpeningTests: XCTestCase {
    func makeCache(records: Int = 2, shape: [Int] = [2, 3, 4]) throws -> FeatureCache {
        let cache = try FeatureCache(path: temporaryDirectory(self), fingerprint: testFingerprint(shape: shape))
        let n = shape.reduce(1, *)
        try cache.commit(batch: Batch(
            records: (0..<records).map { PendingRecord(key: testKey($0), values: testValues(n, seed: UInt64($0))) },
            entries: (0..<records).map { testEntry("\($0).png", testKey($0)) }))
        return cache
    }

    func putMeta(_ cache: FeatureCache, _ key: String, _ value: [UInt8]) throws {
        _ = try cache.lmdb.write { txn in try cache.lmdb.put(txn, "meta", Array(key.utf8), value) }
    }

    func storeError(_ body: () throws -> Any) -> StoreError? {
        do { _ = try body() } catch let e as StoreError { return e } catch { XCTFail("not a StoreError: \(error)") }
        return nil
    }

    // MARK: sizes read from the cache are untrusted

    func testARecordHeaderWhoseDimsOverflowIsACorruptRecordNotATrap() throws {
        let cache = try makeCache()
        // rank 3, dims 2^32 - 1 each: their product overflows Int.
        var raw = Layout.magic + [1, 0, FeatureDType.f16.code, 3, 0, 0, 0, 0]
        for _ in 0..<3 { raw += [0xFF, 0xFF, 0xFF, 0xFF] }
        raw += [UInt8](repeating: 0, count: 48)
        _ = try cache.lmdb.write { txn in try cache.lmdb.put(txn, "records", Layout.recordKey(testKey(1), view: 0), raw) }

        let problems = try cache.verify()
        XCTAssertEqual(problems.map(\.item), ["\(testKey(1))/0"])
        XCTAssertEqual(problems.first?.reason,
                       "value is 72 bytes, header (f16, shape [4294967295, 4294967295, 4294967295]) says more than \(Int.max)")
        XCTAssertNotNil(storeError { try cache.record(key: testKey(1)) as Any })
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 48)
        defer { buffer.deallocate() }
        let entry = try XCTUnwrap(cache.indexEntry(path: "1.png"))
        guard case .corruptRecord(_, let record, _)? = storeError({ try cache.features(for: [entry], into: buffer, checkChecksums: true) }) else {
            return XCTFail("features(for:) must refuse the record")
        }
        XCTAssertEqual(record, "\(testKey(1))/0")
    }

    func testAFingerprintWhoseFeatureShapeOverflowsIsRefusedOnOpening() throws {
        let cache = try makeCache()
        var f = testFingerprint()
        f.featureShape = [1 << 32, 1 << 32]
        try putMeta(cache, "fingerprint", Array(f.jsonData()))
        guard case .notACache(_, let reason)? = storeError({ try FeatureCache(path: cache.path, fingerprint: nil, readOnly: true) }) else {
            return XCTFail("refused")
        }
        XCTAssertTrue(reason.hasPrefix("meta/fingerprint: featureShape [4294967296, 4294967296]"), reason)
    }

    func testAFingerprintOfAnotherFormatVersionIsRefusedOnOpening() throws {
        let cache = try makeCache()
        var f = testFingerprint()
        f.formatVersion = 9
        try putMeta(cache, "fingerprint", Array(f.jsonData()))
        guard case .notACache(_, let reason)? = storeError({ try FeatureCache(path: cache.path, fingerprint: nil, readOnly: true) }) else {
            return XCTFail("refused")
        }
        XCTAssertEqual(reason, "meta/fingerprint: formatVersion 9; this build reads version 1")
    }

    // MARK: never completed

    /// What a run killed between creating the environment and committing its fingerprint leaves: the databases
    /// (older builds created them in a transaction of their own) and no fingerprint.
    func unfinishedCache() throws -> String {
        let path = temporaryDirectory(self)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let env = try LMDBEnvironment(path: path, initialMapSize: 1 << 20, readOnly: false)
        try env.write { txn in _ = try env.openDatabases(txn, create: true) }
        return path
    }

    func testAReaderNamesACacheWithoutAFingerprintAsNeverCompleted() throws {
        let path = try unfinishedCache()
        guard case .incomplete(let cache, let reason)? = storeError({ try FeatureCache(path: path, fingerprint: nil, readOnly: true) }) else {
            return XCTFail("refused as incomplete")
        }
        XCTAssertEqual(cache, path)
        XCTAssertEqual(reason, "it has no fingerprint")
        XCTAssertTrue("\(StoreError.incomplete(cache: path, reason: reason))".contains("run `headstart extract` into it again"))
    }

    func testAWriterFinishesACacheWithoutAFingerprintAndSaysSo() throws {
        let path = try unfinishedCache()
        let cache = try FeatureCache(path: path, fingerprint: testFingerprint())
        XCTAssertEqual(cache.opening, .finished)
        XCTAssertEqual(try FeatureCache(path: path, fingerprint: nil, readOnly: true).fingerprint, testFingerprint())
        XCTAssertFalse(try cache.timestamps().created.isEmpty)
    }

    func testAnEmptyDataFileIsIncompleteToAReaderAndFinishedByAWriter() throws {
        let path = temporaryDirectory(self)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: path + "/data.mdb", contents: Data()))
        guard case .incomplete(_, let reason)? = storeError({ try FeatureCache(path: path, fingerprint: nil, readOnly: true) }) else {
            return XCTFail("refused as incomplete")
        }
        XCTAssertEqual(reason, "data.mdb is empty (0 bytes)")
        XCTAssertEqual(try FeatureCache(path: path, fingerprint: testFingerprint()).opening, .finished)
    }

    func testAFreshCacheSaysItWasCreatedAndAReopenedOneThatItExisted() throws {
        let cache = try makeCache()
        XCTAssertEqual(cache.opening, .created)
        XCTAssertEqual(try FeatureCache(path: cache.path, fingerprint: testFingerprint()).opening, .existing)
    }

    func testRecordsWithoutAFingerprintAreNotAdoptedByAWriter() throws {
        let path = try unfinishedCache()
        let env = try LMDBEnvironment(path: path, initialMapSize: 1 << 20, readOnly: false)
        try env.write { txn in
            _ = try env.openDatabases(txn, create: true)
            try env.put(txn, "records", Layout.recordKey(testKey(1), view: 0),
                        Layout.encodeRecord(values: testValues(24, seed: 1), shape: [2, 3, 4], dtype: .f16))
        }
        guard case .incomplete(_, let reason)? = storeError({ try FeatureCache(path: path, fingerprint: testFingerprint()) }) else {
            return XCTFail("refused")
        }
        XCTAssertTrue(reason.contains("1 records and 0 index entries but no fingerprint"), reason)
    }

    // MARK: truncated data.mdb

    func testATruncatedDataFileIsAnErrorNamingTheCacheNotASignal() throws {
        let cache = try makeCache(records: 40, shape: [7, 7, 64])  // ~250 KB of records
        let path = cache.path, data = path + "/data.mdb"
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: data)[.size] as? Int)
        XCTAssertGreaterThan(size, 200_000)
        XCTAssertEqual(truncate(data, off_t(size / 2)), 0)

        for readOnly in [true, false] {
            let error = storeError {
                readOnly ? try FeatureCache(path: path, fingerprint: nil, readOnly: true)
                         : try FeatureCache(path: path, fingerprint: testFingerprint(shape: [7, 7, 64]))
            }
            guard case .truncated(let named, let bytes, let needed)? = error else { return XCTFail("readOnly \(readOnly): \(String(describing: error))") }
            XCTAssertEqual(named, path)
            XCTAssertEqual(bytes, size / 2)
            XCTAssertGreaterThan(needed, bytes)
        }
        XCTAssertTrue("\(StoreError.truncated(cache: path, bytes: 10, needed: 20))".contains("is truncated: data.mdb is 10 bytes"))
    }

    func testADataFileCutBeforeItsSecondMetaPageIsNotALMDBFile() throws {
        let cache = try makeCache()
        XCTAssertEqual(truncate(cache.path + "/data.mdb", 100), 0)
        guard case .notACache(_, let reason)? = storeError({ try FeatureCache(path: cache.path, fingerprint: nil, readOnly: true) }) else {
            return XCTFail("refused")
        }
        XCTAssertTrue(reason.hasPrefix("data.mdb (100 bytes) is not an LMDB file"), reason)
    }

    // MARK: read-only

    func testAReadOnlyOpeningChangesNoByteAndRefusesWrites() throws {
        let path = try makeCache().path
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        let cache = try FeatureCache(path: path, fingerprint: nil, readOnly: true)
        XCTAssertTrue(cache.isReadOnly)
        XCTAssertEqual(try cache.verify(), [])
        XCTAssertEqual(try cache.indexEntries().count, 2)
        XCTAssertEqual(storeError { try cache.commit(batch: Batch(errors: [ErrorEntry(path: "x", reason: "y")])) }, .readOnly(cache: path))
        XCTAssertEqual(storeError { try cache.setClassNames(["a", "b"]) }, .readOnly(cache: path))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")), before)
    }

    // MARK: two writers creating one cache

    static let racerVariable = "HEADSTART_STORE_RACER"

    /// The child half of the race: waits for the start file, then opens the cache with the fingerprint of its
    /// weights ("a" or "b") and prints whether it was let in.
    func testChildOpensTheContestedCache() throws {
        guard let spec = ProcessInfo.processInfo.environment[Self.racerVariable] else {
            throw XCTSkip("child half of testTwoWritersCreatingOneCacheWithDifferentSettingsCannotBothSucceed")
        }
        let parts = spec.split(separator: "|").map(String.init)  // cache|go-file|weights
        while !FileManager.default.fileExists(atPath: parts[1]) { usleep(200) }
        var f = testFingerprint()
        f.weightsSHA256 = String(repeating: parts[2], count: 64)
        do {
            _ = try FeatureCache(path: parts[0], fingerprint: f)
            print("OPENED \(parts[2])")
        } catch StoreError.fingerprintMismatch(_, let d) {
            print("REFUSED \(d.map(\.field))")
        }
        fflush(stdout)
    }

    func testTwoWritersCreatingOneCacheWithDifferentSettingsCannotBothSucceed() throws {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        guard exe.path.hasSuffix(".xctest") else { throw XCTSkip("needs the Linux .xctest executable (found \(exe.path))") }
        for round in 0..<6 {
            let dir = temporaryDirectory(self, "round-\(round)")
            let go = dir + ".go"
            let children = ["a", "b"].map { weights -> (Process, Pipe) in
                let p = Process(), out = Pipe()
                p.executableURL = exe
                p.arguments = ["StoreTests.OpeningTests/testChildOpensTheContestedCache"]
                p.environment = ProcessInfo.processInfo.environment.merging([Self.racerVariable: "\(dir)|\(go)|\(weights)"]) { $1 }
                p.standardOutput = out
                p.standardError = FileHandle.nullDevice
                return (p, out)
            }
            for (p, _) in children { try p.run() }
            usleep(300_000)  // both waiting on the start file
            XCTAssertTrue(FileManager.default.createFile(atPath: go, contents: nil))
            var lines: [String] = []
            for (p, out) in children {
                let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                lines += text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("OPENED") || $0.hasPrefix("REFUSED") }
            }
            let opened = lines.filter { $0.hasPrefix("OPENED") }
            XCTAssertEqual(opened.count, 1, "round \(round): exactly one writer gets the new cache: \(lines)")
            XCTAssertEqual(lines.filter { $0 == "REFUSED [\"weightsSHA256\"]" }.count, 1, "round \(round): \(lines)")
            let winner = try XCTUnwrap(opened.first?.split(separator: " ").last.map(String.init))
            XCTAssertEqual(try FeatureCache(path: dir, fingerprint: nil, readOnly: true).fingerprint.weightsSHA256,
                           String(repeating: winner, count: 64), "round \(round): the cache names the winner's weights")
        }
    }
}
