import ArgumentParser
import Extract
import FineTune
import Foundation
import HeadTrain
import Pipeline

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune mixed7 and the head together over a cache of mixed6 features.",
        discussion: """
        Keras fine-tunes the book's model by unfreezing the top block (mixed7) and training it with the head, which \
        runs the whole frozen base forward again at every step. The base below mixed7 is frozen, so its output, \
        mixed6, is cached once (`headstart extract --layer mixed6`) and each epoch runs only mixed7 forward and \
        backward and the head. What trains is what Keras trains: the kernels of mixed7's ten convolutions, their \
        BatchNormalization betas (conv2d_bn has no gamma) and the head; BatchNormalization stays in inference mode \
        (moving mean and variance frozen), as with the base called with training=False.

        The model is saved as a Keras .h5 holding mixed7's ten Conv2D and BatchNormalization layers and the head \
        (model.load_weights(path, by_name=True) puts them into the book's model); `headstart predict` and \
        `headstart inspect` read it, `headstart export-keras` writes the whole model.

        The two-phase recipe (train the head on the frozen base first, then fine-tune at a small rate):
          headstart extract data/horse-or-human --weights notop.h5 --cache out/hh-mixed7
          headstart train out/hh-mixed7 --out head.h5
          headstart extract data/horse-or-human --weights notop.h5 --layer mixed6 --cache out/hh-mixed6
          headstart finetune out/hh-mixed6 --weights notop.h5 --init-head head.h5 --out model.h5 --epochs 10
          headstart predict model.h5 --weights notop.h5 some/image.jpg
        """)

    @Argument(help: "A cache written by `headstart extract --layer mixed6`.")
    var cache: String

    @Option(help: "The base weights (.h5) the cache was extracted with: mixed7 starts from them.")
    var weights: String

    @Option(help: ArgumentHelp("The block to retrain (mixed7 only: its input is the cache's mixed6).", valueName: "mixed7"))
    var from: CutLayer = .mixed7

    @Option(name: .shortAndLong, help: "Where to save the fine-tuned model (.h5).")
    var out: String

    enum OptimizerChoice: String, ExpressibleByArgument { case rmsprop, sgd }
    @Option(help: ArgumentHelp("RMSprop (rho 0.9, epsilon 1e-7, as Keras 3) or SGD with --momentum, for block and head alike.", valueName: "rmsprop|sgd"))
    var optimizer: OptimizerChoice = .rmsprop

    @Option(help: "Learning rate (fine-tuning wants a small one: the pre-trained block must not be wrecked in its first steps).")
    var lr = FineTuneOptions.defaultLearningRate

    @Option(help: "With --optimizer sgd: the momentum (Keras SGD, not Nesterov; default 0.9).")
    var momentum: Float?

    @Option(help: "Start from this head (trained by `train` on mixed7 of the same base and images), or go on from a model `finetune` saved (its block too).")
    var initHead: String?

    enum AugmentMode: String, ExpressibleByArgument { case none, views }
    @Option(help: ArgumentHelp("none, or views: every epoch each training image reads one of its cached views (`extract --views K`), the original included.", valueName: "none|views"))
    var augment: AugmentMode = .none

    @Option(help: "Threads for the block's matrix products and the head (0 = all cores).")
    var threads: Int = 0

    @OptionGroup var training: HeadRunOptions
    @OptionGroup var damage: DamageOptions

    func validate() throws {
        try HeadRunOptions.checkRun(lr: lr, threads: threads, out: out)
        if let momentum {
            guard optimizer == .sgd else { throw ValidationError("--momentum goes with --optimizer sgd.") }
            guard momentum.isFinite, (0...1).contains(momentum) else { throw ValidationError("--momentum must be from 0 to 1.") }
        }
    }

    func run() throws {
        var job = FineTuningJob(cache: cache, weights: weights, out: out)
        job.from = from
        let optimizerChoice: FineTuneOptimizer = optimizer == .sgd
            ? .sgd(learningRate: lr, momentum: momentum ?? 0.9) : .rmsprop(RMSpropConfig(learningRate: lr))
        job.options = FineTuneOptions(epochs: training.epochs, batchSize: training.batch, optimizer: optimizerChoice,
                                      shuffle: !training.noShuffle, seed: training.seed, earlyStopPatience: training.earlyStop,
                                      threads: threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount)
        job.hidden = training.hidden
        job.dropout = training.dropout
        job.initSeed = training.seed
        job.initialHead = initHead
        job.checkpointBest = training.checkpointBest
        job.augmentViews = augment == .views
        job.damagePolicy = damage.policy
        job.tensorboard = training.tensorboard
        let result = try FineTuning.run(job) { print(HeadRunOptions.line($0, of: training.epochs)) }
        DamageOptions.report(result.damaged)
        try training.writeReports(result, cache: cache)
        var summary = training.summary(result, verb: "fine-tuned mixed7 and the head for", out: out)
        if training.checkpointBest, let best = result.history.bestEpoch { summary += " — the model of epoch \(best)" }
        if augment == .views { summary += "\n" + HeadRunOptions.viewsLine(result) }
        print(summary)
        print(weightsLines(result.provenance.weightsOrigin, name: result.provenance.weightsName).joined(separator: "\n"))
    }
}
