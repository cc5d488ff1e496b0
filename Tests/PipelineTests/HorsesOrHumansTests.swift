import Extract
import Foundation
import Pipeline
import Store
import XCTest

/// The real dataset, when ../shared/data/horse-or-human is present beside the repository. The full check (all
/// 1,283 images: 1,027 train and 256 validation records, no errors, a second run with no network work) takes
/// minutes in a debug build, so it is `scripts/check-horses-or-humans` (release build); here the first 64 images.
final class HorsesOrHumansTests: XCTestCase {
    static let root = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/data/horse-or-human")

    func testTheFirst64RealImagesExtractWithoutErrorsAndASecondRunReusesThemAll() throws {
        guard FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("train").path) else {
            throw XCTSkip("\(Self.root.path) is absent (fetch it with headstart's downloader to run this test)")
        }
        let extractor = try FeatureExtractor(weights: seededWeights, settings: ExtractionSettings(), threads: 2)  // the book's 150, mixed7
        let cache = temporaryDirectory(self, "cache")
        var job = ExtractionJob(dataset: Self.root, cache: cache.path)
        job.limit = 64
        job.batchSize = 16
        let first = try Extraction.run(job, extractor: extractor, weights: seededWeights)
        XCTAssertEqual(first.classNames, ["horses", "humans"])
        XCTAssertEqual(first.considered, 64)
        XCTAssertEqual(first.extracted, 64)
        XCTAssertEqual(first.failed.count, 0, "\(first.failed)")
        let c = try FeatureCache.open(cache)
        XCTAssertEqual(c.fingerprint.featureShape, [7, 7, 768])
        let counts = try c.counts()
        XCTAssertEqual(counts.records, 64)
        XCTAssertEqual(counts.entriesBySplit, [.train: 64], "the first 64 in dataset order are train/horses")
        XCTAssertEqual(counts.entriesBySplitAndLabel[.train], [0: 64])
        XCTAssertEqual(try c.errorEntries().count, 0)
        XCTAssertTrue(try c.indexEntries().allSatisfy { $0.path.hasPrefix("train/horses/") })

        let second = try Extraction.run(job, extractor: extractor, weights: seededWeights)
        XCTAssertEqual(second.extracted, 0, "no network work")
        XCTAssertEqual(second.reused, 64)
        XCTAssertEqual(second.networkSeconds, 0)
    }
}
