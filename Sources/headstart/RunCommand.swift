import ArgumentParser
import Foundation
import Pipeline

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a whole pipeline: fetch what is missing, extract, train, evaluate.",
        discussion: """
        PIPELINE is a pipelines/*.yaml file. Missing weights (the notop .h5) and a missing Horses-or-Humans \
        folder are downloaded and verified first. Extraction is incremental (only new or changed images run \
        through the network). The output folder receives head.h5, history.csv, curves.svg, evaluation.json and \
        report.html (the HTML report of `headstart report`). A pipeline's `train: tensorboard: DIR` also writes \
        TensorBoard event files, as `train --tensorboard`.

        Without a network, when something must be downloaded, run says so and runs the offline demo \
        (pipelines/demo.yaml: seeded weights, generated images, every output labelled as a demo) unless \
        --no-demo is given.

        Examples:
          headstart run pipelines/horses-or-humans.yaml
          headstart run pipelines/demo.yaml
        """)

    @Argument(help: "A pipeline .yaml file.") var pipeline: String
    @Flag(help: "Fail instead of running the offline demo when a download is impossible.") var noDemo = false

    func run() throws {
        let definition = try PipelineDefinition.load(path: pipeline)
        do {
            try execute(definition, source: pipeline)
        } catch let offline as PipelineRun.Offline where !noDemo {
            let demoPath = ((pipeline as NSString).deletingLastPathComponent as NSString).appendingPathComponent("demo.yaml")
            print("""

            No network: \(offline.cause.replacingOccurrences(of: "no network: ", with: "")). This pipeline needs \(offline.what), which cannot be downloaded from \
            here, so headstart runs its offline demo instead (\(demoPath)): InceptionV3 weights generated from a seed \
            in the Keras layout (not trained) and a small generated two-class image set, every output labelled \
            DEMO. It exercises the same stages on the same code; its numbers say nothing about the real recipe. \
            Run this command again where the network is reachable to get the real result.

            """)
            try execute(try PipelineDefinition.load(path: demoPath), source: demoPath)
        }
    }

    func execute(_ p: PipelineDefinition, source: String) throws {
        var events = PipelineRun.Events()
        let demo = p.demo ?? false
        events.stage = { print("\(demo ? "[DEMO] " : "")== \($0)") }
        let reporter = ProgressReporter("extract")
        events.extractProgress = { reporter.update($0, views: false) }
        events.epoch = { print(HeadRunOptions.line($0, of: $1)) }
        let bytes = ByteProgress()
        events.download = { bytes.update($0, $1) }
        events.weights = { name, origin in print(weightsLines(origin, name: name).joined(separator: "\n")) }
        let outcome = try PipelineRun.run(p, source: source, events: events)
        bytes.finish()
        let x = outcome.extraction
        let rate = x.seconds > 0 ? Double(x.extracted) / x.seconds : 0
        print(String(format: "extracted %d, reused %d, skipped %d (%.1f s, %.1f images/s extracted); %d files unchanged by stat (not opened), %d read and hashed",
                     x.extracted, x.reused, x.failed.count, x.seconds, rate, x.unchangedByStat, x.hashed))
        if let e = outcome.evaluation {
            print(EvaluateCommand.summary(e).joined(separator: "\n"))
        }
        if let f = outcome.fineTuning, let last = f.history.epochs.last {
            var line = String(format: "fine-tuned mixed7 and the head for %d epochs: loss %.4f, accuracy %.4f", f.history.epochs.count, last.loss, last.accuracy)
            if let vl = last.valLoss, let va = last.valAccuracy { line += String(format: ", val_loss %.4f, val_accuracy %.4f", vl, va) }
            print(line)
        }
        if let warning = outcome.weightsOrigin.warning { print("WARNING: \(warning)") }
        print("\(demo ? "[DEMO] " : "")outputs: " + outcome.outputs.joined(separator: ", "))
    }
}
