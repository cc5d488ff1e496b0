import XCTest

/// The top-level help is the map of the tool: every command must be on it.
final class HelpTests: XCTestCase {
    func testTheHelpListsEveryCommandWithItsAbstract() throws {
        let r = try CLI.run(["--help"])
        XCTAssertEqual(r.status, 0)
        let commands = ["run", "extract", "train", "sweep", "evaluate", "report", "predict", "inspect", "export", "export-keras",
                        "cache", "features", "fetch", "augment-preview", "seeded-weights"]
        for c in commands {
            XCTAssertNotNil(r.stdout.range(of: "\n  \(c) "), "help lacks `\(c)`:\n\(r.stdout)")
        }
        XCTAssertTrue(r.stdout.contains("Stage one runs every image once"), r.stdout)
    }

    func testAnUnknownCommandIsRefusedWithTheHelpHint() throws {
        let r = try CLI.run(["extrct"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("extrct"), r.stderr)
    }
}
