import Foundation
import XCTest

/// Settings nobody should give, given: each is refused before any work with a message naming the flag or the
/// pipeline key and what it accepts — never accepted into a NaN head, never a crash, never after the epochs.
final class BadSettingsCommandTests: XCTestCase {
    var weights: String { FeaturesCommandTests.weights }

    func assertRefused(_ args: [String], saying expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let start = Date()
        let r = try CLI.run(args)
        XCTAssertTrue(r.status >= 1 && r.status <= 64, "\(args.joined(separator: " ")): status \(r.status)\n\(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(expected), "\(args.joined(separator: " ")):\n\(r.stderr)", file: file, line: line)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "refused before doing the work", file: file, line: line)
    }

    func testFlagsOutOfRangeAreRefusedNamingTheFlag() throws {
        let cache = "/nonexistent-cache"
        try assertRefused(["train", cache, "--out", "/tmp/h.h5", "--lr", "inf"], saying: "--lr inf: expected a finite number above 0")
        try assertRefused(["train", cache, "--out", "/tmp/h.h5", "--lr", "0"], saying: "--lr 0.0: expected a finite number above 0")
        try assertRefused(["train", cache, "--out", "/tmp/h.h5", "--hidden", "2000000000"], saying: "--hidden 2000000000: expected an integer from 1 to 16777216")
        try assertRefused(["train", cache, "--out", "/tmp/h.h5", "--epochs", "0"], saying: "--epochs 0: expected an integer from 1 to 1000000")
        try assertRefused(["extract", "/tmp", "--cache", "/tmp/c", "--batch", "1000000"], saying: "--batch 1000000: expected an integer from 1 to 1024")
        try assertRefused(["extract", "/tmp", "--cache", "/tmp/c", "--size", "100000"], saying: "--size 100000: expected an integer from 75 to 2048")
        try assertRefused(["extract", "/tmp", "--cache", "/tmp/c", "--limit=-1"], saying: "--limit -1: expected an integer of at least 1")
        try assertRefused(["features", "--weights", weights, "--out", "/tmp/f.npy", "--batch", "5000", "a.png"], saying: "--batch 5000: expected an integer from 1 to 1024")
        try assertRefused(["sweep", cache, "--out", "/tmp/s", "--hidden", "512,1e12"], saying: "--hidden 1000000000000: expected an integer from 1 to 16777216")
        try assertRefused(["augment-preview", "x.png", "--book", "--n", "100000000", "--out", "/tmp/g.png"], saying: "--n and --columns must be from 1 to 1024")
    }

    func testAMissingOutputFolderIsRefusedBeforeTraining() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        d.addJPEGs(classes: ["a", "b"], count: 3)
        let cache = dir.appendingPathComponent("cache").path
        XCTAssertEqual(try CLI.run(["extract", d.root.path, "--weights", weights, "--cache", cache, "--size", "75"]).status, 0)
        let r = try CLI.run(["train", cache, "--out", "/missing/dir/h.h5", "--epochs", "50", "--hidden", "8"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--out /missing/dir/h.h5: expected a file in an existing folder (/missing/dir does not exist)"), r.stderr)
        XCTAssertFalse(r.stdout.contains("Epoch 1/"), "refused before the first epoch:\n\(r.stdout)")
        try assertRefused(["train", cache, "--out", dir.appendingPathComponent("h.h5").path, "--history", "/missing/h.csv"],
                          saying: "--history /missing/h.csv: expected a file in an existing folder")
    }

    func testAPipelineFileWithAMisspeltKeyOrABadValueIsRefusedNamingIt() throws {
        let dir = try CLI.temporaryDirectory()
        let p = dir.appendingPathComponent("p.yaml").path
        try "dataset: \(dir.path)\ncache: \(dir.path)/c\nextract:\n  sise: 150\n".write(toFile: p, atomically: true, encoding: .utf8)
        try assertRefused(["extract", p, "--weights", weights], saying: "\(p): unknown key 'sise' in extract:; did you mean 'size'?")
        try "dataset: \(dir.path)\ncache: \(dir.path)/c\nextract:\n  limit: -1\n".write(toFile: p, atomically: true, encoding: .utf8)
        try assertRefused(["extract", p, "--weights", weights], saying: "\(p): extract.limit -1: expected an integer of at least 1")
        try "dataset: \(dir.path)\ncache: \(dir.path)/c\ntrain:\n  lr: 0\n".write(toFile: p, atomically: true, encoding: .utf8)
        try assertRefused(["run", p], saying: "\(p): train.lr 0.0: expected a finite number above 0")
        try ("train: " + String(repeating: "[", count: 100_000) + "\n").write(toFile: p, atomically: true, encoding: .utf8)
        try assertRefused(["extract", p, "--weights", weights], saying: "nested more than 16 deep")
    }

    func testFeaturesOfAFIFONamedJpgFailsAtOnceNamingIt() throws {
        let dir = try CLI.temporaryDirectory()
        let fifo = dir.appendingPathComponent("pipe.jpg").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        try assertRefused(["features", "--weights", weights, "--size", "75", "--out", dir.appendingPathComponent("f.npy").path, fifo],
                          saying: "\(fifo): not a regular file (a FIFO): not read")
    }

    /// `features` failing right after building its network used to abort now and then (SIGABRT from the worker
    /// pool reaching a released pool); every exit must be the error's.
    func testAFailingFeaturesCommandExitsWithItsErrorEveryTime() throws {
        let dir = try CLI.temporaryDirectory()
        let empty = dir.appendingPathComponent("empty.jpg").path
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        for attempt in 0..<6 {
            let r = try CLI.run(["features", "--weights", weights, "--size", "75", "--threads", "4",
                                 "--out", dir.appendingPathComponent("f.npy").path, empty])
            XCTAssertEqual(r.status, 1, "attempt \(attempt): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("empty file (0 bytes)"), r.stderr)
        }
    }
}
