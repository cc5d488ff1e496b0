import Extract
import Foundation
import Store
import XCTest

/// `headstart extract --views` and `headstart train --augment`, as another process sees them.
final class AugmentCommandTests: XCTestCase {
    var weights: String { FeaturesCommandTests.weights }

    /// `extract --views 3 --book` killed with SIGKILL twice (after ≥ 24 and ≥ 100 records reached the cache), then
    /// run to completion: after each kill the cache verifies clean and every record present is whole; at the end
    /// each of the 50 images has exactly views 0…3, and the last run computed only what the killed ones had not
    /// committed.
    func testAKilledViewsExtractionResumesToExactlyFourRecordsPerImage() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        let files = d.addJPEGs(classes: ["horses", "humans"], count: 25)
        let cache = dir.appendingPathComponent("cache").path
        let args = ["extract", d.root.path, "--weights", weights, "--cache", cache, "--size", "150", "--batch", "8",
                    "--views", "3", "--book", "--augment-seed", "11"]
        var recordsBefore = 0
        for (trial, killAt) in [24, 100].enumerated() {
            let kill = try BackgroundCLI.killExtraction(args, cache: cache, atRecords: killAt)
            XCTAssertTrue(kill.killed, "trial \(trial): the child must still be running when killed (it had \(kill.seen) records); stderr:\n\(kill.stderr)")
            let c = try FeatureCache.open(cache)
            XCTAssertEqual(try c.verify(), [], "trial \(trial)")
            let records = try c.counts().records
            XCTAssertGreaterThanOrEqual(records, killAt, "trial \(trial)")
            XCTAssertGreaterThan(records, recordsBefore, "trial \(trial): the resumed run added records")
            XCTAssertLessThan(records, 200, "trial \(trial): killed before the end")
            // A chunk commits an image's view 0 and its views together: every indexed image has all four.
            let views = try c.storedViews()
            for e in try c.indexEntries() { XCTAssertEqual(views[e.key], [0, 1, 2, 3], "trial \(trial): \(e.path)") }
            recordsBefore = records
        }
        let final = try CLI.run(args)
        XCTAssertEqual(final.status, 0, final.stderr)
        let imagesBefore = recordsBefore / 4
        XCTAssertTrue(final.stdout.contains("\(50 - imagesBefore) extracted"), final.stdout)
        XCTAssertTrue(final.stdout.contains("views: 3 per training image: \(3 * (50 - imagesBefore)) extracted"), final.stdout)
        XCTAssertTrue(final.stdout.contains("\(3 * imagesBefore) reused from the cache"), final.stdout)
        let c = try FeatureCache.open(cache)
        XCTAssertEqual(try c.verify(), [])
        XCTAssertEqual(try c.recordSummary().recordsByView, [0: 50, 1: 50, 2: 50, 3: 50])
        XCTAssertEqual(try c.indexEntries().count, files.count)
        XCTAssertEqual(c.fingerprint.augmentation?.hasSuffix("seed=11"), true)

        // Other settings are refused, naming the field.
        let refused = try CLI.run(["extract", d.root.path, "--weights", weights, "--cache", cache, "--size", "150",
                                   "--views", "4", "--rotation", "10"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("augmentation: cache has augment/v1 rotation=40.0"), refused.stderr)

        // Training over the views, and live re-extraction with the wrong weights refused.
        let head = dir.appendingPathComponent("head.h5").path
        let t = try CLI.run(["train", cache, "--out", head, "--epochs", "2", "--hidden", "8", "--augment", "views"])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stdout.contains("augment views: 50 of 50 training images have cached views (150 views besides the originals)"), t.stdout)
        let other = dir.appendingPathComponent("other.h5").path
        try SeededWeights.kerasFile(seed: 8).write(to: other, style: .fixedLength)
        let live = try CLI.run(["train", cache, "--out", head, "--epochs", "1", "--augment", "live", "--fresh", "0.5", "--weights", other])
        XCTAssertNotEqual(live.status, 0)
        XCTAssertTrue(live.stderr.contains("SHA-256"), live.stderr)
    }
}
