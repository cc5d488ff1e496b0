import ArgumentParser
import Foundation
import HeadTrain
import Pipeline

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Stage two: train the dense head over a cache of features.",
        discussion: """
        The head is the book's: Flatten → Dense(--hidden, relu) → [Dropout(--dropout)] → Dense(1, sigmoid) with \
        binary cross-entropy for two classes (Dense(C, softmax) with categorical cross-entropy for more), \
        RMSprop(--lr, rho 0.9, epsilon 1e-7) as Keras 3 computes it. The cache's train split trains, its \
        validation split validates after every epoch. Losses and accuracies are reported as Keras reports them.

        The head is saved as a Keras .h5 (layers dense, dense_1) that Keras load_weights accepts, with the \
        provenance of its features (weights SHA-256, cut, size, resize, preprocessing, class names), so \
        `headstart predict` prepares new images exactly as the training images were.

        Example (the book's recipe):
          headstart train out/hh-cache --out head.h5 --epochs 40 --batch 20 --history history.csv --plot curves.svg
        """)

    @Argument(help: "A cache written by `headstart extract`.")
    var cache: String

    @Option(name: .shortAndLong, help: "Where to save the head (.h5).")
    var out: String

    @Option(help: "Epochs.") var epochs: Int = 40
    @Option(help: "Batch size.") var batch: Int = 20
    @Option(help: "RMSprop learning rate.") var lr: Float = 1e-4
    @Option(help: "Units of the hidden Dense layer.") var hidden: Int = 1024
    @Option(help: "Dropout rate after the hidden layer (0 = none).") var dropout: Float = 0
    @Option(help: "Seed of the initial weights, the shuffles and the dropout masks.") var seed: UInt64 = 0
    @Option(help: "Start from this head file instead of fresh weights.") var `init`: String?
    @Flag(help: "Keep the training samples in cache order (Keras fit(shuffle=False)).") var noShuffle = false
    @Option(help: "Stop when val_loss has not improved for this many epochs (Keras EarlyStopping).") var earlyStop: Int?
    @Flag(help: "Save the head whenever val_loss improves, so --out ends as the best epoch's head.") var checkpointBest = false
    @Option(help: "Write the per-epoch history as CSV.") var history: String?
    @Option(help: "Write accuracy and loss curves as SVG.") var plot: String?

    func validate() throws {
        guard epochs >= 1, batch >= 1, hidden >= 1 else { throw ValidationError("--epochs, --batch and --hidden must be at least 1.") }
        guard lr > 0 else { throw ValidationError("--lr must be positive.") }
        guard (0..<1).contains(dropout) else { throw ValidationError("--dropout must be in [0, 1).") }
        if let e = earlyStop, e < 1 { throw ValidationError("--early-stop must be at least 1.") }
    }

    func run() throws {
        var job = HeadTrainingJob(cache: cache, out: out)
        job.options = TrainingOptions(epochs: epochs, batchSize: batch, learningRate: lr, shuffle: !noShuffle,
                                      seed: seed, earlyStopPatience: earlyStop)
        job.hidden = hidden
        job.dropout = dropout
        job.initSeed = seed
        job.initial = `init`
        job.checkpointBest = checkpointBest
        let result = try HeadTraining.run(job) { print(TrainCommand.line($0, of: epochs)) }
        if let history { try TrainingReport.csv(result.history).write(toFile: history, atomically: true, encoding: .utf8) }
        if let plot {
            try TrainingReport.svg(result.history, title: "\(URL(fileURLWithPath: cache).lastPathComponent): training and validation")
                .write(toFile: plot, atomically: true, encoding: .utf8)
        }
        let total = result.history.epochs.reduce(0) { $0 + $1.seconds }
        var summary = String(format: "trained %d epochs on %d images (validated on %d) in %.1f s (%.2f s/epoch); saved %@",
                             result.history.epochs.count, result.trainCount, result.validationCount, total,
                             total / Double(max(1, result.history.epochs.count)), out)
        if result.history.stoppedEarly { summary += " (stopped early)" }
        if checkpointBest, let best = result.history.bestEpoch { summary += " — the head of epoch \(best)" }
        print(summary)
    }

    /// Keras-style epoch line.
    static func line(_ e: EpochLog, of total: Int) -> String {
        var s = String(format: "Epoch %d/%d - %.2fs - loss: %.4f - accuracy: %.4f", e.epoch, total, e.seconds, e.loss, e.accuracy)
        if let vl = e.valLoss, let va = e.valAccuracy { s += String(format: " - val_loss: %.4f - val_accuracy: %.4f", vl, va) }
        return s
    }
}
