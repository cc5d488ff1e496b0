import Extract
import Foundation
import XCTest
@testable import Store

/// `headstart inspect`: every view of a cache that `headstart extract` built at --size 75.
final class InspectCommandTests: XCTestCase {
    /// train/horses/{a.png, b.png}, train/humans/c.jpg, validation/horses/d.jpg, validation/humans/{e.png, bad.png}.
    func extracted() throws -> (dataset: URL, cache: String) {
        let dir = try CLI.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let root = dir.appendingPathComponent("dataset")
        for (to, from) in [("train/horses/a.png", "keras/image0-horse-rgba.png"), ("train/horses/b.png", "keras/image2-horse-gray.png"),
                           ("train/humans/c.jpg", "keras/image1-human-rgb-q90.jpg"), ("validation/horses/d.jpg", "images/inputs/horse_photo.jpg"),
                           ("validation/humans/e.png", "images/inputs/human_crop.png")] {
            let url = root.appendingPathComponent(to)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: URL(fileURLWithPath: CLI.fixture(from)), to: url)
        }
        try Data("not an image".utf8).write(to: root.appendingPathComponent("validation/humans/bad.png"))
        let cache = dir.appendingPathComponent("cache").path
        let r = try CLI.run(["extract", root.path, "--weights", FeaturesCommandTests.weights, "--cache", cache, "--size", "75"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return (root, cache)
    }

    func json(_ arguments: [String]) throws -> [String: Any] {
        let r = try CLI.run(arguments + ["--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
    }

    func testTheDefaultViewShowsFingerprintCountsRecordsDiskAndTimes() throws {
        let (root, cache) = try extracted()
        let r = try CLI.run(["inspect", cache])
        XCTAssertEqual(r.status, 0, r.stderr)
        for line in ["dataset         " + root.standardizedFileURL.path, "  weights       seeded-notop.h5  sha256 ",
                     "  layer         mixed7, input 75×75, resize nearest, preprocess rescale",
                     "  features      f16 (3, 3, 768), format version 1",
                     "  augmentation  none",
                     "classes         0 horses, 1 humans",
                     "train           3 images (horses 2, humans 1)",
                     "validation      2 images (horses 1, humans 1)",
                     "records         5: 5 images, 0 augmented views (0.00 views per image), 0 not referenced by the index",
                     "errors          1 (see --errors)",
                     "disk            ", "LMDB map 64.0 MiB", "created         20", "updated         20"] {
            XCTAssertTrue(r.stdout.contains(line), "lacks \(line):\n\(r.stdout)")
        }
    }

    func testEveryViewPrintsJSONWithStableKeys() throws {
        let (root, cache) = try extracted()
        let out = root.deletingLastPathComponent().appendingPathComponent("h.png").path
        let views: [([String], Set<String>)] = [
            // weightsWarning: the cache's weights are not Keras's ImageNet file (absent for that file).
            ([], ["cache", "fingerprint", "weightsOrigin", "weightsWarning", "dataset", "classes", "splits", "images", "records",
                  "errors", "disk", "created", "updated"]),
            (["--verify"], ["cache", "ok", "recordsChecked", "indexEntriesChecked", "errorEntriesChecked", "problems"]),
            (["--errors"], ["cache", "errors"]),
            (["--entry", "train/horses/a.png"], ["cache", "path", "contentKey", "split", "label", "className", "dtype", "shape", "mean",
                                                 "std", "min", "max", "zeroFraction", "topChannels"]),
            (["--heatmap", "train/horses/a.png", "--dataset", root.path, "--out", out],
             ["cache", "path", "imageFile", "width", "height", "grid", "cellMeans", "minimum", "maximum", "colourMap", "alpha",
              "contentMatchesIndex", "out"]),
            (["--stale", root.path], ["cache", "dataset", "added", "changed", "removed", "touched", "unreadable", "unchanged",
                                      "hashedAll", "stale"]),
        ]
        for (options, keys) in views {
            XCTAssertEqual(Set(try json(["inspect", cache] + options).keys), keys, "\(options)")
        }
        let entry = try json(["inspect", cache, "--entry", "train/horses/a.png"])
        XCTAssertEqual(entry["shape"] as? [Int], [3, 3, 768])
        let top = try XCTUnwrap(entry["topChannels"] as? [[String: Any]])
        XCTAssertEqual(top.count, 10)
        XCTAssertEqual(Set(top[0].keys), ["channel", "mean"])
        let errors = try XCTUnwrap(try json(["inspect", cache, "--errors"])["errors"] as? [[String: Any]])
        XCTAssertEqual(errors.map { Set($0.keys) }, [["path", "reason", "time", "timeISO8601"]])
    }

    func testVerifyOnASoundCacheSaysOKAndExitsZero() throws {
        let (_, cache) = try extracted()
        let r = try CLI.run(["inspect", cache, "--verify"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "checked 5 records, 5 index entries, 1 errors entries of \(cache)\nok: no problems\n")
    }

    func testVerifyListsAFlippedATruncatedAndAMissingRecordAndExitsOne() throws {
        let (_, cache) = try extracted()
        var keys = [String: ContentKey]()
        do {  // the in-process environment is closed before the command opens the cache
            let c = try FeatureCache(path: cache, fingerprint: nil)
            for e in try c.indexEntries() { keys[e.path] = e.key }
            func raw(_ k: ContentKey) throws -> [UInt8] {
                try c.lmdb.read { txn in try c.lmdb.get(txn, "records", Layout.recordKey(k, view: 0)) { Array($0!) } }
            }
            var flipped = try raw(keys["train/horses/a.png"]!)
            flipped[flipped.count - 3] ^= 0x5A
            let cut = Array(try raw(keys["validation/horses/d.jpg"]!).dropLast(2))
            try c.lmdb.write { txn in
                try c.lmdb.put(txn, "records", Layout.recordKey(keys["train/horses/a.png"]!, view: 0), flipped)
                try c.lmdb.put(txn, "records", Layout.recordKey(keys["validation/horses/d.jpg"]!, view: 0), cut)
                try c.lmdb.delete(txn, "records", Layout.recordKey(keys["train/humans/c.jpg"]!, view: 0))
            }
        }
        let r = try CLI.run(["inspect", cache, "--verify"])
        XCTAssertEqual(r.status, 1, r.stderr)
        // 12-byte header + 3 dims · 4 bytes + 6,912 float16 values = 13,848 bytes; two were cut.
        XCTAssertTrue(r.stdout.hasPrefix("checked 4 records, 5 index entries, 1 errors entries of \(cache)\n3 problem(s):\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  records \(keys["train/horses/a.png"]!)/0: payload CRC-32 is "), r.stdout)
        XCTAssertTrue(r.stdout.contains("  records \(keys["validation/horses/d.jpg"]!)/0: value is 13846 bytes, header (f16, shape [3, 3, 768]) says 13848"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  index train/humans/c.jpg: points to record \(keys["train/humans/c.jpg"]!)/0, which does not exist"), r.stdout)
    }

    func testErrorsListsTheFileThatFailedWithItsReason() throws {
        let (_, cache) = try extracted()
        let r = try CLI.run(["inspect", cache, "--errors"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("1 file(s) produced no features:\n  validation/humans/bad.png: unsupported format"), r.stdout)
    }

    func testEntryPrintsStatisticsAndTenTopChannels() throws {
        let (_, cache) = try extracted()
        let r = try CLI.run(["inspect", cache, "--entry", "validation/horses/d.jpg"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertTrue(lines[0].hasPrefix("validation/horses/d.jpg: validation, label 0 (horses), content key "), r.stdout)
        XCTAssertEqual(lines[1], "  shape (3, 3, 768), stored f16")
        XCTAssertTrue(lines[2].hasPrefix("  mean "), r.stdout)
        XCTAssertEqual(lines[3], "  top channels by mean activation:")
        XCTAssertEqual(lines.count, 4 + 10, r.stdout)
    }

    func testAnEntryNotInTheIndexIsAnError() throws {
        let (_, cache) = try extracted()
        let r = try CLI.run(["inspect", cache, "--entry", "train/horses/zzz.png"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("has no index entry train/horses/zzz.png"), r.stderr)
    }

    func testHeatmapWritesAPNGAtTheCachesInputSize() throws {
        let (root, cache) = try extracted()
        let out = root.deletingLastPathComponent().appendingPathComponent("heat.png").path
        let r = try CLI.run(["inspect", cache, "--heatmap", "train/horses/a.png", "--dataset", root.path, "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: ":").first.map(String.init), "wrote \(out)")
        let decoded = try ImageDecoder.decode(path: out)
        XCTAssertEqual(decoded.format, .png)
        XCTAssertEqual([decoded.image.width, decoded.image.height], [75, 75], "the 300×300 image at the cache's input size")
    }

    func testHeatmapWithoutADatasetReadsTheFolderTheCacheWasExtractedFrom() throws {
        let (root, cache) = try extracted()
        let out = root.deletingLastPathComponent().appendingPathComponent("heat.png").path
        let r = try CLI.run(["inspect", cache, "--heatmap", "train/horses/a.png", "--out", out, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let view = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(view["imageFile"] as? String, root.standardizedFileURL.appendingPathComponent("train/horses/a.png").path)
        XCTAssertEqual(try ImageDecoder.decode(path: out).image.width, 75)
    }

    func testHeatmapOfAMovedDatasetNamesTheMissingFile() throws {
        let (root, cache) = try extracted()
        let moved = root.deletingLastPathComponent().appendingPathComponent("moved")
        try FileManager.default.moveItem(at: root, to: moved)
        let out = moved.deletingLastPathComponent().appendingPathComponent("heat.png").path
        let r = try CLI.run(["inspect", cache, "--heatmap", "train/horses/a.png", "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(root.standardizedFileURL.appendingPathComponent("train/horses/a.png").path + ": no such file"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testStaleListsAddedChangedAndRemovedFiles() throws {
        let (root, cache) = try extracted()
        let fm = FileManager.default
        try fm.copyItem(atPath: CLI.fixture("images/inputs/rgb.png"), toPath: root.appendingPathComponent("train/humans/new.png").path)
        try fm.removeItem(at: root.appendingPathComponent("train/horses/b.png"))
        try fm.removeItem(at: root.appendingPathComponent("validation/humans/e.png"))
        try fm.copyItem(atPath: CLI.fixture("images/inputs/gray.png"), toPath: root.appendingPathComponent("validation/humans/e.png").path)
        let r = try CLI.run(["inspect", cache, "--stale", root.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        for line in ["1 added, 1 changed, 1 removed, 4 unchanged", "  added    train/humans/new.png",
                     "  changed  validation/humans/e.png: content differs from what was extracted", "  removed  train/horses/b.png"] {
            XCTAssertTrue(r.stdout.contains(line), "lacks \(line):\n\(r.stdout)")
        }
    }

    func testOneViewAtATimeAndHeatmapNeedsOut() throws {
        var r = try CLI.run(["inspect", "c", "--verify", "--errors"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("Ask for one view at a time"), r.stderr)
        r = try CLI.run(["inspect", "c", "--heatmap", "a.png"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--heatmap needs --out FILE.png."), r.stderr)
    }

    func testANonCacheIsNamed() throws {
        let r = try CLI.run(["inspect", "/nonexistent/cache"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/nonexistent/cache is not a headstart feature cache: no such directory"), r.stderr)
    }
}
