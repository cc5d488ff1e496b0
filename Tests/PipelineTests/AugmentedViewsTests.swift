import Extract
import Foundation
import HeadTrain
import Pipeline
import Store
import XCTest

/// `extract --views K`: augmented views cached under (content key, view) for training images.
final class AugmentedViewsExtractionTests: XCTestCase {
    /// train/{a,b}: 3 images each; validation/{a,b}: 1 each.
    func dataset() -> TestDataset {
        let d = TestDataset(self)
        for (c, name) in ["a", "b"].enumerated() {
            for i in 0..<3 { d.write("train/\(name)/\(name)-\(i).jpg", TestImages.jpegVariant(c * 10 + i)) }
            d.write("validation/\(name)/\(name)-v.jpg", TestImages.jpegVariant(50 + c))
        }
        return d
    }

    let recipe = AugmentRecipe(settings: .book, seed: 5)

    func withViews(_ k: Int, _ r: AugmentRecipe? = nil) -> (inout ExtractionJob) -> Void {
        let r = r ?? recipe
        return { $0.views = k; $0.augmentation = r.settings; $0.augmentSeed = r.seed }
    }

    func testViewsAreStoredForEveryTrainingImageAndNoValidationImage() throws {
        let d = dataset()
        let cache = temporaryDirectory(self, "cache")
        let s = try extract(d, cache: cache, configure: withViews(3))
        XCTAssertEqual(s.extracted, 8)
        XCTAssertEqual(s.viewsExtracted, 18, "3 views of each of the 6 training images")
        XCTAssertEqual(s.viewsReused, 0)
        let c = try FeatureCache.open(cache)
        XCTAssertEqual(try c.recordSummary().recordsByView, [0: 8, 1: 6, 2: 6, 3: 6])
        let views = try c.storedViews()
        for e in try c.indexEntries() {
            XCTAssertEqual(views[e.key], e.split == .train ? [0, 1, 2, 3] : [0], e.path)
        }
        XCTAssertEqual(c.fingerprint.augmentation, recipe.fingerprintDescription)
        XCTAssertEqual(try c.verify(), [])
    }

    func testALargerKAddsOnlyTheMissingViewsAndTheSameKDoesNoNetworkWork() throws {
        let d = dataset()
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache, dtype: .f32, configure: withViews(2))
        let c0 = try FeatureCache.open(cache)
        let key = try XCTUnwrap(c0.indexEntry(path: "train/a/a-0.jpg")).key
        let view2 = try XCTUnwrap(c0.record(key: key, view: 2)).values

        let more = try extract(d, cache: cache, dtype: .f32, configure: withViews(4))
        XCTAssertEqual(more.extracted, 0)
        XCTAssertEqual(more.reused, 8)
        XCTAssertEqual(more.viewsExtracted, 12, "views 3 and 4 of 6 images")
        XCTAssertEqual(more.viewsReused, 12, "views 1 and 2 of 6 images")
        let c = try FeatureCache.open(cache)
        XCTAssertEqual(try c.recordSummary().recordsByView, [0: 8, 1: 6, 2: 6, 3: 6, 4: 6])
        XCTAssertEqual(try c.record(key: key, view: 2)?.values, view2, "existing views are left as they are")

        let again = try extract(d, cache: cache, dtype: .f32, configure: withViews(4))
        XCTAssertEqual(again.viewsExtracted, 0)
        XCTAssertEqual(again.extracted, 0)
        XCTAssertEqual(again.networkSeconds, 0, "the network was never called")
        XCTAssertEqual(again.viewsReused, 24)
    }

    func testViewsWithOtherSettingsOrSeedAreRefusedNamingTheAugmentation() throws {
        let d = dataset()
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache, configure: withViews(2))
        for other in [AugmentRecipe(settings: AugmentationSettings(rotation: 10), seed: 5), AugmentRecipe(settings: .book, seed: 6)] {
            XCTAssertThrowsError(try extract(d, cache: cache, configure: withViews(3, other))) { error in
                guard case let StoreError.fingerprintMismatch(_, diffs)? = error as? StoreError else {
                    return XCTFail("expected a fingerprint mismatch, got \(error)")
                }
                XCTAssertEqual(diffs.map(\.field), ["augmentation"])
                XCTAssertEqual(diffs.first?.old, self.recipe.fingerprintDescription)
                XCTAssertEqual(diffs.first?.new, other.fingerprintDescription)
            }
        }
        let c = try FeatureCache.open(cache)
        XCTAssertEqual(try c.recordSummary().recordsByView[3], nil, "the refused runs wrote no view")
        XCTAssertEqual(c.fingerprint.augmentation, recipe.fingerprintDescription)
        // A plain run (no views) still adds images to it, and a run without settings takes the recorded ones.
        d.write("train/a/a-new.jpg", TestImages.jpegVariant(70))
        let plain = try extract(d, cache: cache)
        XCTAssertEqual(plain.extracted, 1)
        let recorded = try extract(d, cache: cache) { $0.views = 2 }
        XCTAssertEqual(recorded.viewsExtracted, 2, "the new image's views, with the recorded recipe")
        XCTAssertEqual(recorded.recipe, recipe)
    }

    func testACacheMadeWithoutViewsGainsThemAndRecordsTheRecipe() throws {
        let d = dataset()
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache)
        XCTAssertNil(try FeatureCache.open(cache).fingerprint.augmentation)
        let s = try extract(d, cache: cache, configure: withViews(1))
        XCTAssertEqual(s.extracted, 0)
        XCTAssertEqual(s.viewsExtracted, 6)
        XCTAssertEqual(try FeatureCache.open(cache).fingerprint.augmentation, recipe.fingerprintDescription)
        XCTAssertEqual(AugmentRecipe(fingerprintDescription: recipe.fingerprintDescription), recipe, "the recorded recipe reads back")
    }

    /// Each stored view is decode → load_img resize → Augment.writeAugmented(drawn parameters) → network, computed
    /// here one image at a time. f32 storage; the network's float32 sums may differ in the last bits with the batch
    /// composition (OpenBLAS blocks by the batch dimension), hence 1e-4 of the largest magnitude.
    func testEachViewEqualsAnIndependentComputation() throws {
        let d = dataset()
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache, dtype: .f32, configure: withViews(3))
        let c = try FeatureCache.open(cache)
        let ex = smallExtractor
        let n = ex.inputCount
        for path in ["train/a/a-1.jpg", "train/b/b-2.jpg"] {
            let e = try XCTUnwrap(c.indexEntry(path: path))
            var image = try ImageDecoder.decode(data: fixtureBytesAt(d.path(path)), name: path).image
            image = ImageResize.resize(image, height: 75, width: 75, method: .nearest)
            var previous: [Float] = []
            for view in 0...3 {
                var input = [Float](repeating: 0, count: n)
                var scratch = [Float](repeating: 0, count: 2 * n)
                let p = recipe.settings.draw(seed: recipe.seed, key: e.key.bytes, view: view, height: 75, width: 75)
                input.withUnsafeMutableBufferPointer { b in
                    scratch.withUnsafeMutableBufferPointer { s in
                        Augment.writeAugmented(image, parameters: p, settings: recipe.settings, mode: .rescale, into: b, slot: 0, scratch: s)
                    }
                }
                var out = [Float](repeating: 0, count: ex.featureCount)
                out.withUnsafeMutableBufferPointer { ex.run(input, count: 1, into: $0.baseAddress!) }
                let stored = try XCTUnwrap(c.record(key: e.key, view: UInt16(view))).values
                let scale = out.map(abs).max()!
                let worst = zip(stored, out).map { abs($0 - $1) }.max()!
                XCTAssertLessThanOrEqual(worst, 1e-4 * scale, "\(path) view \(view)")
                if view > 0 { XCTAssertNotEqual(stored, previous, "\(path): view \(view) differs from view \(view - 1)") }
                previous = stored
            }
        }
    }

    func fixtureBytesAt(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
}

/// `train --augment views` and `--augment live` over caches with views.
final class AugmentedTrainingTests: XCTestCase {
    let shape = [2, 2, 8]

    /// 40 train + 16 validation samples; train samples have views 1…3 whose values are view 0's plus
    /// `trainViewOffset`·view; validation samples have views whose values are nonsense (1e3), which must never be read.
    func makeCache(trainViewOffset: Float) throws -> (FeatureCache, String) {
        let dir = temporaryDirectory(self, "cache")
        let fp = CacheFingerprint(weightsSHA256: String(repeating: "cd", count: 32), weightsName: "seeded.h5", layer: "mixed7",
                                  inputSize: [150, 150], resize: "nearest", preprocess: "rescale", dtype: .f32, featureShape: shape)
        let cache = try FeatureCache(path: dir.path, fingerprint: fp)
        try cache.setClassNames(["cats", "dogs"])
        var batch = Batch()
        let n = shape.reduce(1, *)
        for i in 0..<56 {
            let label = i % 2, train = i < 40
            let key = ContentKey.of(Data("sample-\(i)".utf8))
            let values = (0..<n).map { j in Float(label) + 0.5 * Float(sin(Double(i * 31 + j * 7))) }
            batch.records.append(PendingRecord(key: key, values: values))
            for v in 1...3 {
                batch.records.append(PendingRecord(key: key, view: UInt16(v),
                                                   values: train ? values.map { $0 + trainViewOffset * Float(v) } : [Float](repeating: 1e3, count: n)))
            }
            batch.entries.append(IndexEntry(path: String(format: "%@/%@/%03d.png", train ? "train" : "validation", label == 0 ? "cats" : "dogs", i),
                                            key: key, label: Int32(label), split: train ? .train : .validation,
                                            fileSize: 1, modificationTimeNanoseconds: 1))
        }
        try cache.commit(batch: batch)
        return (cache, dir.path)
    }

    func testTheViewChosenPerEpochIsDeterministicAndCoversTheOriginalAndTheViews() throws {
        let (cache, _) = try makeCache(trainViewOffset: 100)
        let entries = try cache.indexEntries(split: .train)
        let a = try CacheViewFeatures(cache: cache, entries: entries, seed: 9)
        let b = try CacheViewFeatures(cache: cache, entries: entries, seed: 9)
        XCTAssertEqual(a.views, [[UInt16]](repeating: [0, 1, 2, 3], count: 40))
        var seen = Set<UInt16>()
        var changed = 0
        var last: [UInt16] = []
        for epoch in 0..<6 {
            a.startEpoch(epoch, order: Array(0..<40))
            b.startEpoch(epoch, order: Array(0..<40).reversed())
            XCTAssertEqual(a.chosen, b.chosen, "epoch \(epoch): the same seed and epoch choose the same views, whatever the order")
            if a.chosen != last { changed += 1 }
            last = a.chosen
            seen.formUnion(a.chosen)
            // fill reads the chosen view: view v's values are view 0's + 100·v.
            var rows = [Float](repeating: 0, count: 3 * 32)
            try rows.withUnsafeMutableBufferPointer { try a.fill(indices: [5, 0, 17], into: $0.baseAddress!) }
            for (r, i) in [5, 0, 17].enumerated() {
                let base = try XCTUnwrap(cache.record(key: entries[i].key)).values[0]
                XCTAssertEqual(rows[r * 32], base + 100 * Float(a.chosen[i]), accuracy: 1e-4, "epoch \(epoch) sample \(i)")
            }
        }
        XCTAssertEqual(seen, [0, 1, 2, 3], "the original and every view are used")
        XCTAssertEqual(changed, 6, "the choice changes from epoch to epoch")
        let other = try CacheViewFeatures(cache: cache, entries: entries, seed: 10)
        other.startEpoch(0, order: Array(0..<40))
        a.startEpoch(0, order: Array(0..<40))
        XCTAssertNotEqual(other.chosen, a.chosen, "another seed, another choice")
    }

    func train(_ path: String, _ augment: HeadAugmentation) throws -> TrainingHistory {
        var job = HeadTrainingJob(cache: path, out: temporaryDirectory(self, "head.h5").path)
        job.options = TrainingOptions(epochs: 4, batchSize: 8, learningRate: 1e-2, seed: 3)
        job.hidden = 16
        job.augment = augment
        return try HeadTraining.run(job).history
    }

    /// Views equal to the original (offset 0): training on views is plain training, bit for bit — and the
    /// validation views, which hold 1e3 everywhere, are never read (validation uses view 0).
    func testWithViewsIdenticalToTheOriginalTrainingEqualsPlainTrainingBitwise() throws {
        let (_, path) = try makeCache(trainViewOffset: 0)
        let plain = try train(path, .none)
        let views = try train(path, .views)
        XCTAssertEqual(plain.epochs.map { [$0.loss, $0.accuracy, $0.valLoss!, $0.valAccuracy!].map(\.bitPattern) },
                       views.epochs.map { [$0.loss, $0.accuracy, $0.valLoss!, $0.valAccuracy!].map(\.bitPattern) })
        // With different views, training differs (the views are really read).
        let (_, shifted) = try makeCache(trainViewOffset: 0.5)
        XCTAssertNotEqual(try train(shifted, .views).epochs.map(\.loss), plain.epochs.map(\.loss))
    }
}

/// `train --augment live`: re-extraction batches from a real (small) network.
final class LiveAugmentationTests: XCTestCase {
    let recipe = AugmentRecipe(settings: .book, seed: 2)

    /// train/{a,b}: 5 images each, validation 1 each; extracted f32 without views.
    func extracted() throws -> (TestDataset, URL) {
        let d = TestDataset(self)
        for (c, name) in ["a", "b"].enumerated() {
            for i in 0..<5 { d.write("train/\(name)/\(name)-\(i).jpg", TestImages.jpegVariant(c * 10 + i)) }
            d.write("validation/\(name)/\(name)-v.jpg", TestImages.jpegVariant(50 + c))
        }
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache, dtype: .f32)
        return (d, cache)
    }

    func job(_ cache: URL, _ augment: HeadAugmentation, epochs: Int = 3) -> HeadTrainingJob {
        var job = HeadTrainingJob(cache: cache.path, out: temporaryDirectory(self, "head.h5").path)
        job.options = TrainingOptions(epochs: epochs, batchSize: 4, learningRate: 1e-3, seed: 4)
        job.hidden = 8
        job.augment = augment
        return job
    }

    func live(_ fresh: Double, keep: Bool = false) -> LiveAugmentation {
        var l = LiveAugmentation(fresh: fresh, weights: seededWeights)
        l.recipe = recipe
        l.keepViews = keep
        l.batchSize = 3
        return l
    }

    func testFreshZeroEqualsPlainTrainingBitwise() throws {
        let (_, cache) = try extracted()
        let plain = try HeadTraining.run(job(cache, .none)).history
        let r = try HeadTraining.run(job(cache, .live(live(0))))
        XCTAssertEqual(r.live?.freshSamples, 0)
        XCTAssertEqual(plain.epochs.map { [$0.loss, $0.valLoss!].map(\.bitPattern) },
                       r.history.epochs.map { [$0.loss, $0.valLoss!].map(\.bitPattern) })
    }

    /// F = 0.4 of 10 images for 3 epochs: 4 fresh samples an epoch, written as views continuing after the stored
    /// ones; they equal the views `extract --views` then makes in a fresh copy of the cache (same recipe).
    func testKeptFreshViewsAreExactlyThoseExtractViewsMakes() throws {
        let (d, cache) = try extracted()
        let r = try HeadTraining.run(job(cache, .live(live(0.4, keep: true))))
        XCTAssertEqual(r.history.epochs.count, 3)
        XCTAssertEqual(r.live?.freshSamples, 12)
        XCTAssertEqual(r.live?.viewsWritten, 12)
        let c = try FeatureCache.open(cache)
        XCTAssertEqual(c.fingerprint.augmentation, recipe.fingerprintDescription)
        let entries = try c.indexEntries(split: .train)
        var expected = [ContentKey: Int]()
        for epoch in 0..<3 {
            for i in LiveAugmentedFeatures.freshSamples(entries: entries, fraction: 0.4, seed: 4, epoch: epoch) {
                expected[entries[i].key, default: 0] += 1
            }
        }
        let stored = try c.storedViews()
        for e in entries {
            let k = expected[e.key] ?? 0
            XCTAssertEqual(stored[e.key], (0...k).map(UInt16.init), "\(e.path): views 1…\(k), one per epoch it was fresh")
        }
        for e in try c.indexEntries(split: .validation) { XCTAssertEqual(stored[e.key], [0], "validation gets no views") }

        // The same views by extraction.
        let other = temporaryDirectory(self, "other")
        _ = try extract(d, cache: other, dtype: .f32) {
            $0.views = expected.values.max()!; $0.augmentation = self.recipe.settings; $0.augmentSeed = self.recipe.seed
        }
        let o = try FeatureCache.open(other)
        for e in entries {
            for v in 1...max(1, expected[e.key] ?? 0) where (expected[e.key] ?? 0) > 0 {
                let a = try XCTUnwrap(c.record(key: e.key, view: UInt16(v))).values
                let b = try XCTUnwrap(o.record(key: e.key, view: UInt16(v))).values
                let scale = b.map(abs).max()!
                XCTAssertLessThanOrEqual(zip(a, b).map { abs($0 - $1) }.max()!, 1e-4 * scale, "\(e.path) view \(v)")
            }
        }
    }

    func testEachEpochReportsItsFreshSamplesAndTheyAddUpToTheRun() throws {
        let (_, cache) = try extracted()
        var epochs: [LiveAugmentationStats] = []
        let r = try HeadTraining.run(job(cache, .live(live(0.4))), onLiveEpoch: { epochs.append($0) })
        XCTAssertEqual(epochs.map(\.freshSamples), [4, 4, 4], "0.4 of 10 training images, every epoch")
        XCTAssertEqual(epochs.map(\.freshSamples).reduce(0, +), r.live?.freshSamples)
        for e in epochs {
            XCTAssertGreaterThan(e.networkSeconds, 0)
            XCTAssertGreaterThanOrEqual(e.waitSeconds, 0)
            XCTAssertGreaterThanOrEqual(e.producerWaitSeconds, 0)
        }
        XCTAssertEqual(epochs.map(\.waitSeconds).reduce(0, +), try XCTUnwrap(r.live).waitSeconds, accuracy: 1e-9)
    }

    func testOtherBaseWeightsAreRefused() throws {
        let (_, cache) = try extracted()
        let c = try FeatureCache(path: cache.path, fingerprint: nil)
        var l = live(0.5)
        l.weights = try BaseWeights.load(path: otherWeightsPath(), cut: .mixed7)
        XCTAssertThrowsError(try LiveAugmentedFeatures(cache: c, entries: try c.indexEntries(split: .train), seed: 0, options: l)) {
            XCTAssertTrue("\($0)".contains("SHA-256"), "\($0)")
        }
    }

    func otherWeightsPath() throws -> String {
        let path = temporaryDirectory(self, "other.h5").path
        try SeededWeights.kerasFile(seed: 8).write(to: path, style: .fixedLength)
        return path
    }
}
