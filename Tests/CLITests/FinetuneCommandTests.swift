import Foundation
import Pipeline
import XCTest

/// `headstart finetune`: mixed7 and the head trained over a mixed6 cache, and what refuses to start.
final class FinetuneCommandTests: XCTestCase {
    /// A generated two-class set (8 + 4 per class) at size 75 with seed 7's weights, in `dir`.
    struct Setup {
        var dir: URL
        var data: String
        var weights: String
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        /// `headstart extract` of the set into `cache` at `layer`.
        func extract(_ cache: String, layer: String, weights: String? = nil) throws {
            let r = try CLI.run(["extract", data, "--weights", weights ?? self.weights, "--size", "75", "--layer", layer,
                                 "--dtype", "f32", "--cache", path(cache)])
            XCTAssertEqual(r.status, 0, r.stderr)
        }

        /// `headstart predict --json` outputs per image path.
        func predict(_ model: String, images: [String]) throws -> [String: [Double]] {
            let r = try CLI.run(["predict", "--weights", weights, "--head", model, "--json"] + images)
            XCTAssertEqual(r.status, 0, r.stderr)
            let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            var out: [String: [Double]] = [:]
            for p in doc["predictions"] as! [[String: Any]] { out[p["path"] as! String] = p["probabilities"] as? [Double] }
            return out
        }

        var images: [String] {
            let validation = URL(fileURLWithPath: data).appendingPathComponent("validation")
            return ["discs", "stripes"].flatMap { c in
                (try? FileManager.default.contentsOfDirectory(atPath: validation.appendingPathComponent(c).path).sorted()
                    .map { validation.appendingPathComponent(c).appendingPathComponent($0).path }) ?? []
            }
        }
    }

    func setup() throws -> Setup {
        let dir = try CLI.temporaryDirectory()
        let data = dir.appendingPathComponent("data/discs-and-stripes")
        try DemoData.generate(into: data, train: 8, validation: 4, size: 75)
        return Setup(dir: dir, data: data.path, weights: try RunCommandTests.seededWeights.get())
    }

    func testFineTuningAMixed6CacheTrainsAndSavesAModelThatPredictAndInspectRead() throws {
        let s = try setup()
        try s.extract("mixed6", layer: "mixed6")
        let r = try CLI.run(["finetune", s.path("mixed6"), "--weights", s.weights, "--out", s.path("model.h5"),
                             "--epochs", "2", "--batch", "4", "--hidden", "8", "--history", s.path("history.csv")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("Epoch 2/2"), r.stdout)
        XCTAssertTrue(r.stdout.contains("fine-tuned mixed7 and the head for 2 epochs on 16 images (validated on 8)"), r.stdout)
        let history = try String(contentsOfFile: s.path("history.csv"), encoding: .utf8)
        XCTAssertEqual(history.split(separator: "\n").count, 3, "header + 2 epochs")

        let predictions = try s.predict(s.path("model.h5"), images: s.images)
        XCTAssertEqual(predictions.count, 8)
        let inspect = try CLI.run(["inspect", s.path("model.h5")])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.lowercased().contains("fine-tuned"), inspect.stdout)
    }

    /// evaluate runs the model's own block over the mixed6 cache it trained on: its figures are the last epoch's
    /// validation figures; a mixed7 cache (the weights file's mixed7, not the model's) is refused.
    func testEvaluateScoresAFineTunedModelOnItsMixed6CacheAsTrainingValidatedIt() throws {
        let s = try setup()
        try s.extract("mixed6", layer: "mixed6")
        let r = try CLI.run(["finetune", s.path("mixed6"), "--weights", s.weights, "--out", s.path("model.h5"),
                             "--epochs", "2", "--batch", "4", "--hidden", "8", "--lr", "1e-3", "--history", s.path("history.csv")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let last = try String(contentsOfFile: s.path("history.csv"), encoding: .utf8).split(separator: "\n").last!.split(separator: ",")
        let (valLoss, valAccuracy) = (Double(last[3])!, Double(last[4])!)
        let e = try CLI.run(["evaluate", s.path("mixed6"), "--head", s.path("model.h5"), "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(report["count"] as? Int, 8)
        XCTAssertEqual(report["accuracy"] as! Double, valAccuracy, accuracy: 1e-9)
        XCTAssertEqual(report["loss"] as! Double, valLoss, accuracy: 1e-5 * max(1, valLoss))

        try s.extract("mixed7", layer: "mixed7")
        let refused = try CLI.run(["evaluate", s.path("mixed7"), "--head", s.path("model.h5")])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("evaluate it on a cache of mixed6"), refused.stderr)
    }

    /// The two-phase recipe: at a learning rate too small to move anything, the fine-tuned model predicts what the
    /// head it started from predicts — so the block starts from the base's mixed7 and the head from `--init-head`.
    func testInitHeadStartsFromTheHeadTrainedOnMixed7() throws {
        let s = try setup()
        try s.extract("mixed7", layer: "mixed7")
        try s.extract("mixed6", layer: "mixed6")
        let train = try CLI.run(["train", s.path("mixed7"), "--out", s.path("head.h5"), "--epochs", "2", "--batch", "4", "--hidden", "8"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let r = try CLI.run(["finetune", s.path("mixed6"), "--weights", s.weights, "--init-head", s.path("head.h5"),
                             "--out", s.path("model.h5"), "--epochs", "1", "--batch", "4", "--lr", "1e-30", "--optimizer", "sgd"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let head = try s.predict(s.path("head.h5"), images: s.images)
        let model = try s.predict(s.path("model.h5"), images: s.images)
        XCTAssertEqual(Set(head.keys), Set(model.keys))
        for (path, p) in head {
            XCTAssertEqual(p[0], model[path]![0], accuracy: 1e-5, path)
        }
        // A real step moves them.
        let moved = try CLI.run(["finetune", s.path("mixed6"), "--weights", s.weights, "--init-head", s.path("head.h5"),
                                 "--out", s.path("moved.h5"), "--epochs", "1", "--batch", "4", "--lr", "1e-3"])
        XCTAssertEqual(moved.status, 0, moved.stderr)
        let after = try s.predict(s.path("moved.h5"), images: s.images)
        XCTAssertGreaterThan(head.map { abs($0.value[0] - after[$0.key]![0]) }.max()!, 1e-4)
    }

    func testAugmentViewsTrainsOnTheCachedViewsOfAMixed6Cache() throws {
        let s = try setup()
        let x = try CLI.run(["extract", s.data, "--weights", s.weights, "--size", "75", "--layer", "mixed6",
                             "--cache", s.path("mixed6"), "--views", "2", "--book"])
        XCTAssertEqual(x.status, 0, x.stderr)
        let r = try CLI.run(["finetune", s.path("mixed6"), "--weights", s.weights, "--out", s.path("model.h5"),
                             "--epochs", "1", "--batch", "4", "--hidden", "8", "--augment", "views"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("augment views: 16 of 16 training images have cached views (32 views besides the originals)"), r.stdout)
    }

    func testAMixed7CacheIsRefusedNamingTheCutFineTuningNeeds() throws {
        let s = try setup()
        try s.extract("mixed7", layer: "mixed7")
        let r = try CLI.run(["finetune", s.path("mixed7"), "--weights", s.weights, "--out", s.path("model.h5")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("the cache holds mixed7 features; fine-tuning mixed7 needs its input, a cache extracted with --layer mixed6"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.path("model.h5")))
    }

    func testWeightsOtherThanTheCachesAreRefused() throws {
        let s = try setup()
        try s.extract("mixed6", layer: "mixed6")
        let other = s.path("seed8.h5")
        XCTAssertEqual(try CLI.run(["seeded-weights", "--seed", "8", "--out", other]).status, 0)
        let r = try CLI.run(["finetune", s.path("mixed6"), "--weights", other, "--out", s.path("model.h5")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(other): not the weights file the cache"), r.stderr)
    }

    func testAnInitHeadTrainedOnAnotherCutIsRefusedNamingTheDifference() throws {
        let s = try setup()
        try s.extract("mixed6", layer: "mixed6")
        let train = try CLI.run(["train", s.path("mixed6"), "--out", s.path("head6.h5"), "--epochs", "1", "--batch", "4", "--hidden", "8"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let r = try CLI.run(["finetune", s.path("mixed6"), "--weights", s.weights, "--init-head", s.path("head6.h5"),
                             "--out", s.path("model.h5"), "--epochs", "1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("head6.h5: does not fit the cache"), r.stderr)
        XCTAssertTrue(r.stderr.contains("settings: head mixed6"), r.stderr)
    }

    func testOptionsThatCannotWorkAreUsageErrors() throws {
        let s = try setup()
        for (arguments, message) in [
            (["--momentum", "0.5"], "--momentum goes with --optimizer sgd"),
            (["--optimizer", "sgd", "--momentum", "2"], "--momentum must be from 0 to 1"),
            (["--from", "mixed8"], "this headstart fine-tunes mixed7 only"),
            (["--lr", "0"], "--lr"),
        ] {
            let r = try CLI.run(["finetune", s.path("none"), "--weights", s.weights, "--out", s.path("m.h5")] + arguments)
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertTrue(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
    }
}
