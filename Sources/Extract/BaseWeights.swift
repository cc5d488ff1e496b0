import KerasH5
import Numerics

/// Why a weights file cannot serve as the InceptionV3 base: which file, which layer, what was expected and found.
public struct BaseWeightsError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var layer: String?
    public var reason: String
    public var description: String {
        layer.map { "\(file): layer '\($0)': \(reason)" } ?? "\(file): \(reason)"
    }
}

/// Binds a Keras weights file to InceptionV3 as `load_weights` does: the file's layers with weights, in order,
/// to the model's Conv2D and BatchNormalization layers in `model.layers` order (`KerasOrder`), every shape
/// checked. The notop file has 188 such layers; a cut uses a prefix (mixed7: the first 140), but every layer the
/// file holds is checked, so a wrong file is refused even when its difference lies beyond the cut.
public enum BaseWeights {
    public static let notopLayerCount = 188

    /// Reads `path` and returns the parameters of the convolutions up to `cut`, with the file's SHA-256
    /// (`loadClassified` also says where the file comes from).
    public static func load(path: String, cut: CutLayer = .mixed7) throws -> InceptionV3Weights {
        try loadClassified(path: path, cut: cut).weights
    }

    public static func match(
        _ file: KerasWeightsFile, path: String, sha256: String, sourceName: String, cut: CutLayer
    ) throws -> InceptionV3Weights {
        let expected = KerasOrder.weightedLayers(cut: .mixed10)
        let found = file.layersWithWeights
        let needed = KerasOrder.weightedLayers(cut: cut).count
        let shapes = inceptionV3Graph(height: 299, width: 299, cut: .mixed10).convs.map(\.kernelShape)
        func fail(_ layer: String?, _ reason: String) -> BaseWeightsError {
            BaseWeightsError(file: path, layer: layer, reason: reason)
        }
        func describe(_ l: KerasLayer) -> String {
            l.weights.map { "\($0.name) \(shapeText($0.shape))" }.joined(separator: ", ")
        }
        if found.count > notopLayerCount {
            let extra = found[notopLayerCount]
            throw fail(extra.name, "the file has \(found.count) layers with weights, InceptionV3 without its top has \(notopLayerCount); "
                + "layer \(notopLayerCount + 1) (\(describe(extra))) is a classification top: use the notop weights file "
                + "(inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5)")
        }
        if found.count < needed {
            throw fail(nil, "the file has \(found.count) layers with weights, \(cut.rawValue) needs the first \(needed) "
                + "of InceptionV3's \(notopLayerCount) (a truncated file, or not InceptionV3 weights)")
        }
        let cutConvs = inceptionV3Graph(height: 299, width: 299, cut: cut).convs.count
        var units = [ConvBNParameters?](repeating: nil, count: cutConvs)
        var pendingKernel = [Int: (values: [Float], shape: [Int])]()
        for (i, layer) in found.enumerated() {
            let position = "weighted layer \(i + 1) of \(notopLayerCount)"
            switch expected[i].kind {
            case let .conv(c):
                let shape = shapes[c]
                guard layer.weights.count == 1, layer.weights[0].shape == shape else {
                    throw fail(layer.name, "\(position) should be Conv2D '\(expected[i].name)' with one kernel \(shapeText(shape)), "
                        + "found \(describe(layer))")
                }
                pendingKernel[c] = (layer.weights[0].values, shape)
            case let .batchNorm(c):
                let n = shapes[c][3]
                let names = layer.weights.map { bareName($0.name) }
                guard layer.weights.count == 3, layer.weights.allSatisfy({ $0.shape == [n] }),
                      names == ["beta", "moving_mean", "moving_variance"] || !names.contains("gamma") else {
                    throw fail(layer.name, "\(position) should be BatchNormalization(scale=False) '\(expected[i].name)' with "
                        + "beta, moving_mean, moving_variance of shape (\(n),), found \(describe(layer))")
                }
                guard let kernel = pendingKernel.removeValue(forKey: c) else {
                    throw fail(layer.name, "\(position): BatchNormalization before its convolution")
                }
                if c < cutConvs {
                    units[c] = ConvBNParameters(
                        kernel: kernel.values, kernelShape: kernel.shape, beta: layer.weights[0].values,
                        movingMean: layer.weights[1].values, movingVariance: layer.weights[2].values)
                }
            default:
                preconditionFailure("weighted layers are convolutions and batch normalizations")
            }
        }
        return InceptionV3Weights(units: units.map { $0! }, sha256: sha256, sourceName: sourceName)
    }

    /// The Keras weights file for all 94 units (indexed by conv2d_bn call position), laid out as the real notop
    /// file: every layer of the model in `model.layers` order with Keras 2 names, weights on Conv2D and
    /// BatchNormalization layers.
    public static func kerasFile(units: [ConvBNParameters]) -> KerasWeightsFile {
        precondition(units.count == 94, "the notop file holds all 94 convolutions")
        let layers = KerasOrder.layers(cut: .mixed10).map { kerasLayer($0) { units[$0] } }
        return KerasWeightsFile(layers: layers, attributes: ["backend": "tensorflow", "keras_version": "2.1.5"])
    }

    /// One layer of the model as a weights file holds it, named `name` (its Keras-2 name by default): a Conv2D with
    /// "<name>/kernel" (kh, kw, cin, cout), a BatchNormalization with "<name>/beta", "…/moving_mean",
    /// "…/moving_variance" (cout), from `unit(c)`, the unit of conv2d_bn call position c; other layers without weights.
    public static func kerasLayer(_ l: KerasModelLayer, named name: String? = nil,
                                  unit: (Int) -> ConvBNParameters) -> KerasLayer {
        let name = name ?? l.name
        switch l.kind {
        case let .conv(c):
            let u = unit(c)
            return KerasLayer(name: name, weights: [KerasWeight(name: "\(name)/kernel", shape: u.kernelShape, values: u.kernel)])
        case let .batchNorm(c):
            let u = unit(c), n = [u.beta.count]
            return KerasLayer(name: name, weights: [
                KerasWeight(name: "\(name)/beta", shape: n, values: u.beta),
                KerasWeight(name: "\(name)/moving_mean", shape: n, values: u.movingMean),
                KerasWeight(name: "\(name)/moving_variance", shape: n, values: u.movingVariance)])
        default:
            return KerasLayer(name: name, weights: [])
        }
    }

    private static func bareName(_ name: String) -> String {
        var s = name.split(separator: "/").last.map(String.init) ?? name
        if let colon = s.lastIndex(of: ":") { s = String(s[..<colon]) }
        return s
    }
}

func shapeText(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}
