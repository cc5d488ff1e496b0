import ArgumentParser
import Foundation
import Pipeline

struct ExportKerasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-keras",
        abstract: "Write the whole model (base up to the cut + head) as one Keras weights file.",
        discussion: """
        The output is a Keras legacy-layout .h5 holding InceptionV3's layers up to the head's cut layer followed \
        by the head, in Keras's model.layers order, so the book's model loads it in one call:

          pre_trained_model = InceptionV3(input_shape=(150, 150, 3), include_top=False, weights=None)
          x = layers.Flatten()(pre_trained_model.get_layer('mixed7').output)
          x = layers.Dense(1024, activation='relu')(x)
          x = layers.Dense(1, activation='sigmoid')(x)
          model = Model(pre_trained_model.input, x)
          model.load_weights('model.h5')

        (with the head's input size, cut layer and hidden units; a Dropout layer after the first Dense if the \
        head was trained with one). --weights must be the file the head records (same SHA-256). The head's \
        provenance travels in the file, so it also serves as --head for `headstart predict`. For a model from \
        `headstart finetune`, mixed7 is its retrained block and the layers below are the weights file's.

        Example:
          headstart export-keras --weights inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 \\
              --head head.h5 --out model.h5
        """)

    @Option(help: "The base weights file the head was trained with (the notop .h5).")
    var weights: String

    @Option(help: "The head, as `headstart train` saved it, or a fine-tuned model from `headstart finetune`.")
    var head: String

    @Option(name: .shortAndLong, help: "Output .h5 file.")
    var out: String

    func run() throws {
        let trained = try TrainedHead.load(path: head)
        let file = try KerasExport.bookModel(trained: trained, weights: try trained.baseWeights(path: weights).weights)
        try file.write(to: out, style: .variableLength)
        let s = trained.provenance.settings, c = trained.head.config
        let parameters = file.layers.reduce(0) { $0 + $1.weights.reduce(0) { $0 + $1.values.count } }
        print("wrote \(out): InceptionV3 to \(s.layer.rawValue)" + (trained.block == nil ? "" : " (mixed7 fine-tuned)")
            + " at \(s.size)×\(s.size) + Flatten → Dense(\(c.hidden), relu)"
            + (c.dropout > 0 ? " → Dropout(\(c.dropout))" : "")
            + " → Dense(\(c.outputs), \(c.isBinary ? "sigmoid" : "softmax")): \(file.layers.count) layers, "
            + "\(file.layersWithWeights.count) with weights, \(parameters) parameters")
    }
}
