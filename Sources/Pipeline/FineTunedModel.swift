import Extract
import Foundation
import HeadTrain
import KerasH5

/// A model fine-tuned from mixed7 (`headstart finetune`): mixed7's ten retrained conv2d_bn units and the head, in one
/// Keras legacy-layout .h5:
///
///     layer_names = mixed7's 10 Conv2D + 10 BatchNormalization layers in model.layers order (KerasOrder),
///                   then flatten, dense, (dropout,) dense_1 as HeadFile writes them
///     conv2d_N               "conv2d_N/kernel" (kh, kw, cin, cout)                                 N = 60…69
///     batch_normalization_N  "…/beta", "…/moving_mean", "…/moving_variance" (cout)   (moving statistics as the base's)
///
/// N is the unit's conv2d_bn call position, which is how a fresh Keras 3 session names the book model's layers
/// (Keras 3 counts from `conv2d`, the Keras-2 notop file from `conv2d_1`) — as HeadFile's `dense`/`dense_1` are
/// Keras 3's names — so the book's `model.load_weights(path, by_name=True)` puts the block and the head in place
/// and leaves the rest of the base as loaded. (Under the notop file's Keras-2 names, conv2d_61 … conv2d_70, each unit
/// would land on the convolution after it, most of which have the same shape.)
///
/// Root attributes: the head file's (`headstart_head` and the provenance, so `HeadFile.load` and `TrainedHead.load`
/// read the head), with `headstart_finetuned = mixed7` and `headstart_finetune_cache_layer = mixed6`. The provenance
/// names the base weights file the block started from and the settings of the mixed6 cache it trained on, with the
/// layer mixed7: the head's features are mixed7 computed through the fine-tuned block.
///
/// Readers take the block from the 20 layers with weights just before the head's two dense layers, by position (as
/// Keras's load_weights pairs layers), so `export-keras`'s whole-model file — mixed7's units are its weighted layers
/// 121…140 there — reads back as the same fine-tuned model.
public enum FineTunedModel {
    /// The block a fine-tuned model retrains, the cut of the cache that feeds it, and its conv2d_bn call positions
    /// (`InceptionV3Weights.units[60..<70]`).
    public static let block: CutLayer = .mixed7
    public static let cacheLayer: CutLayer = .mixed6
    public static let units = 60..<70

    /// mixed7's Conv2D and BatchNormalization layers in `model.layers` order.
    static var blockLayers: [KerasModelLayer] {
        KerasOrder.weightedLayers(cut: block).filter { units.contains(unit(of: $0)) }
    }

    static func unit(of layer: KerasModelLayer) -> Int {
        switch layer.kind {
        case let .conv(c), let .batchNorm(c): return c
        default: return -1
        }
    }

    /// The layer's name in a fresh Keras 3 session's book model.
    static func kerasName(_ layer: KerasModelLayer) -> String {
        let c = unit(of: layer)
        var prefix = "batch_normalization"
        if case .conv = layer.kind { prefix = "conv2d" }
        return c == 0 ? prefix : "\(prefix)_\(c)"
    }

    /// Writes the model. `block`: mixed7's ten units in conv2d_bn call order (`weights.units[60..<70]` after
    /// training); `provenance`: that of the `--layer mixed6` cache the block trained on (`HeadProvenance(cache:)`),
    /// or a fine-tuned model's own. The head must take mixed7's features.
    public static func save(head: Head, block: [ConvBNParameters], provenance: HeadProvenance, to path: String,
                            style: KerasStringStyle = .variableLength) throws {
        let finite = head.withParameters { p in p.allSatisfy { $0.isFinite } }
            && block.allSatisfy { ($0.kernel + $0.beta).allSatisfy(\.isFinite) }
        guard finite else { throw FineTunedModelError.notFinite(path: path) }
        try kerasFile(head: head, block: block, provenance: provenance, path: path).write(to: path, style: style)
    }

    /// The file `save` writes, as layers and root attributes.
    public static func kerasFile(head: Head, block: [ConvBNParameters], provenance: HeadProvenance,
                                 path: String) throws -> KerasWeightsFile {
        try checkShapes(block, path: path)
        let recorded = try modelProvenance(provenance, path: path)
        var layers = blockLayers.map { BaseWeights.kerasLayer($0, named: kerasName($0)) { block[$0 - units.lowerBound] } }
        let headFile = try HeadFile.kerasFile(head, metadata: recorded.metadata, path: path)
        layers += headFile.layers
        return KerasWeightsFile(layers: layers, attributes: headFile.attributes)
    }

    /// Reads a fine-tuned model (or a whole-model export of one): its head, provenance and block. Refuses a file that
    /// is not a fine-tuned model.
    public static func load(path: String) throws -> TrainedHead {
        let trained = try TrainedHead.load(path: path)
        guard trained.block != nil else { throw FineTunedModelError.notFineTuned(path: path) }
        return trained
    }

    /// The block of a file whose provenance says it is fine-tuned: the 20 weighted layers before the head's two, paired
    /// by position with mixed7's layers in `model.layers` order, every shape checked.
    static func readBlock(_ file: KerasWeightsFile, path: String) throws -> [ConvBNParameters] {
        let expected = blockLayers, found = file.layersWithWeights
        guard found.count >= expected.count + 2 else {
            throw FineTunedModelError.missingBlock(path: path, found: found.count)
        }
        let stored = found[(found.count - 2 - expected.count)..<(found.count - 2)]
        let shapes = SeededWeights.kernelShapes
        var kernels = [Int: [Float]](), block = [ConvBNParameters?](repeating: nil, count: units.count)
        for (l, layer) in zip(expected, stored) {
            let c = unit(of: l), shape = shapes[c]
            let what = "mixed7's conv2d_bn \(c) (\(kerasName(l)))"
            if case .conv = l.kind {
                guard layer.weights.count == 1, layer.weights[0].shape == shape else {
                    throw FineTunedModelError.layerShape(path: path, layer: layer.name, expected: "\(what): one kernel \(shape)",
                                                         found: layer.weights.map(\.shape))
                }
                kernels[c] = layer.weights[0].values
                continue
            }
            guard layer.weights.count == 3, layer.weights.allSatisfy({ $0.shape == [shape[3]] }), let kernel = kernels[c] else {
                throw FineTunedModelError.layerShape(path: path, layer: layer.name,
                                                     expected: "\(what): beta, moving_mean, moving_variance of (\(shape[3]),)",
                                                     found: layer.weights.map(\.shape))
            }
            block[c - units.lowerBound] = ConvBNParameters(
                kernel: kernel, kernelShape: shape, beta: layer.weights[0].values,
                movingMean: layer.weights[1].values, movingVariance: layer.weights[2].values)
        }
        return block.map { $0! }
    }

    /// `weights` with mixed7's units replaced by `block` (each unit's shapes checked against the base's).
    public static func apply(_ block: [ConvBNParameters], to weights: InceptionV3Weights, model: String) throws -> InceptionV3Weights {
        guard weights.units.count >= units.upperBound else {
            throw FineTunedModelError.baseTooShort(model: model, weights: weights.sourceName, units: weights.units.count)
        }
        try checkShapes(block, path: model)
        var out = weights
        for (i, u) in block.enumerated() {
            let c = units.lowerBound + i, base = weights.units[c]
            guard u.kernelShape == base.kernelShape, u.beta.count == base.beta.count else {
                throw FineTunedModelError.layerShape(path: model, layer: "conv2d_\(c)",
                                                     expected: "the base's kernel \(base.kernelShape) and \(base.beta.count) channels",
                                                     found: [u.kernelShape, [u.beta.count]])
            }
            out.units[c] = u
        }
        return out
    }

    /// Ten units, each with the kernel shape of its mixed7 convolution and values to match.
    static func checkShapes(_ block: [ConvBNParameters], path: String) throws {
        guard block.count == units.count else { throw FineTunedModelError.blockCount(path: path, count: block.count) }
        let shapes = SeededWeights.kernelShapes
        for (i, u) in block.enumerated() {
            let c = units.lowerBound + i, shape = shapes[c], n = shape[3]
            guard u.kernelShape == shape, u.kernel.count == shape.reduce(1, *),
                  u.beta.count == n, u.movingMean.count == n, u.movingVariance.count == n else {
                throw FineTunedModelError.layerShape(path: path, layer: "conv2d_\(c)",
                                                     expected: "kernel \(shape) and \(n) channels",
                                                     found: [u.kernelShape, [u.kernel.count], [u.beta.count, u.movingMean.count, u.movingVariance.count]])
            }
        }
    }

    /// The provenance a fine-tuned model records: the cache's (mixed6) or a fine-tuned model's (mixed7), as mixed7
    /// through the retrained block.
    static func modelProvenance(_ p: HeadProvenance, path: String) throws -> HeadProvenance {
        let fineTuning = HeadProvenance.FineTuning(block: block, cacheLayer: cacheLayer)
        guard p.settings.layer == cacheLayer || (p.settings.layer == block && p.fineTuning == fineTuning) else {
            throw FineTunedModelError.wrongCut(path: path, layer: p.settings.layer)
        }
        var out = p
        out.settings.layer = block
        out.fineTuning = fineTuning
        return out
    }
}

/// Why a fine-tuned model cannot be written, read or applied to a base: which file, which layer, what was expected.
public enum FineTunedModelError: Error, CustomStringConvertible, Equatable {
    /// The file holds a head but no fine-tuned block (`headstart_finetuned` absent).
    case notFineTuned(path: String)
    /// Fewer layers with weights than the block's 20 and the head's 2.
    case missingBlock(path: String, found: Int)
    /// A block given to `save` or `apply` without mixed7's ten units.
    case blockCount(path: String, count: Int)
    /// A block layer whose weights do not have the shapes of its mixed7 layer.
    case layerShape(path: String, layer: String, expected: String, found: [[Int]])
    /// The base weights stop before mixed7.
    case baseTooShort(model: String, weights: String, units: Int)
    /// The provenance is not that of a mixed6 cache (the block's input) nor of a model fine-tuned from mixed7.
    case wrongCut(path: String, layer: CutLayer)
    /// A NaN or an infinity in the head or the block.
    case notFinite(path: String)

    public var description: String {
        switch self {
        case let .notFineTuned(path):
            return "\(path): not a fine-tuned model (no headstart_finetuned attribute): a head from `headstart train`?"
        case let .missingBlock(path, found):
            return "\(path): a fine-tuned model holds mixed7's 20 Conv2D and BatchNormalization layers before the head's "
                + "2 dense layers; the file has \(found) layers with weights"
        case let .blockCount(path, count):
            return "\(path): mixed7 has \(FineTunedModel.units.count) convolutions, the block given has \(count)"
        case let .layerShape(path, layer, expected, found):
            return "\(path): layer '\(layer)': expected \(expected), found shapes \(found)"
        case let .baseTooShort(model, weights, units):
            return "\(model): the base \(weights) holds \(units) convolutions; mixed7's are 60…69"
        case let .wrongCut(path, layer):
            return "\(path): fine-tuning from mixed7 trains on a cache extracted with --layer mixed6; these features are \(layer.rawValue)"
        case let .notFinite(path):
            return "\(path): the fine-tuned weights hold a NaN or an infinity; not saved"
        }
    }
}
