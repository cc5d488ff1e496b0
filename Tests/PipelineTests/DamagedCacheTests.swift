import Foundation
import HeadTrain
import Pipeline
import XCTest
@testable import Store

/// Commands that read a cache check every entry and record before using any: damage is never trained on,
/// evaluated or exported silently. Without --skip-damaged it stops the command, naming each damaged path and
/// why; with it, the rest is used and the damaged ones are reported.
final class DamagedCacheTests: XCTestCase {
    let shape = [2, 2, 4]

    /// 24 train + 8 validation records in two classes that a small head separates (class 1 shifted up).
    func makeCache() throws -> (cache: String, dir: URL) {
        let dir = temporaryDirectory(self, "damage")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("cache").path
        let fp = CacheFingerprint(weightsSHA256: String(repeating: "cd", count: 32), weightsName: "seeded.h5", layer: "mixed7",
                                  inputSize: [150, 150], resize: "nearest", preprocess: "rescale", dtype: .f16, featureShape: shape)
        let cache = try FeatureCache(path: path, fingerprint: fp)
        try cache.setClassNames(["cats", "dogs"])
        var batch = Batch()
        for i in 0..<32 {
            let label = i % 2
            let key = ContentKey.of(Data("damage-\(i)".utf8))
            batch.records.append(PendingRecord(key: key, values: (0..<16).map { Float(label) + 0.25 * Float(sin(Double(i * 16 + $0))) }))
            batch.entries.append(IndexEntry(path: Self.path(i), key: key, label: Int32(label), split: i < 24 ? .train : .validation,
                                            fileSize: 1, modificationTimeNanoseconds: 1))
        }
        try cache.commit(batch: batch)
        return (path, dir)
    }

    static func path(_ i: Int) -> String {
        String(format: "%@/%@/%02d.png", i < 24 ? "train" : "validation", i % 2 == 0 ? "cats" : "dogs", i)
    }

    /// Rewrites the raw value of `key` in `db` through `change`.
    func damage(_ cachePath: String, _ db: String, _ key: [UInt8], _ change: (inout [UInt8]) -> Void) throws {
        let cache = try FeatureCache(path: cachePath, fingerprint: nil)
        try cache.lmdb.write { txn in
            var value = try cache.lmdb.get(txn, db, key) { Array($0!) }
            change(&value)
            try cache.lmdb.put(txn, db, key, value)
        }
    }

    func damageRecord(_ cachePath: String, of i: Int, _ change: (inout [UInt8]) -> Void) throws {
        try damage(cachePath, "records", Layout.recordKey(ContentKey.of(Data("damage-\(i)".utf8)), view: 0), change)
    }

    func damageEntry(_ cachePath: String, of i: Int, _ change: (inout [UInt8]) -> Void) throws {
        try damage(cachePath, "index", Array(Self.path(i).utf8), change)
    }

    /// A record whose CRC is right but whose value 3 is a NaN (what NaN weights would have extracted).
    func putNaN(_ cachePath: String, in i: Int) throws {
        try damageRecord(cachePath, of: i) { value in
            var values = (0..<16).map { Float($0) }
            values[3] = .nan
            value = Layout.encodeRecord(values: values, shape: [2, 2, 4], dtype: .f16)
        }
    }

    func trainingJob(_ cache: String, _ dir: URL) -> HeadTrainingJob {
        var job = HeadTrainingJob(cache: cache, out: dir.appendingPathComponent("head.h5").path)
        job.options = TrainingOptions(epochs: 3, batchSize: 8, learningRate: 1e-2, seed: 1)
        job.hidden = 8
        return job
    }

    func damagedPaths(_ body: () throws -> Any) -> [String] {
        do {
            _ = try body()
            XCTFail("expected DamagedCacheError")
        } catch let e as DamagedCacheError {
            XCTAssertTrue(e.description.contains("--skip-damaged"), e.description)
            return e.damaged.map(\.path)
        } catch {
            XCTFail("not a DamagedCacheError: \(error)")
        }
        return []
    }

    // MARK: records

    func testTrainingRefusesARecordWhoseChecksumFailsNamingItsPathAndSavesNothing() throws {
        let (cache, dir) = try makeCache()
        try damageRecord(cache, of: 5) { $0[$0.count - 3] ^= 0x40 }
        let job = trainingJob(cache, dir)
        XCTAssertEqual(damagedPaths { try HeadTraining.run(job) }, [Self.path(5)])
        XCTAssertFalse(FileManager.default.fileExists(atPath: job.out))
    }

    func testSkipDamagedTrainsOnTheRestAndReportsWhatItLeftOut() throws {
        let (cache, dir) = try makeCache()
        try damageRecord(cache, of: 5) { $0[$0.count - 3] ^= 0x40 }
        try damageRecord(cache, of: 26) { $0.removeLast(2) }
        var job = trainingJob(cache, dir)
        job.damagePolicy = .skip
        let result = try HeadTraining.run(job)
        XCTAssertEqual(result.trainCount, 23)
        XCTAssertEqual(result.validationCount, 7)
        XCTAssertEqual(result.damaged.map(\.path), [Self.path(5), Self.path(26)])
        XCTAssertTrue(result.damaged[0].reason.contains("CRC-32"), result.damaged[0].reason)
        XCTAssertTrue(result.damaged[1].reason.hasPrefix("value is"), result.damaged[1].reason)
        XCTAssertNoThrow(try HeadFile.load(path: job.out))
    }

    func testNaNFeaturesStopTrainingNamingTheRecord() throws {
        let (cache, dir) = try makeCache()
        try putNaN(cache, in: 7)
        let job = trainingJob(cache, dir)
        do {
            try HeadTraining.run(job)
            XCTFail("trained on a NaN")
        } catch let e as DamagedCacheError {
            XCTAssertEqual(e.damaged, [DamagedEntry(path: Self.path(7), record: "\(ContentKey.of(Data("damage-7".utf8)))/0",
                                                    reason: "value 3 is NaN or infinite")])
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: job.out))
        XCTAssertEqual(try FeatureCache.open(URL(fileURLWithPath: cache)).verify().map(\.reason), ["value 3 is NaN or infinite"])
    }

    // MARK: index entries

    func testAFlippedLabelIsCaughtByVerifyAndRefusedByTraining() throws {
        let (cache, dir) = try makeCache()
        try damageEntry(cache, of: 4) { $0[4] ^= 1 }  // cats (0) → dogs (1): a valid label, the wrong one
        let problems = try FeatureCache.open(URL(fileURLWithPath: cache)).verify()
        XCTAssertEqual(problems.map(\.item), [Self.path(4)])
        XCTAssertTrue(problems.first?.reason.contains("its label, split, size, times or key was damaged") ?? false, "\(problems)")
        XCTAssertEqual(damagedPaths { try HeadTraining.run(self.trainingJob(cache, dir)) }, [Self.path(4)])
    }

    func testAFlippedSplitIsCaughtByVerifyAndRefusedByTraining() throws {
        let (cache, dir) = try makeCache()
        try damageEntry(cache, of: 2) { $0[1] ^= 1 }  // train → validation
        XCTAssertEqual(try FeatureCache.open(URL(fileURLWithPath: cache)).verify().map(\.item), [Self.path(2)])
        XCTAssertEqual(damagedPaths { try HeadTraining.run(self.trainingJob(cache, dir)) }, [Self.path(2)])
    }

    func testAnOlderEntryWhoseLabelNamesNoClassIsDamaged() throws {
        let (cache, dir) = try makeCache()
        // A version 1 entry (no CRC) with label 5 of 2 classes.
        try damageEntry(cache, of: 3) { v in v = Array(v.prefix(56)); v[0] = 1; v[4] = 5 }
        XCTAssertEqual(try FeatureCache.open(URL(fileURLWithPath: cache)).verify().map(\.reason), ["label 5 names no class (the cache has 2)"])
        XCTAssertEqual(damagedPaths { try HeadTraining.run(self.trainingJob(cache, dir)) }, [Self.path(3)])
    }

    func testAnOlderEntryWithoutAChecksumIsStillRead() throws {
        let (cache, dir) = try makeCache()
        try damageEntry(cache, of: 3) { v in v = Array(v.prefix(56)); v[0] = 1 }
        XCTAssertEqual(try FeatureCache.open(URL(fileURLWithPath: cache)).verify(), [])
        XCTAssertEqual(try HeadTraining.run(trainingJob(cache, dir)).trainCount, 24)
    }

    // MARK: the other readers

    func testEvaluateRefusesDamageAndSkipsItWhenAsked() throws {
        let (cache, dir) = try makeCache()
        let job = trainingJob(cache, dir)
        try HeadTraining.run(job)
        try damageRecord(cache, of: 25) { $0[30] ^= 1 }
        XCTAssertEqual(damagedPaths { try HeadEvaluation.run(cache: cache, head: job.out) }, [Self.path(25)])
        let report = try HeadEvaluation.run(cache: cache, head: job.out, damagePolicy: .skip)
        XCTAssertEqual(report.count, 7)
        XCTAssertEqual(report.damaged.map(\.path), [Self.path(25)])
    }

    func testExportRefusesDamageBeforeWritingAndSkipsItWhenAsked() throws {
        let (cache, dir) = try makeCache()
        try putNaN(cache, in: 0)
        let out = dir.appendingPathComponent("np").path
        XCTAssertEqual(damagedPaths { try Export.run(cache: cache, to: out) }, [Self.path(0)])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/features.npy"))
        let s = try Export.run(cache: cache, to: out, damagePolicy: .skip)
        XCTAssertEqual(s.count, 31)
        XCTAssertEqual(s.damaged.map(\.path), [Self.path(0)])
    }

    func testSweepRefusesDamageAndSkipsItWhenAsked() throws {
        let (cache, dir) = try makeCache()
        try damageEntry(cache, of: 9) { $0[20] ^= 0x80 }
        let configs = [SweepConfig(lr: 1e-2, hidden: 8, dropout: 0, batch: 8, epochs: 2)]
        var job = SweepJob(cache: cache, out: dir.appendingPathComponent("sweep").path, configs: configs)
        XCTAssertEqual(damagedPaths { try Sweep.run(job) }, [Self.path(9)])
        job.damagePolicy = .skip
        XCTAssertEqual(try Sweep.run(job).damaged.map(\.path), [Self.path(9)])
    }

    // MARK: training's own numbers

    func testALossThatBecomesNaNStopsTrainingNamingTheEpochAndSavesNoHead() throws {
        let (cache, dir) = try makeCache()
        var job = trainingJob(cache, dir)
        job.options = TrainingOptions(epochs: 3, batchSize: 8, learningRate: 1e30, seed: 1)
        job.checkpointBest = true
        do {
            try HeadTraining.run(job)
            XCTFail("trained to a NaN head")
        } catch let e as HeadError {
            guard case .notFinite(let what) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(what.contains("epoch 1"), what)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: job.out), "no head saved")
    }

    func testAnInfiniteLearningRateIsRefusedBeforeTraining() throws {
        let (cache, dir) = try makeCache()
        var job = trainingJob(cache, dir)
        job.options = TrainingOptions(epochs: 3, batchSize: 8, learningRate: .infinity, seed: 1)
        XCTAssertThrowsError(try HeadTraining.run(job)) { error in
            XCTAssertEqual(error as? HeadError, .invalidConfig("learning rate must be positive and finite (found inf)"))
        }
    }
}

/// A damaged cache is repaired by extracting into it again: damaged records are computed again and replace the
/// old ones, damaged entries are rewritten.
final class CacheRepairTests: XCTestCase {
    func testExtractingAgainRecomputesADamagedRecordAndRewritesADamagedEntry() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 3)
        let cacheURL = temporaryDirectory(self, "cache")
        XCTAssertEqual(try extract(d, cache: cacheURL).extracted, 6)
        let cache = try FeatureCache.open(cacheURL)
        let recordEntry = try XCTUnwrap(cache.indexEntry(path: "a/a-001.jpg"))
        let original = try XCTUnwrap(cache.record(key: recordEntry.key)).values
        try cache.lmdb.write { txn in
            let k = Layout.recordKey(recordEntry.key, view: 0)
            var v = try cache.lmdb.get(txn, "records", k) { Array($0!) }
            v[v.count - 1] ^= 0xFF
            try cache.lmdb.put(txn, "records", k, v)
            let p = Array("b/b-002.jpg".utf8)
            var e = try cache.lmdb.get(txn, "index", p) { Array($0!) }
            e[4] ^= 1
            try cache.lmdb.put(txn, "index", p, e)
        }
        XCTAssertEqual(try cache.verify().count, 2)

        let again = try extract(d, cache: cacheURL)
        XCTAssertEqual(Set(again.repaired.map(\.path)), ["a/a-001.jpg", "b/b-002.jpg"])
        XCTAssertEqual(again.extracted, 1, "only the damaged record runs through the network again")
        XCTAssertEqual(try cache.verify(), [])
        // Computed again in a batch of one (rounding may differ in the last bits from the batch of six).
        let recomputed = try XCTUnwrap(cache.record(key: recordEntry.key)).values
        let worst = zip(recomputed, original).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1e-2 * (original.map(abs).max() ?? 0), "max difference \(worst)")
        XCTAssertEqual(try cache.indexEntry(path: "b/b-002.jpg")?.label, 1)
    }
}
