import Foundation
import HeadTrain
import Pipeline
import Store
import XCTest

/// `sweep --shard i/n` trains the configs of its shard; `sweep merge` joins the shards' folders into what the
/// unsharded sweep writes.
final class SweepShardTests: XCTestCase {
    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-sweep-shard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// sweep.csv without its last column (seconds: timings differ from run to run).
    func csvWithoutTimings(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
            line.split(separator: ",", omittingEmptySubsequences: false).dropLast().joined(separator: ",")
        }
    }

    func testTwoShardsMergedWriteTheUnshardedSweepCSVAndBestHead() throws {
        let dir = try temporary()
        let cache = try SweepFixture.makeCache(at: dir)
        let configs = try SweepFixture.grid(lr: "3e-2,1e-3", hidden: "16,8", dropout: "0,0.5")
        let whole = dir.appendingPathComponent("whole").path
        _ = try Sweep.run(SweepJob(cache: cache, out: whole, configs: configs))

        var shards: [String] = []
        var trained = 0
        for i in 0..<2 {
            var job = SweepJob(cache: cache, out: dir.appendingPathComponent("shard-\(i)").path, configs: configs)
            job.shard = SweepShard(index: i, count: 2)
            let o = try Sweep.run(job)
            XCTAssertEqual(o.ranked.map(\.id).sorted(), configs.filter { $0.shard(of: 2) == i }.map(\.id).sorted(),
                           "shard \(i) trains exactly the configs whose id falls in it")
            XCTAssertGreaterThan(o.trainedCount, 0, "shard \(i) got configs")
            trained += o.trainedCount
            shards.append(job.out)
        }
        XCTAssertEqual(trained, configs.count)

        let merged = dir.appendingPathComponent("merged").path
        let (outcome, _) = try SweepMerge.run(sources: shards, out: merged)
        XCTAssertEqual(outcome.ranked.count, configs.count)
        XCTAssertEqual(try csvWithoutTimings("\(merged)/sweep.csv"), try csvWithoutTimings("\(whole)/sweep.csv"))
        XCTAssertEqual(FileManager.default.contents(atPath: "\(merged)/best.h5"), FileManager.default.contents(atPath: "\(whole)/best.h5"),
                       "best.h5 byte for byte")
        XCTAssertEqual(FileManager.default.contents(atPath: "\(merged)/validation-curves.svg"),
                       FileManager.default.contents(atPath: "\(whole)/validation-curves.svg"))
        for c in configs {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(Sweep.configDirectory(merged, c.id))/result.json"), c.label)
        }
        // The merged folder is a sweep folder: the unsharded command run there resumes every config.
        let rerun = try Sweep.run(SweepJob(cache: cache, out: merged, configs: configs))
        XCTAssertEqual(rerun.trainedCount, 0)
        XCTAssertEqual(rerun.resumedCount, configs.count)
    }

    func testHalvingWithAShardIsRefusedWithTheReason() throws {
        let dir = try temporary()
        var job = SweepJob(cache: try SweepFixture.makeCache(at: dir), out: dir.appendingPathComponent("s").path,
                           configs: try SweepFixture.grid(lr: "3e-2,1e-3", hidden: "16,8"))
        job.strategy = .halving(rungs: 2, keep: 0.5)
        job.shard = SweepShard(index: 0, count: 2)
        XCTAssertThrowsError(try Sweep.run(job)) { error in
            XCTAssertTrue("\(error)".contains("--strategy halving cannot be sharded: each rung keeps the best configs by every config's result at that rung, which no shard has"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: job.out), "nothing written")
    }

    func shardedSweeps(_ dir: URL, caches: [String], metrics: [SweepMetric] = [.valLoss, .valLoss]) throws -> [String] {
        let configs = try SweepFixture.grid(lr: "3e-2,1e-3", hidden: "16,8", epochs: "2")
        return try (0..<2).map { i in
            var job = SweepJob(cache: caches[i], out: dir.appendingPathComponent("shard-\(i)").path, configs: configs)
            job.shard = SweepShard(index: i, count: 2)
            job.metric = metrics[i]
            _ = try Sweep.run(job)
            return job.out
        }
    }

    func testSweepsOverDifferentCachesAreRefusedNamingBoth() throws {
        let dir = try temporary()
        let a = try SweepFixture.makeCache(at: dir.appendingPathComponent("a"))
        let b = try SweepFixture.makeCache(at: dir.appendingPathComponent("b"))
        // Another cache with the same fingerprint and sizes is the same cache to a sweep; drop one entry from b.
        let c = try FeatureCache(path: b, fingerprint: nil)
        try c.commit(batch: Batch(removedPaths: [try c.indexEntries()[0].path]))
        let shards = try shardedSweeps(dir, caches: [a, b])
        XCTAssertThrowsError(try SweepMerge.run(sources: shards, out: dir.appendingPathComponent("m").path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(shards[0]) and \(shards[1]) swept different caches"), "\(error)")
        }
    }

    func testSweepsRankedByDifferentMetricsAreRefusedNamingThem() throws {
        let dir = try temporary()
        let cache = try SweepFixture.makeCache(at: dir)
        let shards = try shardedSweeps(dir, caches: [cache, cache], metrics: [.valLoss, .valAcc])
        XCTAssertThrowsError(try SweepMerge.run(sources: shards, out: dir.appendingPathComponent("m").path)) { error in
            XCTAssertEqual("\(error)", "\(shards[0]) ranks configs by val_loss, \(shards[1]) by val_acc: shards of one sweep rank by one metric")
        }
    }

    func testAMissingShardIsRefusedNamingIt() throws {
        let dir = try temporary()
        let cache = try SweepFixture.makeCache(at: dir)
        let shards = try shardedSweeps(dir, caches: [cache, cache])
        XCTAssertThrowsError(try SweepMerge.run(sources: [shards[1]], out: dir.appendingPathComponent("m").path)) { error in
            XCTAssertEqual(error as? SweepMergeError,
                           SweepMergeError("shard 0/2 missing: the merge needs every shard's folder to rank every config"))
        }
    }
}
