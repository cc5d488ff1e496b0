import Extract
import Foundation
import HeadTrain
import KerasH5

/// The whole book model — InceptionV3 up to the head's cut, then the head — as ONE Keras legacy-layout weights
/// file, so the book's code loads it in one call:
///
///     pre_trained_model = InceptionV3(input_shape=(150, 150, 3), include_top=False, weights=None)
///     x = layers.Flatten()(pre_trained_model.get_layer('mixed7').output)
///     x = layers.Dense(1024, activation='relu')(x)     # (layers.Dropout(p)(x) if the head has dropout)
///     x = layers.Dense(1, activation='sigmoid')(x)
///     model = Model(pre_trained_model.input, x)
///     model.load_weights('MODEL.h5')
///
/// `load_weights` pairs the file's layers that have weights with the model's, in `model.layers` order. For
/// `Model(input, x)` Keras keeps only the layers on the path from input to x (none of InceptionV3's layers after
/// the cut) and sorts them by decreasing depth, so — checked with Keras 3.15 — `model.layers` is the full
/// InceptionV3's list up to and including the cut layer (mixed7: 229 layers, 140 with weights), then `flatten`,
/// `dense`, (`dropout`,) `dense_1`:
///
///     layer_names = KerasOrder.layers(cut) ++ [flatten, dense, (dropout,) dense_1]
///     Conv2D               "<name>/kernel" (kh, kw, cin, cout)
///     BatchNormalization   "<name>/beta", "<name>/moving_mean", "<name>/moving_variance" (cout)   (scale=False)
///     dense, dense_1       as HeadFile writes them
///
/// Base layers carry the Keras-2 names of the notop file (Keras ignores names when loading by order). The root
/// attributes are the head file's (`headstart_head`, the provenance `headstart_*`), so `HeadFile.load` and
/// `TrainedHead.load` read the head back out of an exported model too.
public enum KerasExport {
    /// The book model's weights for `trained` with the base `weights` (bound to the head's cut). A fine-tuned model's
    /// block goes in place of the base's mixed7 units: the lower layers are the base's, unchanged.
    public static func bookModel(trained: TrainedHead, weights base: InceptionV3Weights) throws -> KerasWeightsFile {
        let weights = try trained.block.map { try FineTunedModel.apply($0, to: base, model: trained.path) } ?? base
        let cut = trained.provenance.settings.layer
        var layers = KerasOrder.layers(cut: cut).map { BaseWeights.kerasLayer($0) { weights.units[$0] } }
        let head = try HeadFile.kerasFile(trained.head, metadata: trained.provenance.metadata, path: trained.path)
        let taken = Set(layers.map(\.name))
        for l in head.layers where taken.contains(l.name) {
            throw PredictionError.inconsistentHead(path: trained.path, reason: "head layer '\(l.name)' has the name of a base layer")
        }
        layers += head.layers
        return KerasWeightsFile(layers: layers, attributes: head.attributes)
    }

    /// Reads the head at `headPath` and the base at `weightsPath` (refused unless it is the file the head
    /// records), and writes the book model's weights to `out`. Returns what was written.
    @discardableResult
    public static func write(weightsPath: String, headPath: String, to out: String,
                             style: KerasStringStyle = .variableLength) throws -> KerasWeightsFile {
        let trained = try TrainedHead.load(path: headPath)
        let (_, weights) = try trained.baseWeights(path: weightsPath)
        let file = try bookModel(trained: trained, weights: weights)
        try file.write(to: out, style: style)
        return file
    }
}
