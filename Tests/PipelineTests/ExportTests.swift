import Foundation
import Numerics
import Pipeline
import Store
import XCTest

/// `Export.run`: a cache as NumPy files, streamed.
final class ExportTests: XCTestCase {
    /// A cache of 11 images in two classes and both splits (train/ and validation/ folders), one of them a copy
    /// of another in the same split, f16.
    func makeCache() throws -> URL {
        let d = TestDataset(self)
        var n = 0
        for (split, count) in [("train", 3), ("validation", 2)] {
            for c in ["cats", "dogs"] {
                for i in 0..<count { d.write("\(split)/\(c)/\(c)-\(i).jpg", TestImages.jpegVariant(n)); n += 1 }
            }
        }
        d.write("train/cats/copy-of-cats-2.jpg", TestImages.jpegVariant(2))
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache)
        XCTAssertEqual(try FeatureCache.open(cache).counts().entriesBySplit, [.train: 7, .validation: 4])
        return cache
    }

    func testRowsAreStreamedInBatchesAndEqualTheRecordsWhateverTheBatchSize() throws {
        let cache = try makeCache()
        let small = temporaryDirectory(self, "small").path, large = temporaryDirectory(self, "large").path
        let s = try Export.run(cache: cache.path, to: small, batchSize: 3)  // 11 rows: batches of 3, 3, 3, 2
        try Export.run(cache: cache.path, to: large, batchSize: 1000)
        XCTAssertEqual(s.count, 11)
        XCTAssertEqual(s.featureShape, [11, 3, 3, 768])
        for name in Export.fileNames {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: small + "/" + name)),
                           try Data(contentsOf: URL(fileURLWithPath: large + "/" + name)), name)
        }
        let c = try FeatureCache.open(cache)
        let values = try NPY.read(small + "/features.npy").floats
        let n = 3 * 3 * 768
        for (i, e) in try c.indexEntries().enumerated() {
            XCTAssertEqual(Array(values[(i * n)..<((i + 1) * n)]), try XCTUnwrap(c.record(key: e.key)).values, e.path)
        }
    }

    func testTheOutputFolderHoldsTheFiveFilesAndNoPartialOnes() throws {
        let cache = try makeCache()
        let out = temporaryDirectory(self, "out").path
        try Export.run(cache: cache.path, to: out)
        try Export.run(cache: cache.path, to: out)  // again over the first export: replaced, not appended
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(), Export.fileNames.sorted())
        XCTAssertEqual(try NPY.read(out + "/features.npy").shape, [11, 3, 3, 768])
    }

    func testAnEmptySplitExportsZeroRowsOfTheFeatureShape() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a"], count: 2)
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache)  // no validation split: every image is train
        let out = temporaryDirectory(self, "out").path
        let s = try Export.run(cache: cache.path, to: out, split: .validation)
        XCTAssertEqual(s.count, 0)
        XCTAssertEqual(try NPY.read(out + "/features.npy").shape, [0, 3, 3, 768])
        XCTAssertEqual(try NPY.read(out + "/labels.npy").shape, [0])
        XCTAssertEqual(try String(contentsOfFile: out + "/paths.txt", encoding: .utf8), "")
        XCTAssertEqual(try String(contentsOfFile: out + "/classes.txt", encoding: .utf8), "a\n")
    }

    func testAPathWithALineBreakIsRefusedNamingIt() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a"], count: 1)
        d.write("a/two\nlines.jpg", TestImages.jpegVariant(9))
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache)
        let out = temporaryDirectory(self, "out").path
        XCTAssertThrowsError(try Export.run(cache: cache.path, to: out)) { error in
            XCTAssertEqual(error as? ExportError, .pathHasLineBreak(path: "a/two\nlines.jpg"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/paths.txt"), "nothing half-written")
    }

    /// NumPy itself reads what export writes (skipped without a Python that has numpy).
    func testNumPyLoadsTheFilesWithTheirShapesAndTypes() throws {
        let candidates = (ProcessInfo.processInfo.environment["HEADSTART_PYTHON"].map { [$0] } ?? []) + ["/work/venv/bin/python", "python3"]
        let cache = try makeCache()
        let out = temporaryDirectory(self, "out").path
        try Export.run(cache: cache.path, to: out)
        let script = """
        import sys, numpy as np
        d = sys.argv[1]
        f = np.load(d + '/features.npy'); l = np.load(d + '/labels.npy'); s = np.load(d + '/splits.npy')
        p = open(d + '/paths.txt').read().splitlines(); c = open(d + '/classes.txt').read().splitlines()
        print(f.dtype, f.shape, l.dtype, l.shape, s.dtype, s.shape, len(p), c)
        print(l.tolist(), s.tolist())
        print(repr(float(f.astype(np.float64).sum())))
        """
        for python in candidates {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [python, "-c", script, out]
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { continue }
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { continue }
            let c = try FeatureCache.open(cache)
            let entries = try c.indexEntries()
            var sum = 0.0
            for e in entries { for v in try XCTUnwrap(c.record(key: e.key)).values { sum += Double(v) } }
            let lines = text.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.count, 3, text)
            XCTAssertEqual(lines.first, "float32 (11, 3, 3, 768) int32 (11,) uint8 (11,) 11 ['cats', 'dogs']")
            XCTAssertEqual(lines.dropFirst().first, "\(entries.map(\.label)) \(entries.map(\.split.rawValue))")
            let pySum = Double(lines.last ?? "") ?? .nan
            XCTAssertEqual(pySum, sum, accuracy: abs(sum) * 1e-12, "NumPy's sum of features.npy")
            return
        }
        throw XCTSkip("no Python with numpy (tried $HEADSTART_PYTHON, /work/venv/bin/python, python3)")
    }
}
