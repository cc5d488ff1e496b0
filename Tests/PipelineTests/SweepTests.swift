import Foundation
import HeadTrain
import Pipeline
import Store
import XCTest

/// `headstart sweep` over small synthetic caches: heads equal to training alone, halving, resumption, files.
final class SweepTests: XCTestCase {
    let shape = [2, 2, 8]

    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func makeCache(at dir: URL, shift: Float = 1) throws -> String { try SweepFixture.makeCache(at: dir, shift: shift, shape: shape) }

    func grid(lr: String, hidden: String = "16", dropout: String = "0", batch: String = "8", epochs: String = "3",
              seed: String = "5") throws -> [SweepConfig] {
        try SweepFixture.grid(lr: lr, hidden: hidden, dropout: dropout, batch: batch, epochs: epochs, seed: seed)
    }

    func withoutSeconds(_ logs: [EpochLog]) -> [EpochLog] { logs.map { var e = $0; e.seconds = 0; return e } }

    // MARK: equality with training alone

    func testEveryHeadOfASweepEqualsTheSameConfigTrainedAloneBitwise() throws {
        let dir = try temporary()
        let cache = try makeCache(at: dir)
        // Two passes (batch 8 and 6); in each, heads of different width, dropout and learning rate share the data.
        let configs = try grid(lr: "1e-2,1e-3", hidden: "16,8", dropout: "0,0.5", batch: "8,6")
        XCTAssertEqual(configs.count, 16)
        let outcome = try Sweep.run(SweepJob(cache: cache, out: dir.appendingPathComponent("sweep").path, configs: configs))
        XCTAssertEqual(outcome.trainedCount, 16)
        for c in configs {
            var job = HeadTrainingJob(cache: cache, out: dir.appendingPathComponent("alone-\(c.id).h5").path)
            job.options = c.trainingOptions
            job.hidden = c.hidden
            job.dropout = c.dropout
            job.initSeed = c.seed
            let alone = try HeadTraining.run(job)
            let inSweep = try XCTUnwrap(outcome.ranked.first { $0.id == c.id })
            XCTAssertEqual(withoutSeconds(inSweep.logs), withoutSeconds(alone.history.epochs), "\(c.label): every epoch's numbers")
        }
    }

    func testBestH5IsTheWinnersHeadAtItsBestEpochAsTrainAloneWithCheckpointBestSavesIt() throws {
        let dir = try temporary()
        let cache = try makeCache(at: dir)
        let out = dir.appendingPathComponent("sweep").path
        let outcome = try Sweep.run(SweepJob(cache: cache, out: out, configs: try grid(lr: "3e-2,1e-3", hidden: "16,8", epochs: "6")))
        let best = try XCTUnwrap(outcome.best)
        var job = HeadTrainingJob(cache: cache, out: dir.appendingPathComponent("alone.h5").path)
        job.options = best.config.trainingOptions
        job.hidden = best.config.hidden
        job.initSeed = best.config.seed
        job.checkpointBest = true  // saves at each val_loss improvement: ends as the best epoch by val_loss
        let alone = try HeadTraining.run(job)
        XCTAssertEqual(alone.history.bestEpoch, best.bestEpoch)
        let saved = try HeadFile.load(path: "\(out)/best.h5"), reference = try HeadFile.load(path: job.out)
        XCTAssertEqual(saved.head.kernel1, reference.head.kernel1, "bitwise")
        XCTAssertEqual(saved.head.bias2, reference.head.bias2)
        XCTAssertEqual(saved.metadata["sweep_config_id"], best.id)
        XCTAssertEqual(saved.metadata["sweep_epoch"], String(best.bestEpoch))
        let config = try JSONDecoder().decode(SweepConfig.self, from: Data(try XCTUnwrap(saved.metadata["sweep_config"]).utf8))
        XCTAssertEqual(config, best.config)
        XCTAssertEqual(try HeadProvenance(metadata: saved.metadata, source: "best.h5").classNames, ["cats", "dogs"])
    }

    // MARK: successive halving

    /// Learning rates 1e-2 and 3e-3 separate the classes within two epochs; 1e-7 and 1e-8 barely move the
    /// weights from their start, so their validation loss stays near its initial value.
    func testHalvingKeepsTheConfigsThatLearnAndStopsTheOthersAtTheFirstRung() throws {
        let dir = try temporary()
        let cache = try makeCache(at: dir, shift: 2)
        var job = SweepJob(cache: cache, out: dir.appendingPathComponent("sweep").path,
                           configs: try grid(lr: "1e-7,1e-2,1e-8,3e-3", epochs: "4"))
        job.strategy = .halving(rungs: 2, keep: 0.5)
        XCTAssertEqual(job.strategy.rungEpochs(4), [2, 4])
        var rungs: [(Int, Int, Int)] = []
        let outcome = try Sweep.run(job) { if case let .rung(i, e, kept, _) = $0 { rungs.append((i, e, kept.count)) } }
        XCTAssertEqual(rungs.count, 1)
        XCTAssertEqual(rungs.first?.1, 2)
        let byLR = Dictionary(uniqueKeysWithValues: outcome.ranked.map { ($0.config.lr, $0) })
        for lr: Float in [1e-2, 3e-3] {
            XCTAssertEqual(byLR[lr]?.status, "completed", "lr \(lr)")
            XCTAssertEqual(byLR[lr]?.epochsTrained, 4)
        }
        for lr: Float in [1e-7, 1e-8] {
            XCTAssertEqual(byLR[lr]?.status, "eliminated at rung 1", "lr \(lr)")
            XCTAssertEqual(byLR[lr]?.epochsTrained, 2)
        }
        XCTAssertEqual(Set(outcome.ranked.prefix(2).map(\.config.lr)), [1e-2, 3e-3])
    }

    func testHalvingWithStateWrittenToDiskBetweenRungsEqualsHalvingInMemory() throws {
        let dir = try temporary()
        let cache = try makeCache(at: dir, shift: 2)
        let configs = try grid(lr: "1e-7,1e-2,1e-3,3e-3", dropout: "0,0.5", epochs: "4")
        var inMemory = SweepJob(cache: cache, out: dir.appendingPathComponent("memory").path, configs: configs)
        inMemory.strategy = .halving(rungs: 3, keep: 0.5)
        var onDisk = inMemory
        onDisk.out = dir.appendingPathComponent("disk").path
        onDisk.memoryBudget = 1  // one head at a time: every paused head goes through configs/<id>/state.bin
        let a = try Sweep.run(inMemory), b = try Sweep.run(onDisk)
        XCTAssertEqual(a.ranked.map(\.id), b.ranked.map(\.id))
        XCTAssertEqual(a.ranked.map { withoutSeconds($0.logs) }, b.ranked.map { withoutSeconds($0.logs) })
        XCTAssertEqual(a.ranked.map(\.status), b.ranked.map(\.status))
    }

    // MARK: resumption

    func testARerunSkipsConfigsWhoseResultsWereSavedAndTrainsOnlyTheMissingOne() throws {
        let dir = try temporary()
        let cache = try makeCache(at: dir)
        let job = SweepJob(cache: cache, out: dir.appendingPathComponent("sweep").path, configs: try grid(lr: "1e-2,1e-3,3e-4"))
        let first = try Sweep.run(job)
        XCTAssertEqual(first.trainedCount, 3)
        // An interruption before the second config's result was written.
        let lost = job.configs[1].id
        try FileManager.default.removeItem(atPath: "\(Sweep.configDirectory(job.out, lost))/\(Sweep.resultName)")
        var started: [String] = []
        let second = try Sweep.run(job) { if case .started(let id) = $0 { started.append(id) } }
        XCTAssertEqual(started, [lost])
        XCTAssertEqual(second.trainedCount, 1)
        XCTAssertEqual(second.resumedCount, 2)
        XCTAssertEqual(second.ranked.map(\.id), first.ranked.map(\.id))
        XCTAssertEqual(second.ranked.map { withoutSeconds($0.logs) }, first.ranked.map { withoutSeconds($0.logs) })
        let third = try Sweep.run(job)
        XCTAssertEqual(third.trainedCount, 0, "everything saved: nothing trains")
    }

    // MARK: files

    func testSweepCSVNamesTheWeightsOriginOfEveryConfigAsTheirHistoriesDo() throws {
        let dir = try temporary()
        let cache = try makeCache(at: dir)
        try FeatureCache(path: cache, fingerprint: nil).setWeightsOrigin("seeded seed=7 generator=1")
        let job = SweepJob(cache: cache, out: dir.appendingPathComponent("sweep").path, configs: try grid(lr: "1e-2,1e-4"))
        _ = try Sweep.run(job)
        let rows = try String(contentsOfFile: "\(job.out)/sweep.csv", encoding: .utf8).split(separator: "\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        let weights = try XCTUnwrap(rows[0].firstIndex(of: "weights"), "sweep.csv has a weights column: \(rows[0])")
        let id = rows[0].firstIndex(of: "id")!
        XCTAssertEqual(rows.count, 3)
        for row in rows.dropFirst() {
            XCTAssertEqual(row[weights], "seeded seed=7 generator=1", "config \(row[id])")
            let history = try String(contentsOfFile: "\(Sweep.configDirectory(job.out, row[id]))/history.csv", encoding: .utf8)
            XCTAssertEqual(history.split(separator: "\n")[1].split(separator: ",").last.map(String.init), row[weights])
        }
    }

    func testSweepCSVHasOneRowPerConfigBestFirstAndEachConfigHasItsHistory() throws {
        let dir = try temporary()
        let cache = try makeCache(at: dir)
        var job = SweepJob(cache: cache, out: dir.appendingPathComponent("sweep").path, configs: try grid(lr: "1e-2,1e-4", hidden: "8,4"))
        job.metric = .valAcc
        let outcome = try Sweep.run(job)
        let rows = try String(contentsOfFile: "\(job.out)/sweep.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.count, 5)
        let header = rows[0].split(separator: ",").map(String.init)
        for column in ["lr", "hidden", "dropout", "batch", "epochs", "best_epoch", "val_loss", "val_acc"] {
            XCTAssertTrue(header.contains(column), column)
        }
        let accs = rows.dropFirst().map { Double($0.split(separator: ",", omittingEmptySubsequences: false)[header.firstIndex(of: "val_acc")!])! }
        XCTAssertEqual(accs, accs.sorted(by: >), "best val_acc first")
        for r in outcome.ranked {
            let best = r.logs.max { ($0.valAccuracy!, -$0.valLoss!) < ($1.valAccuracy!, -$1.valLoss!) }!
            XCTAssertEqual(r.valAcc, best.valAccuracy, "val_acc at the best epoch by val_acc")
            let history = try String(contentsOfFile: "\(Sweep.configDirectory(job.out, r.id))/history.csv", encoding: .utf8)
            XCTAssertEqual(history.split(separator: "\n").count, 1 + r.config.epochs)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(job.out)/validation-curves.svg"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(job.out)/sweep.json"))) as? [String: Any]
        XCTAssertEqual((json?["results"] as? [Any])?.count, 4)
    }

    // MARK: the spec

    func testAGridIsEveryCombinationAndIdsAreStableHashesOfTheSettings() throws {
        let configs = try grid(lr: "1e-3,3e-4,1e-4", hidden: "256,512,1024", dropout: "0,0.2,0.5", batch: "20,32", epochs: "40")
        XCTAssertEqual(configs.count, 54)
        XCTAssertEqual(Set(configs.map(\.id)).count, 54)
        let c = SweepConfig(lr: 1e-4, hidden: 1024, dropout: 0, batch: 20, epochs: 40, seed: 0)
        XCTAssertEqual(c.canonical, "v1;lr=0.0001;hidden=1024;dropout=0.0;batch=20;epochs=40;seed=0;shuffle=true;early_stop=none")
        XCTAssertEqual(c.id.count, 12)
        XCTAssertEqual(c.id, SweepConfig(lr: 1e-4, hidden: 1024, dropout: 0, batch: 20, epochs: 40, seed: 0).id)
        XCTAssertNotEqual(c.id, SweepConfig(lr: 1e-4, hidden: 1024, dropout: 0, batch: 20, epochs: 41, seed: 0).id)
    }

    func testRandomSamplesStayInTheirRangesAndSpreadLearningRatesOverDecades() throws {
        var s = SweepSpec()
        s.lr = try SweepValues.parse("1e-5:1e-2", name: "--lr")
        s.hidden = try SweepValues.parse("128:2048", name: "--hidden")
        s.dropout = try SweepValues.parse("0:0.5", name: "--dropout")
        s.random = 200
        s.samplingSeed = 9
        let configs = try s.configs()
        XCTAssertGreaterThan(configs.count, 190, "few duplicates")
        for c in configs {
            XCTAssertTrue((1e-5...1e-2).contains(c.lr), "\(c.lr)")
            XCTAssertTrue((128...2048).contains(c.hidden), "\(c.hidden)")
            XCTAssertTrue((0...0.5).contains(c.dropout), "\(c.dropout)")
        }
        // Log-uniform: about a third of the draws in each decade.
        for (lo, hi) in [(1e-5, 1e-4), (1e-4, 1e-3), (1e-3, 1e-2)] as [(Float, Float)] {
            let n = configs.filter { $0.lr >= lo && $0.lr < hi }.count
            XCTAssertTrue((40...95).contains(n), "\(n) of \(configs.count) in [\(lo), \(hi))")
        }
        XCTAssertEqual(try s.configs(), configs, "the same sampling seed draws the same configs")
    }

    func testAPipelineSweepSectionTakesListsScalarsAndRanges() throws {
        let dir = try temporary()
        let path = dir.appendingPathComponent("p.yaml").path
        try """
        cache: out/cache
        sweep:
          lr: [1e-3, 3e-4]
          hidden: 512
          dropout: "0:0.5"
          epochs: 10
          strategy: halving
          rungs: 2
          metric: val_acc
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let s = try XCTUnwrap(try PipelineDefinition.load(path: path).sweep)
        XCTAssertEqual(try SweepValues.parse(s.lr!.text, name: "--lr"), .list([1e-3, 3e-4]))
        XCTAssertEqual(try SweepValues.parse(s.hidden!.text, name: "--hidden"), .list([512]))
        XCTAssertEqual(try SweepValues.parse(s.dropout!.text, name: "--dropout"), .range(0, 0.5))
        XCTAssertEqual(s.strategy, .halving)
        XCTAssertEqual(s.rungs, 2)
        XCTAssertEqual(s.metric, .valAcc)
    }
}

/// Small synthetic caches and grids for the sweep tests.
enum SweepFixture {
    /// 45 train + 16 validation records (45 = 5 full batches of 8 and one of 5); class 1's features are shifted up
    /// by `shift`, so heads that train at all separate the classes.
    static func makeCache(at dir: URL, shift: Float = 1, shape: [Int] = [2, 2, 8]) throws -> String {
        let path = dir.appendingPathComponent("cache").path
        let fp = CacheFingerprint(weightsSHA256: String(repeating: "ab", count: 32), weightsName: "seeded.h5", layer: "mixed7",
                                  inputSize: [150, 150], resize: "nearest", preprocess: "rescale", dtype: .f16, featureShape: shape)
        let cache = try FeatureCache(path: path, fingerprint: fp)
        try cache.setClassNames(["cats", "dogs"])
        var batch = Batch()
        let n = shape.reduce(1, *)
        for i in 0..<61 {
            let label = i % 2, split: Split = i < 45 ? .train : .validation
            let key = ContentKey.of(Data("sample-\(i)".utf8))
            let values = (0..<n).map { j in shift * Float(label) + 0.5 * Float(sin(Double(i * 31 + j * 7))) }
            batch.records.append(PendingRecord(key: key, values: values))
            batch.entries.append(IndexEntry(path: String(format: "%@/%@/%03d.png", split == .train ? "train" : "validation", label == 0 ? "cats" : "dogs", i),
                                            key: key, label: Int32(label), split: split, fileSize: 1, modificationTimeNanoseconds: 1))
        }
        try cache.commit(batch: batch)
        return path
    }

    static func grid(lr: String, hidden: String = "16", dropout: String = "0", batch: String = "8", epochs: String = "3",
              seed: String = "5") throws -> [SweepConfig] {
        var s = SweepSpec()
        s.lr = try SweepValues.parse(lr, name: "--lr")
        s.hidden = try SweepValues.parse(hidden, name: "--hidden")
        s.dropout = try SweepValues.parse(dropout, name: "--dropout")
        s.batch = try SweepValues.parse(batch, name: "--batch")
        s.epochs = try SweepValues.parse(epochs, name: "--epochs")
        s.seed = try SweepValues.parse(seed, name: "seed")
        return try s.configs()
    }
}
