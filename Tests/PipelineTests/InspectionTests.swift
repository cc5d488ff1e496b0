import Extract
import Foundation
import KerasH5
import Numerics
import Pipeline
import XCTest
@testable import Store

/// Caches and datasets for the inspection tests (a namespace, so nothing clashes with other PipelineTests files).
enum InspectionFixture {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func fixture(_ relative: String) -> URL {
        repositoryRoot.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative)
    }

    /// A fresh directory removed at the end of `test`.
    static func directory(_ test: XCTestCase) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-inspect-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Seeded InceptionV3 weights (seed 7 with the committed calibrated BatchNorm statistics), bound in memory
    /// once: the tests need real, image-dependent features, not trained ones.
    static let weights: InceptionV3Weights = {
        let bn = try! NPY.read(fixture("keras/bn-params.npy").path).floats
        let file = BaseWeights.kerasFile(units: SeededWeights.generate(seed: 7, batchNorm: bn))
        return try! BaseWeights.match(file, path: "seeded-7.h5", sha256: String(repeating: "7e", count: 32),
                                      sourceName: "seeded-7.h5", cut: .mixed7)
    }()

    /// mixed7 at 75×75 (features 3×3×768), Keras's nearest resize and rescale.
    static let extractor = try! FeatureExtractor(weights: weights, settings: ExtractionSettings(size: 75), threads: 2)

    /// The dataset every extraction test starts from:
    ///     train/horses/a.png (300×300 RGBA), train/horses/b.png (200×200 grey), train/humans/c.jpg,
    ///     validation/horses/d.jpg, validation/humans/e.png, validation/humans/bad.png (not an image)
    static func dataset(in dir: URL) -> URL {
        let root = dir.appendingPathComponent("dataset")
        let files = [("train/horses/a.png", "keras/image0-horse-rgba.png"), ("train/horses/b.png", "keras/image2-horse-gray.png"),
                     ("train/humans/c.jpg", "keras/image1-human-rgb-q90.jpg"), ("validation/horses/d.jpg", "images/inputs/horse_photo.jpg"),
                     ("validation/humans/e.png", "images/inputs/human_crop.png")]
        for (to, from) in files {
            let url = root.appendingPathComponent(to)
            try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try! FileManager.default.copyItem(at: fixture(from), to: url)
        }
        try! Data("not an image".utf8).write(to: root.appendingPathComponent("validation/humans/bad.png"))
        return root
    }

    /// The dataset above extracted into dir/cache with `Extraction.run`.
    static func extracted(_ test: XCTestCase) throws -> (dataset: URL, cache: String) {
        let dir = directory(test)
        let root = dataset(in: dir)
        let cache = dir.appendingPathComponent("cache").path
        _ = try Extraction.run(ExtractionJob(dataset: root, cache: cache), extractor: extractor, weights: weights)
        return (root, cache)
    }

    /// A hand-made fingerprint for constructed caches.
    static func fingerprint(size: Int, shape: [Int], dtype: FeatureDType = .f32) -> CacheFingerprint {
        CacheFingerprint(weightsSHA256: String(repeating: "ab", count: 32), weightsName: "constructed.h5", layer: "mixed7",
                         inputSize: [size, size], resize: "nearest", preprocess: "rescale", dtype: dtype, featureShape: shape)
    }

    static func entry(_ path: String, _ key: ContentKey, label: Int32 = 0, split: Split = .train) -> IndexEntry {
        IndexEntry(path: path, key: key, label: label, split: split, fileSize: 1, modificationTimeNanoseconds: 0)
    }
}

/// The default view: fingerprint, counts per split and class, records and views, errors, disk and times.
final class InspectionOverviewTests: XCTestCase {
    func testTheFingerprintIsShownAsExtracted() throws {
        let (_, path) = try InspectionFixture.extracted(self)
        let f = try Inspection.overview(FeatureCache(path: path, fingerprint: nil)).fingerprint
        XCTAssertEqual(f.weightsName, "seeded-7.h5")
        XCTAssertEqual(f.weightsSHA256, String(repeating: "7e", count: 32))
        XCTAssertEqual(f.layer, "mixed7")
        XCTAssertEqual(f.inputSize, [75, 75])
        XCTAssertEqual(f.resize, "nearest")
        XCTAssertEqual(f.preprocess, "rescale")
        XCTAssertEqual(f.dtype, "f16")
        XCTAssertEqual(f.featureShape, [3, 3, 768])
        XCTAssertEqual(f.formatVersion, CacheFingerprint.currentFormatVersion)
        XCTAssertEqual(f.augmentation, "none")
        XCTAssertEqual(f.extra, [:])
    }

    func testImagesAreCountedPerSplitAndClassWithTheCachesClassNames() throws {
        let (_, path) = try InspectionFixture.extracted(self)
        let v = try Inspection.overview(FeatureCache(path: path, fingerprint: nil))
        XCTAssertEqual(v.classes, ["horses", "humans"])
        XCTAssertEqual(v.images, 5)
        XCTAssertEqual(v.splits, [
            SplitCount(split: "train", images: 3, classes: [ClassCount(label: 0, name: "horses", images: 2),
                                                            ClassCount(label: 1, name: "humans", images: 1)]),
            SplitCount(split: "validation", images: 2, classes: [ClassCount(label: 0, name: "horses", images: 1),
                                                                 ClassCount(label: 1, name: "humans", images: 1)]),
        ])
    }

    func testTheDatasetFolderExtractedFromIsShown() throws {
        let (root, path) = try InspectionFixture.extracted(self)
        XCTAssertEqual(try Inspection.overview(FeatureCache(path: path, fingerprint: nil)).dataset, root.standardizedFileURL.path)
    }

    func testRecordsViewsAndErrorsAreCounted() throws {
        let (_, path) = try InspectionFixture.extracted(self)
        let v = try Inspection.overview(FeatureCache(path: path, fingerprint: nil))
        XCTAssertEqual(v.records, RecordCounts(total: 5, images: 5, augmentedViews: 0, viewsPerImage: 0, unreferenced: 0))
        XCTAssertEqual(v.errors, 1, "validation/humans/bad.png")
    }

    func testAugmentedViewsAndUnreferencedRecordsAreCountedApart() throws {
        let dir = InspectionFixture.directory(self)
        let cache = try FeatureCache(path: dir.appendingPathComponent("c").path,
                                     fingerprint: InspectionFixture.fingerprint(size: 75, shape: [1, 1, 2]))
        let keys = (0..<3).map { ContentKey.of(Data("image \($0)".utf8)) }
        // Two images with views 0, 1 and 2; a third record (view 0) that no index entry refers to.
        try cache.commit(batch: Batch(
            records: [0, 1].flatMap { i in (0..<3).map { PendingRecord(key: keys[i], view: UInt16($0), values: [1, 2]) } }
                + [PendingRecord(key: keys[2], values: [3, 4])],
            entries: [InspectionFixture.entry("a/x.png", keys[0]), InspectionFixture.entry("a/y.png", keys[1])]))
        let r = try Inspection.overview(cache).records
        XCTAssertEqual(r, RecordCounts(total: 7, images: 3, augmentedViews: 4, viewsPerImage: 4.0 / 3.0, unreferenced: 1))
    }

    func testALabelWithoutAStoredClassNameIsNamedByItsNumber() throws {
        let dir = InspectionFixture.directory(self)
        let cache = try FeatureCache(path: dir.appendingPathComponent("c").path,
                                     fingerprint: InspectionFixture.fingerprint(size: 75, shape: [1, 1, 2]))
        let k = ContentKey.of(Data("x".utf8))
        try cache.setClassNames(["cats"])
        try cache.commit(batch: Batch(records: [PendingRecord(key: k, values: [0, 0])],
                                      entries: [InspectionFixture.entry("dogs/x.png", k, label: 1, split: .validation)]))
        let v = try Inspection.overview(cache)
        XCTAssertEqual(v.splits[1].classes, [ClassCount(label: 0, name: "cats", images: 0), ClassCount(label: 1, name: "label 1", images: 1)])
        XCTAssertEqual(v.splits[0], SplitCount(split: "train", images: 0, classes: [ClassCount(label: 0, name: "cats", images: 0)]))
    }

    func testDiskSizeIsTheFilesAndMapUseIsLMDBs() throws {
        let (_, path) = try InspectionFixture.extracted(self)
        let cache = try FeatureCache(path: path, fingerprint: nil)
        let d = try Inspection.overview(cache).disk
        func size(_ name: String) throws -> Int64 {
            (try FileManager.default.attributesOfItem(atPath: path + "/" + name)[.size] as! NSNumber).int64Value
        }
        XCTAssertEqual(d.dataBytes, try size("data.mdb"))
        XCTAssertEqual(d.lockBytes, try size("lock.mdb"))
        XCTAssertEqual(d.totalBytes, d.dataBytes + d.lockBytes)
        XCTAssertEqual(d.mapSize, cache.mapSize)
        XCTAssertEqual(d.mapFraction, Double(d.dataBytes) / Double(d.mapSize), accuracy: 1e-12)
        // Five records of 3·3·768 float16 values (13.8 KB each) are in the used pages; the file holds no more.
        XCTAssertGreaterThanOrEqual(d.mapUsedBytes, 5 * 3 * 3 * 768 * 2)
        XCTAssertLessThanOrEqual(Int64(d.mapUsedBytes), d.dataBytes)
    }

    func testCreationAndUpdateTimesAreTheCachesInOrder() throws {
        let before = Date()
        let (_, path) = try InspectionFixture.extracted(self)
        let after = Date()
        let v = try Inspection.overview(FeatureCache(path: path, fingerprint: nil))
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let created = try XCTUnwrap(f.date(from: v.created), v.created)
        let updated = try XCTUnwrap(f.date(from: v.updated), v.updated)
        XCTAssertLessThanOrEqual(created, updated)
        XCTAssertGreaterThanOrEqual(created.timeIntervalSince(before), -0.001)
        XCTAssertLessThanOrEqual(updated.timeIntervalSince(after), 0.001)
    }

    func testTheJSONHasStableKeys() throws {
        let (_, path) = try InspectionFixture.extracted(self)
        let v = try Inspection.overview(FeatureCache(path: path, fingerprint: nil))
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(v)) as! [String: Any]
        // weightsWarning: the fixture's weights are not Keras's ImageNet file (absent for that file).
        XCTAssertEqual(Set(object.keys), ["cache", "fingerprint", "weightsOrigin", "weightsWarning", "dataset", "classes", "splits",
                                          "images", "records", "errors", "disk", "created", "updated"])
        XCTAssertEqual(Set((object["fingerprint"] as! [String: Any]).keys),
                       ["weightsName", "weightsSHA256", "layer", "inputSize", "resize", "preprocess", "dtype", "featureShape",
                        "formatVersion", "augmentation", "extra"])
        XCTAssertEqual(Set((object["records"] as! [String: Any]).keys), ["total", "images", "augmentedViews", "viewsPerImage", "unreferenced"])
        XCTAssertEqual(Set((object["disk"] as! [String: Any]).keys), ["dataBytes", "lockBytes", "totalBytes", "mapSize", "mapUsedBytes", "mapFraction"])
    }
}

/// `--errors`: the errors table.
final class InspectionErrorsTests: XCTestCase {
    func testTheErrorsTableListsPathReasonAndTime() throws {
        let before = Date().timeIntervalSince1970
        let (_, path) = try InspectionFixture.extracted(self)
        let after = Date().timeIntervalSince1970
        let v = try Inspection.errors(FeatureCache(path: path, fingerprint: nil))
        XCTAssertEqual(v.errors.map(\.path), ["validation/humans/bad.png"])
        let e = try XCTUnwrap(v.errors.first)
        XCTAssertTrue(e.reason.hasPrefix("unsupported format"), e.reason)
        XCTAssertTrue((before...after).contains(e.time), "\(e.time) outside the run \(before)…\(after)")
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        XCTAssertEqual(try XCTUnwrap(f.date(from: e.timeISO8601)).timeIntervalSince1970, e.time, accuracy: 0.001)
    }
}

/// `--entry PATH`: one image's features summarised.
final class InspectionEntryTests: XCTestCase {
    /// Shape [2, 2, 3] (HWC) f32 values chosen so every statistic is known by hand.
    func constructed() throws -> FeatureCache {
        let dir = InspectionFixture.directory(self)
        let cache = try FeatureCache(path: dir.appendingPathComponent("c").path,
                                     fingerprint: InspectionFixture.fingerprint(size: 75, shape: [2, 2, 3]))
        try cache.setClassNames(["cats", "dogs"])
        let k = ContentKey.of(Data("dog".utf8))
        //        position (0,0)    (0,1)    (1,0)    (1,1), three channels each
        let values: [Float] = [0, 4, 2, 0, 4, 6, 0, 0, 2, 0, 4, 6]
        try cache.commit(batch: Batch(records: [PendingRecord(key: k, values: values)],
                                      entries: [InspectionFixture.entry("validation/dogs/d.png", k, label: 1, split: .validation)]))
        return cache
    }

    func testStatisticsOfAConstructedEntry() throws {
        let v = try Inspection.entry(constructed(), path: "validation/dogs/d.png")
        XCTAssertEqual(v.shape, [2, 2, 3])
        XCTAssertEqual(v.dtype, "f32")
        XCTAssertEqual(v.split, "validation")
        XCTAssertEqual(v.label, 1)
        XCTAssertEqual(v.className, "dogs")
        XCTAssertEqual(v.contentKey, ContentKey.of(Data("dog".utf8)).description)
        // Sum 28 over 12 values; squares sum 16+4+16+36+4+16+36 = 128, so variance 128/12 − (7/3)² = 47/9.
        XCTAssertEqual(v.mean, 28.0 / 12.0, accuracy: 1e-12)
        XCTAssertEqual(v.std, (47.0 / 9.0).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(v.min, 0)
        XCTAssertEqual(v.max, 6)
        XCTAssertEqual(v.zeroFraction, 5.0 / 12.0, accuracy: 1e-12)
    }

    func testTopChannelsAreByMeanOverPositionsLargestFirst() throws {
        let v = try Inspection.entry(constructed(), path: "validation/dogs/d.png")
        // Over the four positions: channel 0 is 0, 0, 0, 0; channel 1 is 4, 4, 0, 4; channel 2 is 2, 6, 2, 6.
        XCTAssertEqual(v.topChannels, [ChannelMean(channel: 2, mean: 4), ChannelMean(channel: 1, mean: 3), ChannelMean(channel: 0, mean: 0)])
    }

    func testTiesGoToTheLowerChannelAndAtMostCountAreListed() {
        let values: [Float] = [1, 3, 3, 2, 3, 0]  // one position, six channels
        XCTAssertEqual(Inspection.topChannels(values, shape: [1, 1, 6], count: 3),
                       [ChannelMean(channel: 1, mean: 3), ChannelMean(channel: 2, mean: 3), ChannelMean(channel: 4, mean: 3)])
    }

    func testAnExtractedEntryHoldsThatImagesFeatures() throws {
        let (root, path) = try InspectionFixture.extracted(self)
        let v = try Inspection.entry(FeatureCache(path: path, fingerprint: nil), path: "train/humans/c.jpg")
        let file = root.appendingPathComponent("train/humans/c.jpg").path
        XCTAssertEqual(v.contentKey, try ContentKey.of(fileAt: file).description)
        XCTAssertEqual(v.shape, [3, 3, 768])
        XCTAssertEqual(v.dtype, "f16")
        XCTAssertEqual([v.split, v.className], ["train", "humans"])
        XCTAssertEqual(v.topChannels.count, 10)
        // The same image through the extractor directly; the cache holds it as float16 (relative rounding ≤ 2⁻¹¹).
        let direct = try InspectionFixture.extractor.features(paths: [file])
        let s = Inspection.statistics(direct)
        XCTAssertEqual(v.mean, s.mean, accuracy: 1e-3 * s.mean)
        XCTAssertEqual(v.std, s.std, accuracy: 1e-3 * s.std)
        XCTAssertEqual(v.max, s.max, accuracy: 1e-3 * s.max)
        XCTAssertEqual(v.zeroFraction, s.zeroFraction, accuracy: 1.0 / 6912, "at most one value may round to zero")
        XCTAssertGreaterThan(v.zeroFraction, 0.05, "mixed7 is a ReLU output")
        XCTAssertLessThan(v.zeroFraction, 0.95)
    }

    func testAPathThatFailedSaysWhy() throws {
        let (_, path) = try InspectionFixture.extracted(self)
        XCTAssertThrowsError(try Inspection.entry(FeatureCache(path: path, fingerprint: nil), path: "validation/humans/bad.png")) { e in
            guard case let InspectionError.failedEntry(_, p, reason) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, "validation/humans/bad.png")
            XCTAssertTrue(reason.hasPrefix("unsupported format"), reason)
        }
    }

    func testAnUnknownPathIsNamed() throws {
        let cache = try constructed()
        XCTAssertThrowsError(try Inspection.entry(cache, path: "dogs/nope.png")) { e in
            XCTAssertEqual(e as? InspectionError, .noIndexEntry(cache: cache.path, path: "dogs/nope.png"))
        }
    }
}
