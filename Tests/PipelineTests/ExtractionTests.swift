import Extract
import Foundation
import Pipeline
import Store
import XCTest

/// `Extraction.run`: content-keyed records, reuse across runs, stable splits.
final class ExtractionTests: XCTestCase {
    func testIdenticalFilesAreStoredOnceWithOneIndexEntryEach() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 3)
        let copy = TestImages.jpegVariant(0)  // the bytes of a/a-000.jpg, under two more paths
        d.write("a/copy-of-a-000.jpg", copy)
        d.write("b/also-a-000.jpg", copy)
        let cache = temporaryDirectory(self, "cache")
        // b/also-a-000.jpg puts a's content under class b too: a label conflict, indexed only when allowed
        // (AwkwardFilesTests covers the default, which keeps both copies out).
        let s = try extract(d, cache: cache) { $0.allowLabelConflicts = true }

        XCTAssertEqual(s.extracted, 6, "six distinct contents")
        XCTAssertEqual(s.reused, 2, "the two copies reuse the first one's record")
        let c = try FeatureCache.open(cache)
        XCTAssertEqual(try c.counts().records, 6)
        let entries = try c.indexEntries()
        XCTAssertEqual(entries.count, 8, "one index entry per file")
        let key = try XCTUnwrap(c.indexEntry(path: "a/a-000.jpg")).key
        XCTAssertEqual(entries.filter { $0.key == key }.map(\.path), ["a/a-000.jpg", "a/copy-of-a-000.jpg", "b/also-a-000.jpg"])
        XCTAssertEqual(try c.indexEntry(path: "b/also-a-000.jpg")?.label, 1, "each entry keeps its own label")
        XCTAssertEqual(try c.verify(), [])
    }

    func testNoExistingFileChangesSplitWhenFilesAreAdded() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 10)
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache) { $0.validationSplit = 0.3 }
        let before = try FeatureCache.open(cache).indexEntries()
        XCTAssertTrue(before.contains { $0.split == .validation } && before.contains { $0.split == .train },
                      "the split puts some of 20 files on each side")

        // 25 more: names sorting before, between and after the old ones.
        d.addJPEGs(classes: ["a", "b"], count: 10, offset: 100, prefix: "0-new")
        for i in 0..<5 { d.write("a/zz-new-\(i).jpg", TestImages.jpegVariant(300 + i)) }
        d.write("b/b-000-new.jpg", TestImages.jpegVariant(400))
        let s = try extract(d, cache: cache) { $0.validationSplit = 0.3 }
        XCTAssertEqual(s.extracted, 26)
        XCTAssertEqual(s.reused, 20)
        let after = Dictionary(uniqueKeysWithValues: try FeatureCache.open(cache).indexEntries().map { ($0.path, $0) })
        for e in before {
            XCTAssertEqual(after[e.path]?.split, e.split, "\(e.path) changed split when files were added")
        }
        XCTAssertEqual(after.count, before.count + 26)
    }

    func testASecondRunDoesNoNetworkWorkAndReusesEveryImage() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 6)
        let cache = temporaryDirectory(self, "cache")
        let first = try extract(d, cache: cache)
        XCTAssertEqual(first.extracted, 12)
        let recordsBefore = try FeatureCache.open(cache).counts().records

        let second = try extract(d, cache: cache)
        XCTAssertEqual(second.extracted, 0, "no image went through the network")
        XCTAssertEqual(second.networkSeconds, 0, "the network was never called")
        XCTAssertEqual(second.reused, 12)
        XCTAssertEqual(second.failed.count, 0)
        XCTAssertEqual(try FeatureCache.open(cache).counts().records, recordsBefore)
    }

    func testAChangedFileIsExtractedAgainUnderItsNewContent() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 4)
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache, dtype: .f32)
        let oldEntry = try XCTUnwrap(FeatureCache.open(cache).indexEntry(path: "b/b-002.jpg"))

        d.write("b/b-002.jpg", TestImages.jpegVariant(500))
        let s = try extract(d, cache: cache, dtype: .f32)
        XCTAssertEqual(s.extracted, 1, "only the changed file")
        XCTAssertEqual(s.reused, 7)
        let c = try FeatureCache.open(cache)
        let newEntry = try XCTUnwrap(c.indexEntry(path: "b/b-002.jpg"))
        XCTAssertNotEqual(newEntry.key, oldEntry.key)
        XCTAssertEqual(newEntry.key, ContentKey.of(Data(TestImages.jpegVariant(500))))
        let new = try XCTUnwrap(c.record(key: newEntry.key)).values
        let old = try XCTUnwrap(c.record(key: oldEntry.key)).values
        XCTAssertNotEqual(new, old, "the new content has its own features")
        XCTAssertEqual(try c.verify(), [])
    }

    func testARemovedFileLeavesTheIndex() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 4)
        d.write("b/empty.jpg", [])
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache)
        XCTAssertNotNil(try FeatureCache.open(cache).indexEntry(path: "a/a-001.jpg"))
        XCTAssertNotNil(try FeatureCache.open(cache).errorReasons()["b/empty.jpg"])

        d.remove("a/a-001.jpg")
        d.remove("b/empty.jpg")
        let s = try extract(d, cache: cache)
        XCTAssertEqual(s.removed, 1)
        XCTAssertEqual(s.extracted, 0)
        let c = try FeatureCache.open(cache)
        XCTAssertNil(try c.indexEntry(path: "a/a-001.jpg"))
        XCTAssertEqual(try c.indexEntries().count, 7)
        XCTAssertEqual(try c.errorReasons(), [:], "a removed file's error goes too")
    }

    func testAnotherInputSizeIsRefusedNamingTheFieldAndRebuildStartsOver() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 2)
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache)
        let bigger = try FeatureExtractor(weights: seededWeights, settings: ExtractionSettings(size: 99), threads: 2)
        let job = ExtractionJob(dataset: d.root, cache: cache.path)
        XCTAssertThrowsError(try Extraction.run(job, extractor: bigger, weights: seededWeights)) { error in
            guard case let StoreError.fingerprintMismatch(_, diffs) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(diffs.map(\.field), ["inputSize", "featureShape"])
            XCTAssertEqual(diffs.first?.old, "[75, 75]")
            XCTAssertEqual(diffs.first?.new, "[99, 99]")
        }
        var rebuild = job
        rebuild.rebuild = true
        let s = try Extraction.run(rebuild, extractor: bigger, weights: seededWeights)
        XCTAssertEqual(s.extracted, 4, "everything extracted again at the new size")
        XCTAssertEqual(try FeatureCache.open(cache).fingerprint.inputSize, [99, 99])
    }

    func testContentInBothSplitsIsKeptInTrainOnlyAndRerunsLeaveItSo() throws {
        let data = TestDataset(self)
        data.write("train/a/one.jpg", TestImages.jpegVariant(1))
        data.write("train/b/two.jpg", TestImages.jpegVariant(2))
        data.write("validation/a/copy-of-one.jpg", TestImages.jpegVariant(1))
        data.write("validation/b/three.jpg", TestImages.jpegVariant(3))
        let cacheURL = temporaryDirectory(self, "cache")
        let first = try extract(data, cache: cacheURL)
        XCTAssertEqual(first.splitCollisions.map(\.validation), ["validation/a/copy-of-one.jpg"])
        XCTAssertEqual(first.extracted + first.reused + first.failed.count, first.considered)
        let cache = try FeatureCache.open(cacheURL)
        XCTAssertNil(try cache.indexEntry(path: "validation/a/copy-of-one.jpg"))
        XCTAssertEqual(try cache.errorReasons()["validation/a/copy-of-one.jpg"],
                       "same content as train file train/a/one.jpg: kept in train only, so the splits stay disjoint")
        XCTAssertEqual(try cache.indexEntries(split: .validation).map(\.path), ["validation/b/three.jpg"])
        let updated = try cache.timestamps().updated

        let second = try extract(data, cache: cacheURL)
        XCTAssertEqual(second.splitCollisions.map(\.validation), ["validation/a/copy-of-one.jpg"], "still reported")
        XCTAssertEqual(second.extracted, 0)
        let reopened = try FeatureCache.open(cacheURL)
        XCTAssertEqual(try reopened.indexEntries(split: .validation).map(\.path), ["validation/b/three.jpg"])
        XCTAssertEqual(try reopened.errorEntries().count, 1)
        XCTAssertNotEqual(try reopened.timestamps().updated, "", "\(updated)")
    }
}

/// ExtractionJob's settings at their edges.
final class ExtractionJobTests: XCTestCase {
    /// The reading stage strides over a chunk by its thread count, so 0 would never advance.
    func testZeroDecodeThreadsRunsOnOneThread() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a"], count: 3)
        let s = try extract(d, cache: temporaryDirectory(self, "cache")) { $0.decodeThreads = 0 }
        XCTAssertEqual(s.extracted, 3)
    }
}
