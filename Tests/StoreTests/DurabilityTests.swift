import Foundation
import XCTest
@testable import Store

/// kill -9 at any moment leaves the cache as of its last committed transaction.
///
/// XCTest on Linux has no helper executables, so the test re-runs its own test binary (/proc/self/exe is the
/// .xctest executable, which takes a "Module.Class/test" filter argument) with an environment variable that turns
/// `testChildWriterCommitsBatchesUntilKilled` into a writer. The parent SIGKILLs it mid-run, then checks the cache.
final class DurabilityTests: XCTestCase {
    static let childVariable = "HEADSTART_STORE_WRITER_CACHE"
    static let perBatch = 8
    static let shape = [7, 7, 64]
    static let fingerprint = testFingerprint(dtype: .f16, shape: shape)

    static func key(batch: Int, item: Int) -> ContentKey { testKey(batch * perBatch + item) }
    static func values(batch: Int, item: Int) -> [Float] {
        testValues(7 * 7 * 64, seed: UInt64(batch * perBatch + item))
    }

    /// The child half: skipped unless the parent test set the variable. Resumes after the batches already in the
    /// cache and commits up to 2000 more (a bound in case the parent dies), announcing each on stdout.
    func testChildWriterCommitsBatchesUntilKilled() throws {
        guard let dir = ProcessInfo.processInfo.environment[Self.childVariable] else {
            throw XCTSkip("writer half of testAKilledWriterLeavesExactlyTheCommittedBatches; runs only as its child process")
        }
        // A small map, so the child is also killed while growing it.
        let cache = try FeatureCache(path: dir, fingerprint: Self.fingerprint, initialMapSize: 256 << 10)
        let start = try cache.counts().entries / Self.perBatch
        for b in start..<(start + 2000) {
            let items = 0..<Self.perBatch
            try cache.commit(batch: Batch(
                records: items.map { PendingRecord(key: Self.key(batch: b, item: $0), values: Self.values(batch: b, item: $0)) },
                entries: items.map { testEntry("batch-\(b)/\($0).png", Self.key(batch: b, item: $0)) }))
            print("COMMITTED \(b)")
            fflush(stdout)
        }
    }

    func testAKilledWriterLeavesExactlyTheCommittedBatches() throws {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        guard FileManager.default.isExecutableFile(atPath: exe.path), exe.path.hasSuffix(".xctest") else {
            throw XCTSkip("needs the Linux .xctest executable at /proc/self/exe to re-run as the writer (found \(exe.path))")
        }
        let dir = temporaryDirectory(self)
        var committedBefore = 0
        // Three kills at different moments; each child resumes where the last one was killed.
        for (trial, extraDelay) in [0.0, 0.013, 0.029].enumerated() {
            let child = Process()
            child.executableURL = exe
            child.arguments = ["StoreTests.DurabilityTests/testChildWriterCommitsBatchesUntilKilled"]
            child.environment = ProcessInfo.processInfo.environment.merging([Self.childVariable: dir]) { $1 }
            let out = Pipe()
            child.standardOutput = out
            child.standardError = FileHandle.nullDevice
            try child.run()

            // Wait for 10 announced commits, then kill at an arbitrary point of the following ones.
            var lastAnnounced = -1
            var text = ""
            while lastAnnounced < committedBefore + 10 {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
                lastAnnounced = Self.lastCommitted(in: text) ?? lastAnnounced
            }
            XCTAssertGreaterThanOrEqual(lastAnnounced, committedBefore + 10, "child output:\n\(text.suffix(2000))")
            Thread.sleep(forTimeInterval: extraDelay)
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            text += String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            lastAnnounced = Self.lastCommitted(in: text) ?? lastAnnounced
            XCTAssertEqual(child.terminationReason, .uncaughtSignal, "trial \(trial): the child must die by SIGKILL, not finish")

            let cache = try FeatureCache(path: dir, fingerprint: Self.fingerprint)
            XCTAssertEqual(try cache.verify(), [], "trial \(trial)")
            let c = try cache.counts()
            XCTAssertEqual(c.entries % Self.perBatch, 0, "trial \(trial): no partial batch")
            XCTAssertEqual(c.records, c.entries, "trial \(trial): one record per distinct image")
            let batches = c.entries / Self.perBatch
            // Every announced commit survived; at most one more (committed but killed before announcing).
            XCTAssertTrue((lastAnnounced + 1)...(lastAnnounced + 2) ~= batches, "trial \(trial): \(batches) batches, last announced \(lastAnnounced)")
            let paths = Set(try cache.indexEntries().map(\.path))
            for b in 0..<batches {
                for i in 0..<Self.perBatch where !paths.contains("batch-\(b)/\(i).png") {
                    XCTFail("trial \(trial): batch \(b) item \(i) missing")
                }
            }
            let last = batches - 1
            XCTAssertEqual(try cache.record(key: Self.key(batch: last, item: 7))?.values.count, 7 * 7 * 64)
            committedBefore = batches
        }
    }

    static func lastCommitted(in text: String) -> Int? {
        text.split(separator: "\n").last { $0.hasPrefix("COMMITTED ") }.flatMap { Int($0.dropFirst(10)) }
    }
}
