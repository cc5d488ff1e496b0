import ArgumentParser
import Extract
import Foundation
import KerasH5

struct SeededWeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seeded-weights",
        abstract: "Write InceptionV3 notop weights generated from a seed (for tests and the offline demo).",
        discussion: """
        The file has the exact Keras layout of inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 (188 \
        layers with weights, in model.layers order), with He-uniform kernels and BatchNorm statistics calibrated \
        on a fixed image batch, so that different images give clearly different features. It is NOT trained: \
        features from it carry the image's signal but no ImageNet knowledge. See docs/seeded-weights.md.
        """)

    @Option(help: "Seed of the generator.")
    var seed: UInt64 = 7

    @Option(name: .shortAndLong, help: "Output .h5 file.")
    var out: String

    func run() throws {
        try SeededWeights.kerasFile(seed: seed).write(to: out, style: .fixedLength)
        print("wrote \(out): seeded InceptionV3 notop weights (seed \(seed), generator version \(SeededWeights.generatorVersion)); not trained — for tests and demos")
    }
}
