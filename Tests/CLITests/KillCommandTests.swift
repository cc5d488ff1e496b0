import Foundation
import Store
import XCTest

/// kill -9 at random moments of `cache merge` and `train --checkpoint-best` (extract has its own in
/// ExtractCommandTests): every command afterwards works on what is left, the rerun completes it, and nothing is
/// lost, duplicated or left behind. `scripts/kill9-campaign` runs the same checks 20 times per command.
final class KillCommandTests: XCTestCase {
    var weights: String { FeaturesCommandTests.weights }

    /// Files in `dir`, sorted.
    func listing(_ dir: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    /// Waits until `ready()` or the child ends, then a random 0…`jitter` seconds, then SIGKILL. Returns whether
    /// the child was still running and the delay used.
    func kill(_ child: BackgroundCLI, after ready: () -> Bool, jitter: Double) -> (killed: Bool, delay: Double) {
        let deadline = Date().addingTimeInterval(300)
        while !ready() && child.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        let delay = Double.random(in: 0...jitter)
        Thread.sleep(forTimeInterval: delay)
        return (child.kill9(), delay)
    }

    /// Index entries as (path, key, label, split) lines, for comparing caches.
    func entries(_ cache: String) throws -> [String] {
        try FeatureCache.open(cache).indexEntries().map { "\($0.path) \($0.key) \($0.label) \($0.split)" }
    }

    func testAMergeKilledAtRandomMomentsLeavesAReadableCacheAndTheRerunCompletesIt() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["a", "b"], count: 40)
        d.write("b/empty.jpg", [])
        var shards: [String] = []
        for i in 0..<2 {
            let shard = dir.appendingPathComponent("shard\(i)").path
            let r = try CLI.run(["extract", d.root.path, "--weights", weights, "--cache", shard, "--size", "75",
                                 "--dtype", "f32", "--shard", "\(i)/2"])
            XCTAssertEqual(r.status, 0, r.stderr)
            shards.append(shard)
        }
        let reference = dir.appendingPathComponent("reference").path
        XCTAssertEqual(try CLI.run(["cache", "merge"] + shards + ["--out", reference]).status, 0)

        let out = dir.appendingPathComponent("merged").path
        for trial in 0..<3 {
            let child = try BackgroundCLI(["cache", "merge"] + shards + ["--out", out])
            let (killed, delay) = kill(child, after: { FileManager.default.fileExists(atPath: out + "/data.mdb") }, jitter: 0.15)
            let what = "trial \(trial) (killed \(killed) after \(delay) s)"
            XCTAssertTrue(Set(listing(out)).isSubset(of: ["data.mdb", "lock.mdb"]), "\(what): \(listing(out))")
            // Whatever the moment, the destination is a cache every command reads (or one a rerun finishes).
            let verify = try CLI.run(["inspect", out, "--verify"])
            let unfinished = verify.stderr.contains("was never completed")
            XCTAssertTrue(verify.status == 0 || unfinished, "\(what): \(verify.stderr)")
            if verify.status == 0 {
                XCTAssertTrue(verify.stdout.contains("no problems") || verify.stdout.contains("ok"), "\(what): \(verify.stdout)")
                let n = try entries(out).count
                XCTAssertTrue(n == 0 || n == 80, "\(what): \(n) index entries, a merge is all or nothing")
            }
        }
        let final = try CLI.run(["cache", "merge"] + shards + ["--out", out])
        XCTAssertEqual(final.status, 0, final.stderr)
        XCTAssertEqual(try entries(out), try entries(reference), "nothing lost or duplicated")
        XCTAssertEqual(try FeatureCache.open(out).counts().records, try FeatureCache.open(reference).counts().records)
        XCTAssertEqual(try FeatureCache.open(out).errorEntries().map(\.path), ["b/empty.jpg"])
        XCTAssertEqual(try FeatureCache.open(out).verify(), [])
        XCTAssertEqual(listing(out), ["data.mdb", "lock.mdb"])
    }

    func testATrainingKilledAtRandomMomentsLeavesOnlyAWholeBestHead() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["a", "b"], count: 30)
        let cache = dir.appendingPathComponent("cache").path
        let x = try CLI.run(["extract", d.root.path, "--weights", weights, "--cache", cache, "--size", "75", "--validation-split", "0.3"])
        XCTAssertEqual(x.status, 0, x.stderr)
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let head = out.appendingPathComponent("head.h5").path
        let args = ["train", cache, "--out", head, "--checkpoint-best", "--hidden", "512", "--batch", "4", "--lr", "1e-3",
                    "--history", out.appendingPathComponent("history.csv").path]
        for trial in 0..<3 {
            let child = try BackgroundCLI(args + ["--epochs", "400"])
            let (killed, delay) = kill(child, after: { FileManager.default.fileExists(atPath: head) }, jitter: 0.5)
            let what = "trial \(trial) (killed \(killed) after \(delay) s)"
            XCTAssertTrue(killed, "\(what): the training must still be running")
            XCTAssertEqual(listing(out.path), ["head.h5"], "\(what): only the whole best head, no partial file")
            let evaluate = try CLI.run(["evaluate", cache, "--head", head])
            XCTAssertEqual(evaluate.status, 0, "\(what): \(evaluate.stderr)")
        }
        let final = try CLI.run(args + ["--epochs", "3"])
        XCTAssertEqual(final.status, 0, final.stderr)
        XCTAssertEqual(listing(out.path), ["head.h5", "history.csv"])
    }
}
