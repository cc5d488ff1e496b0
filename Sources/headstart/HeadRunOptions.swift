import ArgumentParser
import Foundation
import HeadTrain
import KerasH5
import Pipeline

/// What `train` and `finetune` share: how long and in what order the head trains, its shape and seed, and what
/// is written besides the model (history, curves, TensorBoard events).
struct HeadRunOptions: ParsableArguments {
    @Option(help: "Epochs.") var epochs = Recipe.book.epochs
    @Option(help: "Batch size.") var batch = Recipe.book.batchSize
    @Option(help: "Units of the hidden Dense layer.") var hidden = Recipe.book.hidden
    @Option(help: "Dropout rate after the hidden layer (0 = none).") var dropout = Recipe.book.dropout
    @Option(help: "Seed of the initial weights, the shuffles and the dropout masks.") var seed = Recipe.book.seed
    @Flag(help: "Keep the training samples in cache order (Keras fit(shuffle=False)).") var noShuffle = false
    @Option(help: "Stop when val_loss has not improved for this many epochs (Keras EarlyStopping).") var earlyStop: Int?
    @Flag(help: "Save the model whenever val_loss improves, so --out ends as the best epoch's.") var checkpointBest = false
    @Option(help: "Write the per-epoch history as CSV.") var history: String?
    @Option(help: "Write accuracy and loss curves as SVG.") var plot: String?
    @Option(help: "Write TensorBoard event files into this folder (train/ and validation/, epoch_loss and epoch_accuracy, one point per epoch, as Keras's TensorBoard callback).")
    var tensorboard: String?

    /// The checks `train` and `finetune` make of their own learning rate, thread count and output path.
    static func checkRun(lr: Float, threads: Int, out: String) throws {
        try checked {
            try Setting.learningRate.checkFlag(Double(lr))
            try Setting.threads.checkFlag(threads)
            try OutputPath.check(out, as: "--out")
        }
    }

    func validate() throws {
        try checked {
            try Setting.epochs.checkFlag(epochs)
            try Setting.trainBatch.checkFlag(batch)
            try Setting.hidden.checkFlag(hidden)
            try Setting.dropout.checkFlag(Double(dropout))
            if let earlyStop { try Setting.earlyStop.checkFlag(earlyStop) }
            // Every file this run writes, before it trains: a wrong folder must not cost the epochs.
            if let history { try OutputPath.check(history, as: "--history") }
            if let plot { try OutputPath.check(plot, as: "--plot") }
        }
    }

    /// `--history` and `--plot`, titled with the cache's folder name and the weights' warning.
    func writeReports(_ result: HeadTrainingResult, cache: String) throws {
        let origin = result.provenance.weightsOrigin
        if let history { try AtomicFile.write(Data(TrainingReport.csv(result.history, weights: origin).utf8), to: history) }
        if let plot {
            let warning = origin.warning.map { " (\($0))" } ?? ""
            let title = "\(URL(fileURLWithPath: cache).lastPathComponent): training and validation\(warning)"
            try AtomicFile.write(Data(TrainingReport.svg(result.history, title: title).utf8), to: plot)
        }
    }

    /// "trained 40 epochs on 1027 images (validated on 256) in … s (… s/epoch); saved head.h5 (stopped early)".
    func summary(_ result: HeadTrainingResult, verb: String, out: String) -> String {
        let total = result.history.epochs.reduce(0) { $0 + $1.seconds }
        var summary = String(format: "%@ %d epochs on %d images (validated on %d) in %.1f s (%.2f s/epoch); saved %@",
                             verb, result.history.epochs.count, result.trainCount, result.validationCount, total,
                             total / Double(max(1, result.history.epochs.count)), out)
        if result.history.stoppedEarly { summary += " (stopped early)" }
        return summary
    }

    /// With `--augment views`: how many training images had views to draw from.
    static func viewsLine(_ result: HeadTrainingResult) -> String {
        "augment views: \(result.samplesWithViews) of \(result.trainCount) training images have cached views (\(result.augmentedViews) views besides the originals)"
    }

    /// Keras-style epoch line.
    static func line(_ e: EpochLog, of total: Int) -> String {
        var s = String(format: "Epoch %d/%d - %.2fs - loss: %.4f - accuracy: %.4f", e.epoch, total, e.seconds, e.loss, e.accuracy)
        if let vl = e.valLoss, let va = e.valAccuracy { s += String(format: " - val_loss: %.4f - val_accuracy: %.4f", vl, va) }
        return s
    }
}
