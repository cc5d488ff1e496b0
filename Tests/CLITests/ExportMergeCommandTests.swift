import Foundation
import Numerics
import Store
import XCTest

/// `headstart export`: the NumPy files equal the cache's index and records.
final class ExportCommandTests: XCTestCase {
    /// One cache for the tests of this class: 9 distinct images and a duplicate in two classes (kept, each with
    /// its label, by --allow-label-conflicts), a validation split of 0.4 (so both splits are present), and a file
    /// that fails (exported nowhere).
    nonisolated(unsafe) static var shared: (dir: URL, cache: String)?

    func cache() throws -> String {
        if let s = Self.shared { return s.cache }
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["cats", "dogs"], count: 4)
        d.write("dogs/png.png", CLIDataset.fixtureBytes("images/inputs/rgb.png"))
        d.write("cats/dup.jpg", CLIDataset.jpegVariant(5))
        d.write("dogs/empty.jpg", [])
        let cache = dir.appendingPathComponent("cache").path
        let r = try CLI.run(["extract", d.root.path, "--weights", FeaturesCommandTests.weights, "--cache", cache,
                             "--size", "75", "--validation-split", "0.4", "--allow-label-conflicts"])
        XCTAssertEqual(r.status, 0, r.stderr)
        Self.shared = (dir, cache)
        return cache
    }

    override class func tearDown() {
        if let s = shared { try? FileManager.default.removeItem(at: s.dir) }
        shared = nil
        super.tearDown()
    }

    func export(_ extra: [String] = []) throws -> (dir: String, result: CLI.Result) {
        let out = try CLI.temporaryDirectory().appendingPathComponent("npy").path
        let r = try CLI.run(["export", try cache(), "--out", out] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        return (out, r)
    }

    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func testEveryFileHasOneRowPerIndexEntryInIndexOrder() throws {
        let (out, _) = try export()
        let c = try FeatureCache.open(try cache())
        let entries = try c.indexEntries()
        XCTAssertEqual(entries.count, 10)
        XCTAssertEqual(try lines(out + "/paths.txt"), entries.map(\.path))
        XCTAssertEqual(try lines(out + "/classes.txt"), ["cats", "dogs"])
        let labels = try NPY.read(out + "/labels.npy")
        XCTAssertEqual(labels.dtype, .int32)
        XCTAssertEqual(labels.shape, [10])
        XCTAssertEqual(labels.int32s, entries.map(\.label))
        let splits = try NPY.read(out + "/splits.npy")
        XCTAssertEqual(splits.dtype, .uint8)
        XCTAssertEqual(splits.shape, [10])
        XCTAssertEqual(splits.bytes, entries.map(\.split.rawValue))
        XCTAssertTrue(splits.bytes.contains(0) && splits.bytes.contains(1), "both splits present")
    }

    func testFeaturesAreFloat32NHWCEqualToTheCacheRecords() throws {
        let (out, _) = try export()
        let c = try FeatureCache.open(try cache())
        let entries = try c.indexEntries()
        let features = try NPY.read(out + "/features.npy")
        XCTAssertEqual(features.dtype, .float32)
        XCTAssertEqual(features.shape, [10, 3, 3, 768])
        let values = features.floats
        let n = 3 * 3 * 768
        for (i, e) in entries.enumerated() {
            let record = try XCTUnwrap(c.record(key: e.key)).values
            XCTAssertEqual(Array(values[(i * n)..<((i + 1) * n)]), record, "row \(i) (\(e.path))")
        }
    }

    func testSplitValidationExportsOnlyTheValidationRows() throws {
        let (out, r) = try export(["--split", "validation"])
        let c = try FeatureCache.open(try cache())
        let validation = try c.indexEntries(split: .validation)
        XCTAssertGreaterThan(validation.count, 0)
        XCTAssertLessThan(validation.count, 10)
        XCTAssertEqual(try lines(out + "/paths.txt"), validation.map(\.path))
        XCTAssertEqual(try NPY.read(out + "/splits.npy").bytes, validation.map { _ in 1 })
        XCTAssertEqual(try NPY.read(out + "/labels.npy").int32s, validation.map(\.label))
        XCTAssertEqual(try NPY.read(out + "/features.npy").shape, [validation.count, 3, 3, 768])
        XCTAssertTrue(r.stdout.contains("0 train and \(validation.count) validation images"), r.stdout)
    }

    func testAMissingCacheIsAnErrorNamingIt() throws {
        let r = try CLI.run(["export", "/nonexistent/cache", "--out", try CLI.temporaryDirectory().path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/nonexistent/cache is not a headstart feature cache: no such directory"), r.stderr)
    }
}

/// `headstart cache merge`: shards extracted separately merge into what one unsharded extraction gives.
final class CacheMergeCommandTests: XCTestCase {
    func testTwoShardsMergedEqualOneUnshardedExtraction() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["a", "b"], count: 8)
        d.write("a/copy-of-a-003.jpg", CLIDataset.jpegVariant(3))
        d.write("b/truncated.jpg", CLIDataset.fixtureBytes("images/bad/truncated.jpg"))
        d.write("a/empty.jpg", [])
        // --batch 1: every image alone through the network in every run, so values are bitwise comparable
        // (a different batch changes float32 sums in the last bits).
        func extract(_ name: String, _ extra: [String]) throws -> String {
            let cache = dir.appendingPathComponent(name).path
            let r = try CLI.run(["extract", d.root.path, "--weights", FeaturesCommandTests.weights, "--cache", cache,
                                 "--size", "75", "--batch", "1", "--validation-split", "0.3"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            return cache
        }
        let whole = try extract("whole", [])
        let shard0 = try extract("shard0", ["--shard", "0/2"])
        let shard1 = try extract("shard1", ["--shard", "1/2"])
        let merged = dir.appendingPathComponent("merged").path
        let r = try CLI.run(["cache", "merge", shard0, shard1, "--out", merged])
        XCTAssertEqual(r.status, 0, r.stderr)

        let (w, m) = (try FeatureCache.open(whole), try FeatureCache.open(merged))
        let (s0, s1) = (try FeatureCache.open(shard0), try FeatureCache.open(shard1))
        XCTAssertGreaterThan(try s0.counts().records, 0, "both shards got work")
        XCTAssertGreaterThan(try s1.counts().records, 0, "both shards got work")
        XCTAssertEqual(m.fingerprint, w.fingerprint)
        XCTAssertEqual(try m.classNames(), try w.classNames())
        XCTAssertEqual(try m.indexEntries(), try w.indexEntries(), "same paths, keys, labels, splits, sizes and times")
        XCTAssertEqual(try m.indexEntries().count, 17)
        XCTAssertEqual(try m.errorEntries().map(\.path), try w.errorEntries().map(\.path))
        XCTAssertEqual(try m.errorEntries().map(\.reason), try w.errorEntries().map(\.reason))
        XCTAssertEqual(try m.counts().records, try w.counts().records)
        XCTAssertEqual(try m.counts().records, 16)
        for e in try w.indexEntries() {
            XCTAssertEqual(try m.record(key: e.key), try w.record(key: e.key), e.path)
        }
        XCTAssertEqual(try m.verify(), [])
    }

    func testCachesWithDifferentSettingsAreRefusedNamingTheField() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["a"], count: 2)
        let f16 = dir.appendingPathComponent("f16").path, f32 = dir.appendingPathComponent("f32").path
        for (cache, dtype) in [(f16, "f16"), (f32, "f32")] {
            let r = try CLI.run(["extract", d.root.path, "--weights", FeaturesCommandTests.weights, "--cache", cache,
                                 "--size", "75", "--dtype", dtype])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let out = dir.appendingPathComponent("merged").path
        let r = try CLI.run(["cache", "merge", f16, f32, "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("cannot merge \(f32) with \(f16): they were made with different settings"), r.stderr)
        XCTAssertTrue(r.stderr.contains("dtype: \(f16) has f16, \(f32) has f32"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing created")
    }
}
