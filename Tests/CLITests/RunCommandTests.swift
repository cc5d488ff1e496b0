import Foundation
import XCTest

/// `headstart run`: a whole pipeline, and the offline fallback to the demo.
final class RunCommandTests: XCTestCase {
    /// pipelines/demo.yaml with its paths moved into `dir` and a short training.
    func demoPipeline(in dir: URL, name: String = "demo.yaml") throws -> String {
        var text = try String(contentsOf: CLI.repositoryRoot.appendingPathComponent("pipelines/demo.yaml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "out/demo", with: dir.appendingPathComponent("demo").path)
        text = text.replacingOccurrences(of: "epochs: 10", with: "epochs: 2")
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testTheDemoPipelineRunsEndToEndAndLabelsItsOutputs() throws {
        let dir = try CLI.temporaryDirectory()
        let r = try CLI.run(["run", try demoPipeline(in: dir)])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = dir.appendingPathComponent("demo")
        for file in ["head.h5", "history.csv", "curves.svg", "evaluation.json", "DEMO.txt", "seeded-notop.h5"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "missing \(file)")
        }
        XCTAssertTrue(r.stdout.contains("[DEMO] == train: 2 epochs"), r.stdout)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("evaluation.json"))) as! [String: Any]
        XCTAssertEqual(report["classes"] as? [String], ["discs", "stripes"])
        XCTAssertEqual(report["count"] as? Int, 32)
        let history = try String(contentsOf: out.appendingPathComponent("history.csv"), encoding: .utf8)
        XCTAssertEqual(history.split(separator: "\n").count, 3, "header + 2 epochs")

        // Running again extracts nothing: the cache already holds every image.
        let again = try CLI.run(["run", try demoPipeline(in: dir)])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("extracted 0, reused 128"), again.stdout)
    }

    func testWithoutANetworkItExplainsAndRunsTheDemoInstead() throws {
        let dir = try CLI.temporaryDirectory()
        _ = try demoPipeline(in: dir)  // the demo.yaml beside the pipeline is what the fallback runs
        let real = """
        name: needs-downloads
        dataset: \(dir.appendingPathComponent("data/horse-or-human").path)
        weights: \(dir.appendingPathComponent("data/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5").path)
        cache: \(dir.appendingPathComponent("out/cache").path)
        output: \(dir.appendingPathComponent("out").path)
        """
        let path = dir.appendingPathComponent("real.yaml").path
        try real.write(toFile: path, atomically: true, encoding: .utf8)
        // A closed port on this machine stands for "no network".
        setenv("HEADSTART_WEIGHTS_URL", "http://127.0.0.1:9/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", 1)
        defer { unsetenv("HEADSTART_WEIGHTS_URL") }
        let r = try CLI.run(["run", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("No network: could not reach 127.0.0.1"), r.stdout)
        XCTAssertTrue(r.stdout.contains("runs its offline demo instead"), r.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("demo/DEMO.txt").path))

        let strict = try CLI.run(["run", path, "--no-demo"])
        XCTAssertNotEqual(strict.status, 0)
        XCTAssertTrue(strict.stderr.contains("could not reach 127.0.0.1"), strict.stderr)
    }
}
