import Foundation
import XCTest
@testable import Store

/// Tools/cache-reader/read_cache.py (the snippet in docs/cache-format.md) reads what Store writes.
final class PythonReaderTests: XCTestCase {
    static var repoRoot: URL {
        var u = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: u.appendingPathComponent("Package.swift").path) {
            u = u.deletingLastPathComponent()
        }
        return u
    }

    /// $HEADSTART_PYTHON (set by scripts/test), /work/venv/bin/python, else python3 on PATH, whichever imports
    /// lmdb and numpy.
    static func python() -> String? {
        let env = ProcessInfo.processInfo.environment["HEADSTART_PYTHON"].map { [$0] } ?? []
        for candidate in env + ["/work/venv/bin/python", "python3"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [candidate, "-c", "import lmdb, numpy"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { continue }
            p.waitUntilExit()
            if p.terminationStatus == 0 { return candidate }
        }
        return nil
    }

    func readWithPython(cache: String, path: String) throws -> [String: Any] {
        guard let python = Self.python() else {
            throw XCTSkip("no python with the lmdb and numpy modules (tried $HEADSTART_PYTHON, /work/venv/bin/python, python3); run scripts/setup")
        }
        let script = Self.repoRoot.appendingPathComponent("Tools/cache-reader/read_cache.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, script, cache, path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, errText)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], errText)
    }

    func check(dtype: FeatureDType) throws {
        let dir = temporaryDirectory(self)
        let cache = try FeatureCache(path: dir, fingerprint: testFingerprint(dtype: dtype))
        try cache.setClassNames(["horses", "humans"])
        let values = testValues(24, seed: 11, scale: 50)
        let key = testKey(11)
        let stat = FileStat(size: 98_765, modificationTimeNanoseconds: 1_712_345_678_123_456_789,
                            changeTimeNanoseconds: 1_712_345_679_000_000_001, inode: 1 << 40 | 7, device: 2049)
        let entry = IndexEntry(path: "validation/humans/ü 1.png", key: key, label: 1, split: .validation,
                               stat: stat, hashedAtNanoseconds: 1_712_400_000_000_000_000)
        try cache.commit(batch: Batch(
            records: [PendingRecord(key: key, values: values), PendingRecord(key: testKey(12), values: testValues(24, seed: 12))],
            entries: [entry, testEntry("train/horses/a.png", testKey(12))]))

        let r = try readWithPython(cache: dir, path: entry.path)
        let e = try XCTUnwrap(r["entry"] as? [String: Any])
        XCTAssertEqual(e["key"] as? String, key.description)
        XCTAssertEqual(e["label"] as? Int, 1)
        XCTAssertEqual(e["split"] as? String, "validation")
        XCTAssertEqual(e["size"] as? Int, 98_765)
        XCTAssertEqual((e["mtime_ns"] as? NSNumber)?.int64Value, 1_712_345_678_123_456_789)
        XCTAssertEqual((e["ctime_ns"] as? NSNumber)?.int64Value, 1_712_345_679_000_000_001)
        XCTAssertEqual((e["inode"] as? NSNumber)?.uint64Value, 1 << 40 | 7)
        XCTAssertEqual((e["device"] as? NSNumber)?.uint64Value, 2049)
        XCTAssertEqual((e["hashed_at_ns"] as? NSNumber)?.int64Value, 1_712_400_000_000_000_000)
        XCTAssertEqual(r["classes"] as? [String], ["horses", "humans"])
        XCTAssertEqual((r["fingerprint"] as? [String: Any])?["dtype"] as? String, dtype.rawValue)
        XCTAssertEqual(r["shape"] as? [Int], [2, 3, 4])
        // Python prints the float32 values as doubles: converting back to Float is exact, so compare exactly
        // with what Swift reads (f32: the values written; f16: the values after half rounding).
        let py = try XCTUnwrap(r["values"] as? [Double]).map { Float($0) }
        let swift = try XCTUnwrap(try cache.record(key: key)).values
        XCTAssertEqual(py, swift)
        if dtype == .f32 { XCTAssertEqual(py, values) }
    }

    func testPythonReaderReadsAFloat16Record() throws { try check(dtype: .f16) }
    func testPythonReaderReadsAFloat32Record() throws { try check(dtype: .f32) }
}

final class FormatDocumentTests: XCTestCase {
    func testTheDocumentedSnippetIsTheTestedReader() throws {
        let root = PythonReaderTests.repoRoot
        let script = try String(contentsOf: root.appendingPathComponent("Tools/cache-reader/read_cache.py"), encoding: .utf8)
        let doc = try String(contentsOf: root.appendingPathComponent("docs/cache-format.md"), encoding: .utf8)
        let start = try XCTUnwrap(script.range(of: "# --- snippet start ---\n"))
        let end = try XCTUnwrap(script.range(of: "# --- snippet end ---\n"))
        let snippet = String(script[start.upperBound..<end.lowerBound])
        XCTAssertGreaterThan(snippet.count, 500)
        XCTAssertTrue(doc.contains(snippet), "docs/cache-format.md must contain the reader between the snippet markers verbatim")
    }
}
