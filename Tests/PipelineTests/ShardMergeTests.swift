import Extract
import Foundation
import Pipeline
import Store
import XCTest

/// `extract --shard i/n` takes the files whose path hashes to shard i, opening no other; `cache merge` decides
/// the index again over every file of the shards with the rules of one extraction, so shards + merge give what
/// one `extract` over the whole dataset gives.
final class ShardMergeTests: XCTestCase {
    /// The first name `make(k)` whose shard of 4 differs from `other`'s.
    func name(inAnotherShardThan other: String, _ make: (Int) -> String) -> String {
        let s = Dataset.shard(relativePath: other, count: 4)
        return (0..<100).lazy.map(make).first { Dataset.shard(relativePath: $0, count: 4) != s }!
    }

    /// A split-folder dataset whose rule cases span shards: a validation copy of a train image, one content under
    /// two classes, an identical file in the same class, and a file that does not decode.
    func dataset() -> TestDataset {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["train/a", "train/b"], count: 8, prefix: "img")
        d.addJPEGs(classes: ["validation/a", "validation/b"], count: 3, offset: 40, prefix: "img")
        d.write(name(inAnotherShardThan: "train/a/img-000.jpg") { "validation/a/twin-\($0).jpg" }, TestImages.jpegVariant(0))
        d.write(name(inAnotherShardThan: "train/a/img-001.jpg") { "train/b/conflict-\($0).jpg" }, TestImages.jpegVariant(1))
        d.write(name(inAnotherShardThan: "train/a/img-002.jpg") { "train/a/dup-\($0).jpg" }, TestImages.jpegVariant(2))
        d.write("train/b/broken.jpg", Array(TestImages.jpegVariant(3).prefix(300)))
        return d
    }

    /// The index as one extraction decides it: path, content, label, split and the file's size and mtime (the
    /// time each was hashed differs from run to run).
    func decided(_ c: FeatureCache) throws -> [String] {
        try c.indexEntries().map { "\($0.path) \($0.key) \($0.label) \($0.split) \($0.fileSize) \($0.modificationTimeNanoseconds)" }
    }

    func testFourShardsMergedGiveTheIndexLabelsSplitsAndFeaturesOfOneExtraction() throws {
        let d = dataset()
        let whole = temporaryDirectory(self, "whole")
        let origin = WeightsOrigin.seeded(seed: 7, generatorVersion: 1)
        let one = try extract(d, cache: whole) { $0.weightsOrigin = origin }
        XCTAssertEqual(one.splitCollisions.count, 1)
        XCTAssertEqual(one.labelConflicts.count, 1)

        var shards: [String] = []
        var opened = 0
        for i in 0..<4 {
            let cache = temporaryDirectory(self, "shard-\(i)")
            let s = try extract(d, cache: cache) { $0.shard = (i, 4); $0.weightsOrigin = origin }
            XCTAssertGreaterThan(s.hashed, 0, "shard \(i) got files")
            XCTAssertEqual(s.hashed + s.otherShards, one.considered, "shard \(i): every file is its own or another's")
            XCTAssertEqual(s.splitCollisions.count + s.labelConflicts.count, 0, "no shard sees both twins")
            opened += s.hashed
            shards.append(cache.path)
        }
        XCTAssertEqual(opened, one.considered, "each file read by exactly one shard")

        let merged = temporaryDirectory(self, "merged").path
        let m = try CacheMerge.run(CacheMergeJob(sources: shards, destination: merged))
        XCTAssertEqual(m.splitCollisions.map(\.validation), one.splitCollisions.map(\.validation))
        XCTAssertEqual(m.labelConflicts.map { $0.files.map(\.path) }, one.labelConflicts.map { $0.files.map(\.path) })

        let (w, c) = (try FeatureCache.open(whole), try FeatureCache(path: merged, fingerprint: nil))
        XCTAssertEqual(try decided(c), try decided(w))
        XCTAssertEqual(try c.errorEntries().map(\.path), try w.errorEntries().map(\.path))
        XCTAssertEqual(try c.errorEntries().map(\.reason), try w.errorEntries().map(\.reason))
        XCTAssertEqual(try c.classNames(), try w.classNames())
        XCTAssertEqual(try c.counts().records, try w.counts().records, "the duplicate both shards extracted is one record")
        for e in try w.indexEntries() {
            // Stored as float16 from bitwise-equal float32 features (the network's results do not depend on the
            // batch an image is in), so equal, not merely within float16 rounding.
            XCTAssertEqual(try c.record(key: e.key), try w.record(key: e.key), e.path)
        }
        XCTAssertEqual(try c.datasetRoot(), d.root.standardizedFileURL.path)
        XCTAssertEqual(m.dataset, d.root.standardizedFileURL.path)
        XCTAssertEqual(try c.weightsOrigin(), origin.recorded, "the merged cache keeps the weights' origin")
        XCTAssertEqual(try c.verify(), [])
    }

    func testShardsExtractedFromDifferentFoldersMergeWithoutADatasetAndSaySo() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 3)
        let copy = temporaryDirectory(self, "copy")
        try FileManager.default.copyItem(at: d.root, to: copy)
        let (s0, s1) = (temporaryDirectory(self, "s0"), temporaryDirectory(self, "s1"))
        _ = try extract(d, cache: s0) { $0.shard = (0, 2) }
        _ = try extract(TestDataset(root: copy), cache: s1) { $0.shard = (1, 2) }

        let merged = temporaryDirectory(self, "merged").path
        let m = try CacheMerge.run(CacheMergeJob(sources: [s0.path, s1.path], destination: merged))
        XCTAssertNil(m.dataset)
        XCTAssertEqual(m.datasetDisagreement?.map(\.cache), [s0.path, s1.path])
        XCTAssertEqual(m.datasetDisagreement?.map(\.dataset), [d.root.standardizedFileURL.path, copy.standardizedFileURL.path])
        XCTAssertNil(try FeatureCache(path: merged, fingerprint: nil).datasetRoot())

        var job = CacheMergeJob(sources: [s0.path, s1.path], destination: merged)
        job.dataset = copy.path
        XCTAssertEqual(try CacheMerge.run(job).dataset, copy.standardizedFileURL.path)
        XCTAssertEqual(try FeatureCache(path: merged, fingerprint: nil).datasetRoot(), copy.standardizedFileURL.path)
    }

    func testLabelConflictsAcrossShardsAreKeptWhenAllowed() throws {
        let d = dataset()
        let shards = try (0..<4).map { i -> String in
            let cache = temporaryDirectory(self, "shard-\(i)")
            _ = try extract(d, cache: cache) { $0.shard = (i, 4); $0.allowLabelConflicts = true }
            return cache.path
        }
        var job = CacheMergeJob(sources: shards, destination: temporaryDirectory(self, "merged").path)
        job.allowLabelConflicts = true
        let m = try CacheMerge.run(job)
        XCTAssertEqual(m.labelConflicts.count, 0)
        let paths = try FeatureCache(path: job.destination, fingerprint: nil).indexEntries().map(\.path)
        XCTAssertTrue(paths.contains("train/a/img-001.jpg"))
        XCTAssertTrue(paths.contains { $0.hasPrefix("train/b/conflict-") })
    }

    func testTheSamePathWithDifferentContentInTwoCachesIsRefusedBeforeAnythingIsWritten() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 2)
        let first = temporaryDirectory(self, "first")
        _ = try extract(d, cache: first)
        d.write("a/a-000.jpg", TestImages.jpegVariant(90))
        let second = temporaryDirectory(self, "second")
        _ = try extract(d, cache: second)
        let out = temporaryDirectory(self, "merged").path
        XCTAssertThrowsError(try CacheMerge.run(CacheMergeJob(sources: [first.path, second.path], destination: out))) { error in
            guard case let StoreError.indexConflict(cache, path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(cache, second.path)
            XCTAssertEqual(path, "a/a-000.jpg")
        }
        XCTAssertEqual(try FeatureCache(path: out, fingerprint: nil).counts().records, 0, "nothing written before the check")
    }
}
