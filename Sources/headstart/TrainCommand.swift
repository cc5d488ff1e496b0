import ArgumentParser
import Extract
import Foundation
import HeadTrain
import KerasH5
import Pipeline
import Store

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

        Augmentation (validation is never augmented): --augment views trains every epoch on one of each image's \
        cached views (made by `headstart extract --views K`), the original included, chosen by --seed, the epoch \
        and the image — an epoch costs what a plain one does. --augment live --fresh F --weights BASE.h5 \
        re-extracts a fraction F of each epoch's images from freshly augmented pixels in the background while \
        the head trains on the rest (F = 1 is the book's on-the-fly augmentation); --keep-views stores those \
        views in the cache for later runs.

        Examples (the book's recipe):
          headstart train out/hh-cache --out head.h5 --epochs 40 --batch 20 --history history.csv --plot curves.svg
          headstart train out/hh-cache --out head.h5 --augment views
          headstart train out/hh-cache --out head.h5 --augment live --fresh 0.25 --weights notop.h5 --book
        """)

    @Argument(help: "A cache written by `headstart extract`.")
    var cache: String

    @Option(name: .shortAndLong, help: "Where to save the head (.h5).")
    var out: String

    @Option(help: "RMSprop learning rate.") var lr = Float(Recipe.book.learningRate)
    @Option(help: "Start from this head file instead of fresh weights.") var `init`: String?
    @OptionGroup var training: HeadRunOptions

    enum AugmentMode: String, ExpressibleByArgument { case none, views, live }
    @Option(help: ArgumentHelp("Augmentation of the training images: none, views (cached views), live (re-extraction).", valueName: "none|views|live"))
    var augment: AugmentMode = .none
    @Option(help: "With --augment live: fraction of each epoch's training images re-extracted from fresh augmentations.")
    var fresh: Double?
    @Option(help: "With --augment live: the base weights (.h5) the cache was extracted with.")
    var weights: String?
    @Flag(help: "With --augment live: store the fresh views in the cache, so later runs reuse them.")
    var keepViews = false
    @Option(help: "With --augment live: the dataset folder (default: the one the cache records).")
    var dataset: String?
    @Option(help: "With --augment live: seed of the views (default: the cache's recorded one, else 0).")
    var augmentSeed: UInt64?
    @Option(help: "With --augment live: threads of the re-extraction network (0 = all cores).")
    var threads: Int = 0
    @OptionGroup(title: "With --augment live: augmentation settings (default: the cache's recorded ones)")
    var augmentation: AugmentOptions
    @OptionGroup var damage: DamageOptions

    func validate() throws {
        try HeadRunOptions.checkRun(lr: lr, threads: threads, out: out)
        if augment == .live {
            guard let fresh, (0...1).contains(fresh) else { throw ValidationError("--augment live needs --fresh F with 0 ≤ F ≤ 1.") }
            guard weights != nil else { throw ValidationError("--augment live needs --weights (the base weights the cache was extracted with).") }
        } else if fresh != nil || weights != nil || keepViews || dataset != nil {
            throw ValidationError("--fresh, --weights, --keep-views and --dataset go with --augment live.")
        }
    }

    func run() throws {
        var job = HeadTrainingJob(cache: cache, out: out)
        job.options = TrainingOptions(epochs: training.epochs, batchSize: training.batch, learningRate: lr,
                                      shuffle: !training.noShuffle, seed: training.seed, earlyStopPatience: training.earlyStop)
        job.hidden = training.hidden
        job.dropout = training.dropout
        job.initSeed = training.seed
        job.initial = `init`
        job.checkpointBest = training.checkpointBest
        job.damagePolicy = damage.policy
        job.tensorboard = training.tensorboard
        switch augment {
        case .none: break
        case .views: job.augment = .views
        case .live:
            var live = try LiveAugmentation.forCache(cache, weightsPath: weights!, fresh: fresh!,
                                                     settings: try augmentation.givenSettings(), seed: augmentSeed)
            live.keepViews = keepViews
            live.dataset = dataset
            live.threads = threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
            job.augment = .live(live)
        }
        let result = try HeadTraining.run(job, onEpoch: { print(HeadRunOptions.line($0, of: training.epochs)) }, onLiveEpoch: { l in
            print(String(format: "    live: %d fresh images (decode+augment %.1f s, network %.1f s); the trainer waited %.1f s, the producer %.1f s",
                         l.freshSamples, l.prepareSeconds, l.networkSeconds, l.waitSeconds, l.producerWaitSeconds))
        })
        DamageOptions.report(result.damaged)
        try training.writeReports(result, cache: cache)
        var summary = training.summary(result, verb: "trained", out: out)
        if augment == .views { summary += "\n" + HeadRunOptions.viewsLine(result) }
        if let l = result.live {
            summary += String(format: "\naugment live: %d fresh samples re-extracted (network %.1f s, decode+augment %.1f s, cache writes %.2f s); the trainer waited %.1f s for them; %d views written to the cache",
                              l.freshSamples, l.networkSeconds, l.prepareSeconds, l.writeSeconds, l.waitSeconds, l.viewsWritten)
        }
        if training.checkpointBest, let best = result.history.bestEpoch { summary += " — the head of epoch \(best)" }
        print(summary)
        print(weightsLines(result.provenance.weightsOrigin, name: result.provenance.weightsName).joined(separator: "\n"))
    }
}
