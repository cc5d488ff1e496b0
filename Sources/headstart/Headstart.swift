import ArgumentParser
import Foundation
import Numerics

@main
struct Headstart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "headstart",
        abstract: "Fast transfer learning on a frozen InceptionV3: extract features once, train heads in seconds.",
        discussion: """
        Stage one runs every image once through Keras InceptionV3 cut at a mixed layer (mixed7 by default: \
        150×150×3 → 7×7×768) and caches the activations. Stage two trains a small dense head over the cache, \
        so an epoch costs a few matrix products instead of a full network pass. Numbers match Keras for the \
        same weights file and images.

        The real ImageNet weights are Keras's inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5. \
        Without a network, `headstart seeded-weights` writes a file of the same layout generated from a seed.
        """,
        subcommands: [
            RunCommand.self,
            ExtractCommand.self,
            TrainCommand.self,
            FinetuneCommand.self,
            SweepCommand.self,
            EvaluateCommand.self,
            ReportCommand.self,
            PredictCommand.self,
            InspectCommand.self,
            ExportCommand.self,
            ExportKerasCommand.self,
            CacheCommand.self,
            Features.self,
            FetchCommand.self,
            AugmentPreviewCommand.self,
            SeededWeightsCommand.self,
        ])

    /// OpenBLAS (the head's GEMMs) chooses its kernels by CPU features before anything runs; see `OpenBLASCore`.
    static func main() {
        // Standard output goes out line by line even into a file or a pipe (where C would buffer it in blocks):
        // progress and warnings go to standard error unbuffered, so a log of both (`> log 2>&1`) reads in the
        // order things happened.
        setvbuf(stdout, nil, _IOLBF, 0)
        OpenBLASCore.adoptFeatureChoice()
        main(nil)
    }
}
