import Foundation
import Numerics
import XCTest
@testable import Store

/// Caches as people find them: on a read-only disk or in someone else's folder, half copied, never finished,
/// contested by two runs, or damaged. Every command either works or says what is wrong with which cache; none
/// ends by a signal.
final class CacheOpeningCommandTests: XCTestCase {
    var weights: String { FeaturesCommandTests.weights }

    /// A small cache (12 images at 75×75, a quarter held out for validation) and a head trained on it.
    func makeCache(_ dir: URL) throws -> (cache: String, head: String) {
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["a", "b"], count: 6)
        let cache = dir.appendingPathComponent("cache").path
        let x = try CLI.run(["extract", d.root.path, "--weights", weights, "--cache", cache, "--size", "75", "--validation-split", "0.25"])
        XCTAssertEqual(x.status, 0, x.stderr)
        let head = dir.appendingPathComponent("head.h5").path
        let t = try CLI.run(["train", cache, "--out", head, "--epochs", "2", "--hidden", "8"])
        XCTAssertEqual(t.status, 0, t.stderr)
        return (cache, head)
    }

    /// Runs headstart as a user who cannot write the cache: `nobody` when the tests run as root (root writes
    /// whatever the permissions say), else this user.
    func runUnprivileged(_ arguments: [String]) throws -> CLI.Result {
        guard geteuid() == 0 else { return try CLI.run(arguments) }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { throw XCTSkip("running as root without setpriv") }
        return try CLI.process(URL(fileURLWithPath: "/usr/bin/setpriv"),
                               ["--reuid=65534", "--regid=65534", "--clear-groups", CLI.executable.path] + arguments)
    }

    func digest(_ path: String) throws -> String { try SHA256Hasher.digest(fileAt: path).hex }

    /// Ended by exit (not a signal), with a failure status.
    func assertRefused(_ r: CLI.Result, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(r.status >= 1 && r.status <= 64, "\(what): status \(r.status)\n\(r.stderr)", file: file, line: line)
    }

    func testEveryReadingCommandWorksOnACacheItsUserCannotWrite() throws {
        let dir = try CLI.temporaryDirectory()
        let (cache, head) = try makeCache(dir)
        let outputs = dir.appendingPathComponent("outputs")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        chmod(outputs.path, 0o777)
        let files = [cache + "/data.mdb", cache + "/lock.mdb"]
        for f in files { chmod(f, 0o444) }
        chmod(cache, 0o555)
        addTeardownBlock { chmod(cache, 0o755) }
        let before = try files.map(digest)

        for args in [["inspect", cache], ["inspect", cache, "--verify"], ["inspect", cache, "--errors"],
                     ["export", cache, "--out", outputs.appendingPathComponent("np").path],
                     ["evaluate", cache, "--head", head],
                     ["train", cache, "--out", outputs.appendingPathComponent("head.h5").path, "--epochs", "1", "--hidden", "8"],
                     ["sweep", cache, "--out", outputs.appendingPathComponent("sweep").path, "--hidden", "4,8", "--epochs", "1"]] {
            let r = try runUnprivileged(args)
            XCTAssertEqual(r.status, 0, "\(args.joined(separator: " ")):\n\(r.stderr)")
        }
        XCTAssertEqual(try files.map(digest), before, "nothing in the cache changed")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache).sorted(), ["data.mdb", "lock.mdb"])
    }

    func testATruncatedCacheIsAnErrorNamingItNotASignal() throws {
        let dir = try CLI.temporaryDirectory()
        let (cache, head) = try makeCache(dir)
        let data = cache + "/data.mdb"
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: data)[.size] as? Int)
        XCTAssertEqual(truncate(data, off_t(size / 3)), 0, "a copy interrupted a third of the way")
        for args in [["inspect", cache], ["inspect", cache, "--verify"], ["export", cache, "--out", dir.appendingPathComponent("np").path],
                     ["evaluate", cache, "--head", head], ["train", cache, "--out", dir.appendingPathComponent("h2.h5").path]] {
            let r = try CLI.run(args)
            assertRefused(r, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains("feature cache \(cache) is truncated: data.mdb is \(size / 3) bytes"), "\(args):\n\(r.stderr)")
        }
    }

    func testACacheNeverCompletedIsNamedSoByReadersAndFinishedByExtract() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["a", "b"], count: 2)
        // What a run killed before its first commit leaves: data.mdb and lock.mdb, no fingerprint.
        let cache = dir.appendingPathComponent("cache").path
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: cache + "/data.mdb", contents: Data()))
        let inspect = try CLI.run(["inspect", cache])
        assertRefused(inspect, "inspect")
        XCTAssertTrue(inspect.stderr.contains("was never completed: data.mdb is empty (0 bytes)"), inspect.stderr)
        XCTAssertTrue(inspect.stderr.contains("run `headstart extract` into it again"), inspect.stderr)

        let x = try CLI.run(["extract", d.root.path, "--weights", weights, "--cache", cache, "--size", "75"])
        XCTAssertEqual(x.status, 0, x.stderr)
        XCTAssertTrue(x.stdout.contains("note: \(cache) had been created by a run that stopped before its first commit; this run finished it"), x.stdout)
        XCTAssertEqual(try FeatureCache.open(cache).counts().records, 4)
    }

    func testTwoExtractionsStartedTogetherWithDifferentWeightsCannotBothWin() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["a", "b"], count: 1)
        let other = dir.appendingPathComponent("other.h5").path
        XCTAssertEqual(try CLI.run(["seeded-weights", "--seed", "11", "--out", other]).status, 0)
        let expected = [weights: try digest(weights), other: try digest(other)]
        for round in 0..<3 {
            let cache = dir.appendingPathComponent("cache-\(round)").path
            let runs = try [weights, other].map { w in
                try BackgroundCLI(["extract", d.root.path, "--weights", w, "--cache", cache, "--size", "75"])
            }
            for r in runs { r.process.waitUntilExit() }
            let statuses = runs.map(\.process.terminationStatus)
            XCTAssertEqual(statuses.filter { $0 == 0 }.count, 1, "round \(round): exactly one extraction gets the new cache \(statuses)")
            let loser = runs[statuses[0] == 0 ? 1 : 0]
            XCTAssertTrue(loser.stderr.contains("weightsSHA256: cache has"), "round \(round): \(loser.stderr)")
            let winner = statuses[0] == 0 ? weights : other
            let c = try FeatureCache.open(cache)
            XCTAssertEqual(c.fingerprint.weightsSHA256, expected[winner], "round \(round): the cache names the weights its features came from")
            XCTAssertEqual(try c.verify(), [])
        }
    }

    func testTrainingRefusesADamagedRecordNamingItsPathAndSkipsItWhenAsked() throws {
        let dir = try CLI.temporaryDirectory()
        let (cache, _) = try makeCache(dir)
        let c = try FeatureCache(path: cache, fingerprint: nil)
        let entry = try XCTUnwrap(c.indexEntries(split: .train).first)
        try c.lmdb.write { txn in  // one payload bit flipped, as a failing disk would
            let k = Layout.recordKey(entry.key, view: 0)
            var v = try c.lmdb.get(txn, "records", k) { Array($0!) }
            v[v.count - 1] ^= 0x01
            try c.lmdb.put(txn, "records", k, v)
        }
        let head = dir.appendingPathComponent("h.h5").path
        let refused = try CLI.run(["train", cache, "--out", head, "--epochs", "1", "--hidden", "8"])
        assertRefused(refused, "train")
        XCTAssertTrue(refused.stderr.contains("  \(entry.path) (record \(entry.key)/0): payload CRC-32 is"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--skip-damaged"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: head))

        let skipped = try CLI.run(["train", cache, "--out", head, "--epochs", "1", "--hidden", "8", "--skip-damaged"])
        XCTAssertEqual(skipped.status, 0, skipped.stderr)
        XCTAssertTrue(skipped.stderr.contains("skipped 1 damaged cache entry (--skip-damaged):\n  \(entry.path)"), skipped.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: head))
    }

    func testARecordHeaderWhoseDimsOverflowIsReportedByEveryCommandNotATrap() throws {
        let dir = try CLI.temporaryDirectory()
        let (cache, head) = try makeCache(dir)
        let c = try FeatureCache(path: cache, fingerprint: nil)
        let entry = try XCTUnwrap(c.indexEntries(split: .validation).first)
        try c.lmdb.write { txn in  // rank 3, dims 2^32 - 1 each: their product overflows
            var v = Layout.magic + [1, 0, FeatureDType.f16.code, 3, 0, 0, 0, 0]
            for _ in 0..<3 { v += [0xFF, 0xFF, 0xFF, 0xFF] }
            try c.lmdb.put(txn, "records", Layout.recordKey(entry.key, view: 0), v + [UInt8](repeating: 0, count: 64))
        }
        let verify = try CLI.run(["inspect", cache, "--verify"])
        XCTAssertTrue(verify.stdout.contains("records \(entry.key)/0: value is 88 bytes, header (f16, shape [4294967295, 4294967295, 4294967295]) says more than"),
                      "status \(verify.status)\n\(verify.stdout)\n\(verify.stderr)")
        for args in [["train", cache, "--out", dir.appendingPathComponent("h2.h5").path, "--epochs", "1", "--hidden", "8"],
                     ["evaluate", cache, "--head", head], ["export", cache, "--out", dir.appendingPathComponent("np").path]] {
            let r = try CLI.run(args)
            assertRefused(r, args[0])
            XCTAssertTrue(r.stderr.contains("  \(entry.path) (record \(entry.key)/0): value is 88 bytes"), "\(args[0]):\n\(r.stderr)")
        }
    }
}
