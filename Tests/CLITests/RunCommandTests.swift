import Foundation
import Pipeline
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
        // Every file says what it is: the rows of history.csv, evaluation.json's own fields.
        for row in history.split(separator: "\n").dropFirst() {
            XCTAssertTrue(row.hasSuffix(",DEMO seeded seed=7 generator=1"), String(row))
        }
        XCTAssertTrue((report["demo"] as? String)?.hasPrefix("DEMO: seeded weights") ?? false, "\(report)")
        XCTAssertEqual(report["weightsOrigin"] as? String, "seeded seed=7 generator=1")

        // Running again extracts nothing: the cache already holds every image.
        let again = try CLI.run(["run", try demoPipeline(in: dir)])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("extracted 0, reused 128"), again.stdout)
    }

    /// Seed 7's weights as `headstart seeded-weights` writes them, made once per test process.
    static let seededWeights: Result<String, Error> = Result {
        let path = try CLI.temporaryDirectory().appendingPathComponent("seeded-7.h5").path
        let r = try CLI.run(["seeded-weights", "--seed", "7", "--out", path])
        guard r.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: r.stderr]) }
        return path
    }

    /// A pipeline over 18 generated images (6 + 3 per class) at size 75 with one short epoch, its weights (written
    /// by `headstart seeded-weights`) copied to `weights`; its cache and outputs in dir/out.
    func smallPipeline(in dir: URL, weights: String) throws -> String {
        try FileManager.default.createDirectory(atPath: (weights as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try Self.seededWeights.get(), toPath: weights)
        let data = dir.appendingPathComponent("data/discs-and-stripes")
        try DemoData.generate(into: data, train: 6, validation: 3)
        return try writePipeline("small", in: dir, dataset: data.path, weights: weights, settings: """
        extract:
          size: 75
        train:
          epochs: 1
          hidden: 8
        """)
    }

    /// A pipeline file dir/`file` for `dataset` and `weights`, its cache and outputs in dir/out.
    func writePipeline(_ name: String, in dir: URL, dataset: String, weights: String, settings: String = "",
                       file: String = "p.yaml") throws -> String {
        let text = """
        name: \(name)
        dataset: \(dataset)
        weights: \(weights)
        cache: \(dir.appendingPathComponent("out/cache").path)
        output: \(dir.appendingPathComponent("out").path)
        \(settings)
        """
        let path = dir.appendingPathComponent(file).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testSeededWeightsSavedUnderTheRealFilesNameAreCalledSeededInTheConsoleInspectAndTheReport() throws {
        let dir = try CLI.temporaryDirectory()
        let path = try smallPipeline(
            in: dir, weights: dir.appendingPathComponent("data/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5").path)
        let warning = "seeded weights (seed 7), not Keras's ImageNet weights: accuracy means nothing"

        let r = try CLI.run(["run", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("WARNING: \(warning)"), r.stdout)
        let inspect = try CLI.run(["inspect", dir.appendingPathComponent("out/cache").path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("origin        seeded weights (seed 7, generator 1), not trained"), inspect.stdout)
        XCTAssertTrue(inspect.stdout.contains("WARNING: \(warning)"), inspect.stdout)
        let report = try JSONSerialization.jsonObject(
            with: Data(contentsOf: dir.appendingPathComponent("out/evaluation.json"))) as! [String: Any]
        XCTAssertEqual(report["weightsOrigin"] as? String, "seeded seed=7 generator=1")
        XCTAssertEqual(report["weightsWarning"] as? String, warning)
        XCTAssertNil(report["demo"], "not a demo: its own pipeline")
    }

    func testAFinetuneSectionExtractsMixed6AndFineTunesFromTheTrainedHead() throws {
        let dir = try CLI.temporaryDirectory()
        let weights = dir.appendingPathComponent("seeded.h5").path
        try FileManager.default.copyItem(atPath: try Self.seededWeights.get(), toPath: weights)
        let data = dir.appendingPathComponent("data/discs-and-stripes")
        try DemoData.generate(into: data, train: 6, validation: 3)
        let path = try writePipeline("two-phase", in: dir, dataset: data.path, weights: weights, settings: """
        extract:
          size: 75
        train:
          epochs: 1
          hidden: 8
        finetune:
          epochs: 2
          batch: 4
          optimizer: sgd
          lr: 1.0e-3
        """)
        let r = try CLI.run(["run", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("== extract mixed6: \(data.path) → \(dir.appendingPathComponent("out/cache").path)-mixed6"), r.stdout)
        XCTAssertTrue(r.stdout.contains("== finetune: mixed7 and the head, 2 epochs"), r.stdout)
        XCTAssertTrue(r.stdout.contains("fine-tuned mixed7 and the head for 2 epochs"), r.stdout)
        for file in ["model.h5", "finetune-history.csv", "finetune-curves.svg", "head.h5", "history.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/\(file)").path), file)
        }
        let inspect = try CLI.run(["inspect", dir.appendingPathComponent("out/model.h5").path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.lowercased().contains("fine-tuned"), inspect.stdout)
    }

    func testStandardOutputAndErrorInOneLogReadInTheOrderTheyHappened() throws {
        let dir = try CLI.temporaryDirectory()
        let path = try smallPipeline(in: dir, weights: dir.appendingPathComponent("seeded.h5").path)
        let log = dir.appendingPathComponent("log.txt").path
        // stdout: the stage headings; stderr: extraction's progress, between the first two.
        let r = try CLI.process(URL(fileURLWithPath: "/bin/sh"), ["-c", "\"$0\" run \"$1\" > \"$2\" 2>&1", CLI.executable.path, path, log])
        XCTAssertEqual(r.status, 0, r.stderr)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        guard let extract = text.range(of: "== extract:"), let progress = text.range(of: "extract 18/18"),
              let train = text.range(of: "== train:") else {
            return XCTFail("missing lines in the log:\n\(text)")
        }
        XCTAssertLessThan(extract.lowerBound, progress.lowerBound, text)
        XCTAssertLessThan(progress.lowerBound, train.lowerBound, text)
    }

    func testRunWritesASelfContainedReportThatAHeadlessBrowserRendersWithItsCharts() throws {
        let dir = try CLI.temporaryDirectory()
        let r = try CLI.run(["run", try smallPipeline(in: dir, weights: dir.appendingPathComponent("seeded.h5").path)])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = dir.appendingPathComponent("out/report.html")
        let html = try String(contentsOf: report, encoding: .utf8)
        XCTAssertFalse(html.contains("src=\"http") || html.contains("href=\"http"), "self-contained: nothing fetched")
        let evaluation = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("out/evaluation.json"))) as! [String: Any]
        let mistakes = (evaluation["misclassified"] as! [[String: Any]]).count
        XCTAssertEqual(html.components(separatedBy: "<img src=\"data:image/png;base64,").count - 1, mistakes, "one thumbnail per mistake")

        let browser = try HeadlessBrowser.find()
        let dom = try browser.dumpDOM(report)
        for id in ["curves", "confusion", "per-class", "roc", "provenance"] { XCTAssertTrue(dom.contains("id=\"\(id)\""), id) }
        let shot = try browser.screenshot(report, into: dir)
        // The charts are drawn: the training curves and the per-class bars in blue, validation and ROC in orange.
        XCTAssertGreaterThan(shot.pixels(near: (0x1F, 0x77, 0xB4)), 500, "blue chart pixels")
        XCTAssertGreaterThan(shot.pixels(near: (0xFF, 0x7F, 0x0E)), 200, "orange chart pixels")
    }

    func testReportWritesTheSameReportFromACacheAHeadAndAHistory() throws {
        let dir = try CLI.temporaryDirectory()
        let r = try CLI.run(["run", try smallPipeline(in: dir, weights: dir.appendingPathComponent("seeded.h5").path)])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = dir.appendingPathComponent("again.html").path
        let report = try CLI.run(["report", dir.appendingPathComponent("out/cache").path, "--head", dir.appendingPathComponent("out/head.h5").path,
                                  "--history", dir.appendingPathComponent("out/history.csv").path, "--out", out, "--title", "small"])
        XCTAssertEqual(report.status, 0, report.stderr)
        let html = try String(contentsOfFile: out, encoding: .utf8)
        for part in ["<h1>small</h1>", "id=\"curves\"", "id=\"confusion\"", "id=\"roc\"", "positive class: stripes",
                     "WARNING: seeded weights (seed 7), not Keras's ImageNet weights"] {
            XCTAssertTrue(html.contains(part), part)
        }
        let bad = try CLI.run(["report", dir.appendingPathComponent("out/cache").path, "--head", dir.appendingPathComponent("out/head.h5").path,
                               "--history", dir.appendingPathComponent("out/evaluation.json").path, "--out", out])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("evaluation.json: not a history written by headstart"), bad.stderr)
    }

    func testARunThatCannotStartLeavesNoOutputFolder() throws {
        let dir = try CLI.temporaryDirectory()
        let path = try writePipeline("nothing-there", in: dir, dataset: dir.appendingPathComponent("no-such-dataset").path,
                                     weights: dir.appendingPathComponent("no-such-weights.h5").path)
        let r = try CLI.run(["run", path, "--no-demo"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no-such-weights.h5 does not exist"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path))
    }

    func testWithoutANetworkItExplainsAndRunsTheDemoInstead() throws {
        let dir = try CLI.temporaryDirectory()
        _ = try demoPipeline(in: dir)  // the demo.yaml beside the pipeline is what the fallback runs
        let path = try writePipeline(
            "needs-downloads", in: dir, dataset: dir.appendingPathComponent("data/horse-or-human").path,
            weights: dir.appendingPathComponent("data/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5").path,
            file: "real.yaml")
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
