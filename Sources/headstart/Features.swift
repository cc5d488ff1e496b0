import ArgumentParser
import Extract
import Foundation
import Numerics
import Pipeline

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the features of some images to a NumPy .npy file.",
        discussion: """
        Each image is loaded as Keras load_img does it (decoded to RGB with any alpha dropped, resized to \
        --size), preprocessed, and run to --layer. The output is float32 (N, H, W, C) in the order given — \
        (N, 7, 7, 768) for mixed7 at 150. A file that cannot be read is an error naming it.

        Example:
          headstart features --weights inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 \\
              --out features.npy horse.png human.jpg
        """)

    @OptionGroup var network: NetworkOptions

    @Option(name: .shortAndLong, help: "Output .npy file.")
    var out: String

    @OptionGroup var batch: NetworkBatchOption

    @Argument(help: "Image files (JPEG, PNG, TIFF, GIF, WebP, BMP, PPM).")
    var images: [String]

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("Give at least one image.") }
        try checked {
            try OutputPath.check(out, as: "--out")
        }
    }

    func run() throws {
        let settings = network.settings()
        let base = try BaseNetwork(weightsPath: try network.weightsPath(), settings: settings, threads: network.threadCount)
        let values = try base.extractor.features(paths: images, batchSize: batch.batch)
        try NPY.write(floats: values, shape: [images.count] + base.extractor.featureShape, to: out)
        let shape = ([images.count] + base.extractor.featureShape).map(String.init).joined(separator: ", ")
        print("wrote \(out): float32 (\(shape)) from InceptionV3 \(settings.layer.rawValue) with \(base.weights.sourceName)")
    }
}
