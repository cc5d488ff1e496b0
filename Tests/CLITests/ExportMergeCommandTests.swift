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
    /// Runs headstart under `strace -f -e trace=openat` and returns its result and the files under `root` it
    /// opened successfully (one element per open).
    func opens(_ arguments: [String], under root: URL) throws -> (CLI.Result, [String]) {
        guard let strace = ["/usr/bin/strace", "/bin/strace"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("strace is not installed (scripts/setup installs it): the opens cannot be counted")
        }
        let log = try CLI.temporaryDirectory().appendingPathComponent("strace.log").path
        let r = try CLI.process(URL(fileURLWithPath: strace), ["-f", "--seccomp-bpf", "-qq", "-e", "trace=openat,open", "-o", log, CLI.executable.path] + arguments)
        if r.status != 0 && r.stderr.contains("ptrace") { throw XCTSkip("strace cannot trace here: \(r.stderr)") }
        let prefix = "\"" + root.standardizedFileURL.path + "/"
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        // Files, not the folders the scan lists (opened with O_DIRECTORY).
        let opened = lines.filter { $0.contains(prefix) && !$0.contains("= -1") && !$0.contains("O_DIRECTORY") }.compactMap { line -> String? in
            guard let a = line.range(of: prefix), let b = line[a.upperBound...].firstIndex(of: "\"") else { return nil }
            return String(line[a.upperBound..<b])
        }
        return (r, opened)
    }

    func testFourShardsOpenEachFileOnceAndMergeIntoOneExtractionsCache() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["a", "b"], count: 10)
        d.write("a/copy-of-a-003.jpg", CLIDataset.jpegVariant(3))
        d.write("b/truncated.jpg", CLIDataset.fixtureBytes("images/bad/truncated.jpg"))
        d.write("a/empty.jpg", [])
        // An hour old, so no entry is racy and a rerun may trust every file's stat data.
        let files = try FileManager.default.subpathsOfDirectory(atPath: d.root.path).filter { $0.hasSuffix(".jpg") }
        for f in files {
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: d.path(f))
        }
        func extract(_ name: String, _ extra: [String]) throws -> (cache: String, opened: [String]) {
            let cache = dir.appendingPathComponent(name).path
            let (r, opened) = try opens(["extract", d.root.path, "--weights", FeaturesCommandTests.weights, "--cache", cache,
                                         "--size", "75", "--validation-split", "0.3"] + extra, under: d.root)
            XCTAssertEqual(r.status, 0, r.stderr)
            return (cache, opened)
        }
        let whole = try extract("whole", []).cache
        var shards: [String] = []
        var opened: [String] = []
        for i in 0..<4 {
            let s = try extract("shard\(i)", ["--shard", "\(i)/4"])
            XCTAssertFalse(s.opened.isEmpty, "shard \(i) got files")
            shards.append(s.cache)
            opened += s.opened
        }
        XCTAssertEqual(opened.sorted(), files.sorted(), "the four shards together open each file once")

        let rerun = try extract("shard0", ["--shard", "0/4"])
        XCTAssertEqual(rerun.opened, [], "a rerun over the unchanged files opens none of them")

        let merged = dir.appendingPathComponent("merged").path
        let r = try CLI.run(["cache", "merge"] + shards + ["--out", merged])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("dataset: \(d.root.standardizedFileURL.path)"), r.stdout)

        let (w, m) = (try FeatureCache.open(whole), try FeatureCache.open(merged))
        func decided(_ c: FeatureCache) throws -> [String] {
            try c.indexEntries().map { "\($0.path) \($0.key) \($0.label) \($0.split) \($0.fileSize) \($0.modificationTimeNanoseconds)" }
        }
        XCTAssertEqual(m.fingerprint, w.fingerprint)
        XCTAssertEqual(try m.classNames(), try w.classNames())
        XCTAssertEqual(try decided(m), try decided(w), "same paths, keys, labels, splits, sizes and times")
        XCTAssertEqual(try m.indexEntries().count, 21)
        XCTAssertEqual(try m.errorEntries().map(\.path), try w.errorEntries().map(\.path))
        XCTAssertEqual(try m.errorEntries().map(\.reason), try w.errorEntries().map(\.reason))
        XCTAssertEqual(try m.counts().records, 20)
        for e in try w.indexEntries() {
            XCTAssertEqual(try m.record(key: e.key), try w.record(key: e.key), e.path)
        }
        XCTAssertEqual(try m.verify(), [])

        let inspect = try CLI.run(["inspect", merged, "--json"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        let view = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(view["dataset"] as? String, d.root.standardizedFileURL.path)
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
