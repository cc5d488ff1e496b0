import Foundation
import XCTest

/// Every script of the repository answers a bad argument with its usage on standard error and exit status 2,
/// before it does anything (installs, builds, downloads).
final class ScriptUsageTests: XCTestCase {
    func assertUsage(_ program: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try CLI.process(URL(fileURLWithPath: program), arguments, in: CLI.repositoryRoot)
        XCTAssertEqual(r.status, 2, "\(arguments): \(r.stdout)\(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains("usage:"), "\(arguments): \(r.stderr)", file: file, line: line)
    }

    func testEveryShellScriptPrintsUsageOnABadArgument() throws {
        for script in ["scripts/setup", "scripts/test", "scripts/first-run", "scripts/install", "Fuzz/run"] {
            try assertUsage("/bin/bash", [script, "--no-such-option"])
        }
        try assertUsage("/bin/bash", ["scripts/check-horses-or-humans", "a", "b", "c"])
        try assertUsage("/bin/bash", ["scripts/kill9-campaign", "many"])
        try assertUsage("/bin/sh", ["Tools/fetch/embed-manifest.sh", "/no/such/MANIFEST.sha256"])
    }

    func testTheCacheReaderPrintsUsageWithoutArguments() throws {
        let python = ProcessInfo.processInfo.environment["HEADSTART_PYTHON"] ?? "/usr/bin/python3"
        guard (try? CLI.process(URL(fileURLWithPath: python), ["-c", "import lmdb, numpy"]).status) == 0 else {
            throw XCTSkip("no Python with lmdb and numpy at \(python) (set HEADSTART_PYTHON); the reader's usage not checked")
        }
        try assertUsage(python, ["Tools/cache-reader/read_cache.py"])
    }
}
