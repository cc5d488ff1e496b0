import Extract
import Foundation
import Numerics
import Store
import XCTest

/// `headstart extract`: the cache it leaves, as another process sees it.
final class ExtractCommandTests: XCTestCase {
    var weights: String { FeaturesCommandTests.weights }

    func extract(_ dataset: CLIDataset, cache: String, _ extra: [String] = []) throws -> CLI.Result {
        try CLI.run(["extract", dataset.root.path, "--weights", weights, "--cache", cache] + extra)
    }

    func testAPipelineFileStandsInForTheDatasetAndFlagsOverrideIt() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        _ = d.addJPEGs(classes: ["a", "b"], count: 3)
        let cache = dir.appendingPathComponent("cache").path
        let pipeline = dir.appendingPathComponent("p.yaml").path
        try """
        dataset: \(d.root.path)
        weights: \(weights)
        cache: \(cache)
        extract:
          layer: mixed5
          size: 75
          dtype: f16
        """.write(toFile: pipeline, atomically: true, encoding: .utf8)
        let r = try CLI.run(["extract", pipeline, "--dtype", "f32"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let fingerprint = try FeatureCache.open(cache).fingerprint
        XCTAssertEqual(fingerprint.layer, "mixed5", "from the file")
        XCTAssertEqual(fingerprint.inputSize, [75, 75], "from the file")
        XCTAssertEqual(fingerprint.dtype, .f32, "the flag overrides the file")
        XCTAssertEqual(try FeatureCache.open(cache).counts().records, 6)
    }

    func testStrictFailsWhenAFileWasSkippedAndKeepsEverythingElse() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        _ = d.addJPEGs(classes: ["a", "b"], count: 2)
        d.write("a/broken.jpg", Array("not a JPEG".utf8))
        let cache = dir.appendingPathComponent("cache").path
        let plain = try extract(d, cache: cache, ["--size", "75"])
        XCTAssertEqual(plain.status, 0, "without --strict a skipped file is reported, not a failure: \(plain.stderr)")
        XCTAssertTrue(plain.stdout.contains("skipped 1 file(s):"), plain.stdout)

        let strict = try extract(d, cache: cache, ["--size", "75", "--strict"])
        XCTAssertNotEqual(strict.status, 0)
        XCTAssertTrue(strict.stderr.contains("--strict: 1 file(s) were skipped"), strict.stderr)
        XCTAssertTrue(strict.stdout.contains("a/broken.jpg"), strict.stdout)
        XCTAssertEqual(try FeatureCache.open(cache).counts().records, 4)
    }

    func testStrictSucceedsWhenNothingWasSkipped() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        _ = d.addJPEGs(classes: ["a", "b"], count: 1)
        let r = try extract(d, cache: dir.appendingPathComponent("cache").path, ["--size", "75", "--strict"])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testTheSummaryNamesTheWeightsAndCallsOutOtherWeights() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        _ = d.addJPEGs(classes: ["a", "b"], count: 1)
        let r = try extract(d, cache: dir.appendingPathComponent("cache").path, ["--size", "75"])
        XCTAssertEqual(r.status, 0, r.stderr)
        // The parity fixtures' weights: seeded values written without the seeded writer's stamp.
        XCTAssertTrue(r.stdout.contains("weights: \(URL(fileURLWithPath: weights).lastPathComponent): other weights"), r.stdout)
        XCTAssertTrue(r.stdout.contains("WARNING: other weights, not Keras's ImageNet weights"), r.stdout)
    }

    func testAnotherSizeIsRefusedNamingTheFieldAndRebuildStartsOver() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["a", "b"], count: 2)
        let cache = dir.appendingPathComponent("cache").path
        let first = try extract(d, cache: cache, ["--size", "75"])
        XCTAssertEqual(first.status, 0, first.stderr)

        let refused = try extract(d, cache: cache, ["--size", "99"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("inputSize: cache has [75, 75], this run has [99, 99]"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--rebuild"), refused.stderr)
        XCTAssertEqual(try FeatureCache.open(cache).fingerprint.inputSize, [75, 75], "the refused run changed nothing")

        let rebuilt = try extract(d, cache: cache, ["--size", "99", "--rebuild"])
        XCTAssertEqual(rebuilt.status, 0, rebuilt.stderr)
        XCTAssertTrue(rebuilt.stdout.contains("4 extracted"), rebuilt.stdout)
        let c = try FeatureCache.open(cache)
        XCTAssertEqual(c.fingerprint.inputSize, [99, 99])
        XCTAssertEqual(try c.counts().records, 4)
    }

    // MARK: features read back equal `headstart features`

    /// Ten distinct images in two classes, and their paths in dataset order (class, then name).
    func featureDataset(_ dir: URL) -> (CLIDataset, [String]) {
        let d = CLIDataset(dir)
        var paths = d.addJPEGs(classes: ["a"], count: 6)
        paths.append(d.write("b/human-crop.png", CLIDataset.fixtureBytes("images/inputs/human_crop.png")))
        paths.append(d.write("b/rgb.png", CLIDataset.fixtureBytes("images/inputs/rgb.png")))
        paths.append(d.write("b/rgba.png", CLIDataset.fixtureBytes("images/inputs/rgba.png")))
        paths.append(d.write("b/z-rgb.jpg", CLIDataset.fixtureBytes("images/inputs/rgb.jpg")))
        return (d, paths)
    }

    /// `headstart extract --dtype D --batch 4` then `headstart features --batch 4` on the same images in the
    /// same order. The batches must match: a float32 sum over a batch of a different size can differ in the last
    /// bits (OpenBLAS blocks by the batch dimension), and every image here is new, so extract's batches are the
    /// dataset's images four at a time, as features' are.
    func cachedAndDirect(dtype: String) throws -> (cached: [[Float]], direct: [[Float]]) {
        let dir = try CLI.temporaryDirectory()
        let (d, paths) = featureDataset(dir)
        let cache = dir.appendingPathComponent("cache").path
        let r = try extract(d, cache: cache, ["--dtype", dtype, "--batch", "4", "--size", "75"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("10 extracted"), r.stdout)
        let npy = dir.appendingPathComponent("direct.npy").path
        let f = try CLI.run(["features", "--weights", weights, "--batch", "4", "--size", "75", "--out", npy] + paths.map(d.path))
        XCTAssertEqual(f.status, 0, f.stderr)
        let direct = try NPY.read(npy).floats
        let n = direct.count / paths.count
        let c = try FeatureCache.open(cache)
        var cached = [[Float]]()
        for p in paths {
            let e = try XCTUnwrap(c.indexEntry(path: p), p)
            cached.append(try XCTUnwrap(c.record(key: e.key)).values)
        }
        return (cached, (0..<paths.count).map { Array(direct[($0 * n)..<(($0 + 1) * n)]) })
    }

    func testF32FeaturesReadBackAreBitwiseThoseOfHeadstartFeatures() throws {
        let (cached, direct) = try cachedAndDirect(dtype: "f32")
        for (i, (a, b)) in zip(cached, direct).enumerated() {
            XCTAssertEqual(a.count, 3 * 3 * 768)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "image \(i)")
        }
        XCTAssertNotEqual(cached[0], cached[1], "different images, different features")
    }

    /// float16 keeps 11 significant bits: rounding to nearest moves a normal value by at most 2^-11 of itself, a
    /// subnormal one (below 2^-14) by at most half its spacing, 2^-25.
    func testF16FeaturesReadBackAreThoseOfHeadstartFeaturesWithinHalfPrecisionRounding() throws {
        let (cached, direct) = try cachedAndDirect(dtype: "f16")
        var rounded = 0
        for (i, (a, b)) in zip(cached, direct).enumerated() {
            for (x, y) in zip(a, b) {
                XCTAssertLessThanOrEqual(abs(x - y), 0x1p-11 * abs(y) + 0x1p-25, "image \(i): cached \(x), direct \(y)")
                if x != y { rounded += 1 }
            }
        }
        XCTAssertGreaterThan(rounded, 0, "the values really went through float16")
    }

    // MARK: kill -9

    /// `headstart extract` killed with SIGKILL twice at different points (after ≥ 2 and ≥ 12 batches reached the
    /// cache), then run to completion: after each kill the cache opens and verifies clean, and at the end it
    /// holds exactly one record per distinct content and one index entry per file — nothing lost or duplicated.
    func testAKilledExtractionLeavesASoundCacheThatResumesToExactlyOneRecordPerImage() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        var files = d.addJPEGs(classes: ["horses", "humans"], count: 100)  // 200 distinct images
        for i in 0..<6 { files.append(d.write("humans/copy-\(i).jpg", CLIDataset.jpegVariant(100 + i * 15))) }  // 6 duplicates
        d.write("humans/empty.jpg", [])
        let expectedKeys = Set(files.map { ContentKey.of(try! Data(contentsOf: URL(fileURLWithPath: d.path($0)))) })
        XCTAssertEqual(expectedKeys.count, 200)
        let cache = dir.appendingPathComponent("cache").path
        let args = ["extract", d.root.path, "--weights", weights, "--cache", cache, "--size", "150", "--batch", "8"]

        var recordsBefore = 0
        for (trial, killAt) in [16, 96].enumerated() {
            let kill = try BackgroundCLI.killExtraction(args, cache: cache, atRecords: killAt)
            XCTAssertTrue(kill.killed, "trial \(trial): the child must still be running when killed (it had \(kill.seen) records); stderr:\n\(kill.stderr)")
            let c = try FeatureCache.open(cache)
            XCTAssertEqual(try c.verify(), [], "trial \(trial)")
            let counts = try c.counts()
            XCTAssertGreaterThanOrEqual(counts.records, killAt, "trial \(trial)")
            XCTAssertGreaterThan(counts.records, recordsBefore, "trial \(trial): the resumed run added records")
            XCTAssertLessThan(counts.records, 200, "trial \(trial): killed before the end")
            for e in try c.indexEntries() {
                XCTAssertNotNil(try c.record(key: e.key), "trial \(trial): \(e.path) indexed without its record")
            }
            recordsBefore = counts.records
        }

        let final = try CLI.run(args)
        XCTAssertEqual(final.status, 0, final.stderr)
        XCTAssertTrue(final.stdout.contains("\(200 - recordsBefore) extracted"), "only what the killed runs had not committed:\n\(final.stdout)")
        let c = try FeatureCache.open(cache)
        XCTAssertEqual(try c.verify(), [])
        let counts = try c.counts()
        XCTAssertEqual(counts.records, 200, "one record per distinct content")
        let entries = try c.indexEntries()
        XCTAssertEqual(entries.map(\.path), files.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "one index entry per file")
        XCTAssertEqual(Set(entries.map(\.key)), expectedKeys)
        for e in entries {
            XCTAssertEqual(e.key, ContentKey.of(try Data(contentsOf: URL(fileURLWithPath: d.path(e.path)))), e.path)
            XCTAssertEqual(e.label, e.path.hasPrefix("horses/") ? 0 : 1, e.path)
        }
        XCTAssertEqual(try c.errorEntries().map(\.path), ["humans/empty.jpg"])
    }
}
