import Foundation
import Store
import XCTest

/// `headstart sweep` from the command line: its files, its ranking, and a rerun that resumes.
final class SweepCommandTests: XCTestCase {
    /// 40 train + 16 validation records of 2×2×8 features; class 1 is shifted up, so heads can learn it.
    func makeCache() throws -> String {
        let path = try CLI.temporaryDirectory().appendingPathComponent("cache").path
        let fp = CacheFingerprint(weightsSHA256: String(repeating: "ab", count: 32), weightsName: "seeded.h5", layer: "mixed7",
                                  inputSize: [150, 150], resize: "nearest", preprocess: "rescale", dtype: .f16, featureShape: [2, 2, 8])
        let cache = try FeatureCache(path: path, fingerprint: fp)
        try cache.setClassNames(["a", "b"])
        var batch = Batch()
        for i in 0..<56 {
            let key = ContentKey.of(Data("s\(i)".utf8))
            batch.records.append(PendingRecord(key: key, values: (0..<32).map { Float(i % 2) + 0.3 * Float(sin(Double(i * 13 + $0))) }))
            batch.entries.append(IndexEntry(path: "\(i < 40 ? "train" : "validation")/\(i % 2 == 0 ? "a" : "b")/\(i).png", key: key,
                                            label: Int32(i % 2), split: i < 40 ? .train : .validation, fileSize: 1, modificationTimeNanoseconds: 1))
        }
        try cache.commit(batch: batch)
        return path
    }

    func testAGridSweepWritesOneRowPerConfigBestFirstAndTheBestHead() throws {
        let cache = try makeCache()
        let out = try CLI.temporaryDirectory().appendingPathComponent("sweep").path
        let args = ["sweep", cache, "--out", out, "--lr", "1e-2,1e-7", "--hidden", "4,8", "--batch", "8", "--epochs", "3"]
        let r = try CLI.run(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let csv = try String(contentsOfFile: out + "/sweep.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 5, "header + 4 configs")
        let header = csv[0].split(separator: ",").map(String.init)
        for column in ["lr", "hidden", "dropout", "batch", "epochs", "best_epoch", "val_loss", "val_acc"] {
            XCTAssertTrue(header.contains(column), "sweep.csv lacks \(column): \(header)")
        }
        let valLoss = header.firstIndex(of: "val_loss")!, lr = header.firstIndex(of: "lr")!
        let rows = csv.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let losses = rows.map { Double($0[valLoss])! }
        XCTAssertEqual(losses, losses.sorted(), "best first by val_loss")
        XCTAssertEqual(Double(rows[0][lr]), 1e-2, "the learning rate that can learn wins")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/best.h5"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/validation-curves.svg"))

        // Rerunning the same command trains nothing: every config's result was saved.
        let again = try CLI.run(args)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try String(contentsOfFile: out + "/sweep.csv", encoding: .utf8).split(separator: "\n").count, 5)
        XCTAssertTrue((again.stdout + again.stderr).contains("4 resumed"), again.stdout + again.stderr)
    }

    func testTwoShardsOnTheirOwnAndSweepMergeGiveTheUnshardedSweep() throws {
        let cache = try makeCache()
        let dir = try CLI.temporaryDirectory()
        let grid = ["--lr", "1e-2,1e-3", "--hidden", "4,8", "--dropout", "0,0.5", "--batch", "8", "--epochs", "3"]
        func sweep(_ name: String, _ extra: [String]) throws -> String {
            let out = dir.appendingPathComponent(name).path
            let r = try CLI.run(["sweep", cache, "--out", out] + grid + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            return out
        }
        let whole = try sweep("whole", [])
        let shards = [try sweep("s0", ["--shard", "0/2"]), try sweep("s1", ["--shard", "1/2"])]
        let merged = dir.appendingPathComponent("merged").path
        let r = try CLI.run(["sweep", "merge"] + shards + ["--out", merged])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("merged 2 sweep folder(s) into \(merged): 8 configs"), r.stdout)
        func rows(_ out: String) throws -> [String] {
            try String(contentsOfFile: out + "/sweep.csv", encoding: .utf8).split(separator: "\n").map {
                $0.split(separator: ",", omittingEmptySubsequences: false).dropLast().joined(separator: ",")  // timings aside
            }
        }
        XCTAssertEqual(try rows(merged), try rows(whole))
        XCTAssertEqual(FileManager.default.contents(atPath: merged + "/best.h5"), FileManager.default.contents(atPath: whole + "/best.h5"))
    }

    func testHalvingWithAShardIsRefusedWithTheReason() throws {
        let cache = try makeCache()
        let out = try CLI.temporaryDirectory().appendingPathComponent("sweep").path
        let r = try CLI.run(["sweep", cache, "--out", out, "--lr", "1e-2,1e-3", "--epochs", "4", "--strategy", "halving", "--shard", "0/2"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--strategy halving cannot be sharded: each rung keeps the best configs by every config's result at that rung, which no shard has"), r.stderr)
    }
}
