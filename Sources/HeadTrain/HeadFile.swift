import Foundation
import KerasH5

/// A head saved as a Keras legacy-layout .h5 weights file, shaped like the head of the book's model
/// (`Flatten()(mixed7) → Dense(1024, relu) → Dense(1, sigmoid)` built in a fresh Keras 3 session names its
/// layers `flatten`, `dense`, `dense_1`):
///
///     layer_names = [flatten, dense, (dropout,) dense_1]
///     dense    kernel (F, H)  bias (H)        weight names "dense/kernel", "dense/bias"
///     dense_1  kernel (H, O)  bias (O)        O = 1 (sigmoid) or C (softmax)
///
/// Keras's `load_weights` pairs layers with weights by order, so the file loads into a bare head model;
/// `load_weights(path, by_name=True)` loads it into the book's full model (the base's layers are untouched).
/// Root attributes: `backend` and `keras_version` (the layout's Keras version, which Keras's loader reads),
/// `headstart_head` (the head configuration as JSON) and one `headstart_<key>` per caller metadata entry —
/// the preprocessing and cut layer the features were made with, so prediction can refuse a mismatch.
public enum HeadFile {
    public static let firstLayerName = "dense"
    public static let secondLayerName = "dense_1"
    /// The Keras version whose legacy layout the writer follows (the reference environment's).
    public static let kerasLayoutVersion = "3.15.1"
    static let configKey = "headstart_head"
    static let metadataPrefix = "headstart_"

    public struct Contents {
        public var head: Head
        /// The caller's metadata as saved (without the prefix).
        public var metadata: [String: String]

        /// Entries of `expected` that the file lacks or records differently: (key, expected, found).
        public func mismatches(with expected: [String: String]) -> [(key: String, expected: String, found: String?)] {
            expected.keys.sorted().compactMap { k in
                metadata[k] == expected[k] ? nil : (k, expected[k]!, metadata[k])
            }
        }
    }

    struct StoredConfig: Codable {
        var featureCount: Int
        var hidden: Int
        var classes: Int
        var dropout: Float
        var outputActivation: String
    }

    /// Refuses a head holding a NaN or an infinity: a file that loads but predicts p = 0.5 everywhere is worse than
    /// none.
    public static func save(_ head: Head, to path: String, metadata: [String: String] = [:],
                            style: KerasStringStyle = .variableLength) throws {
        let finite = head.withParameters { p in p.allSatisfy { $0.isFinite } }
        guard finite else { throw HeadError.headFile(path: path, reason: "the head's weights hold a NaN or an infinity; not saved") }
        try kerasFile(head, metadata: metadata, path: path).write(to: path, style: style)
    }

    /// The file `save` writes, as layers and root attributes — for writers that put the head after other layers
    /// (the whole book model of `export-keras`). `path` only names the file in errors.
    public static func kerasFile(_ head: Head, metadata: [String: String] = [:], path: String) throws -> KerasWeightsFile {
        let c = head.config, l = head.layout
        var layers = [KerasLayer(name: "flatten", weights: [])]
        layers.append(KerasLayer(name: firstLayerName, weights: [
            KerasWeight(name: "\(firstLayerName)/kernel", shape: [l.F, l.H], values: head.kernel1),
            KerasWeight(name: "\(firstLayerName)/bias", shape: [l.H], values: head.bias1),
        ]))
        if c.dropout > 0 { layers.append(KerasLayer(name: "dropout", weights: [])) }
        layers.append(KerasLayer(name: secondLayerName, weights: [
            KerasWeight(name: "\(secondLayerName)/kernel", shape: [l.H, l.O], values: head.kernel2),
            KerasWeight(name: "\(secondLayerName)/bias", shape: [l.O], values: head.bias2),
        ]))
        let stored = StoredConfig(featureCount: c.featureCount, hidden: c.hidden, classes: c.classes, dropout: c.dropout,
                                  outputActivation: c.isBinary ? "sigmoid" : "softmax")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var attributes = ["backend": "tensorflow", "keras_version": kerasLayoutVersion,
                          configKey: String(decoding: try encoder.encode(stored), as: UTF8.self)]
        for (k, v) in metadata {
            guard metadataPrefix + k != configKey, !k.isEmpty else {
                throw HeadError.headFile(path: path, reason: "metadata key '\(k)' is reserved")
            }
            attributes[metadataPrefix + k] = v
        }
        return KerasWeightsFile(layers: layers, attributes: attributes)
    }

    /// Reads a head: the last two layers with weights must be dense layers (kernel (F, H) + bias (H), then
    /// kernel (H, O) + bias (O)), so a file Keras saved from the book's head — or the whole book model —
    /// loads too. The class count is O (softmax) or 2 when O = 1; dropout comes from `headstart_head` (0 for
    /// files Keras wrote).
    public static func load(path: String) throws -> Contents {
        try load(KerasWeightsFile.read(path: path), path: path)
    }

    /// As `load(path:)`, from a file already read (`path` names it in errors).
    public static func load(_ file: KerasWeightsFile, path: String) throws -> Contents {
        let dense = file.layersWithWeights
        guard dense.count >= 2 else {
            throw HeadError.headFile(path: path, reason: "expected two dense layers with weights, found \(dense.count)")
        }
        let first = dense[dense.count - 2], second = dense[dense.count - 1]
        func kernelAndBias(_ layer: KerasLayer) throws -> (KerasWeight, KerasWeight) {
            guard layer.weights.count == 2, layer.weights[0].shape.count == 2, layer.weights[1].shape.count == 1,
                  layer.weights[1].shape[0] == layer.weights[0].shape[1] else {
                throw HeadError.headFile(path: path, reason: "layer '\(layer.name)': expected a dense kernel (in, out) "
                    + "and bias (out), found shapes \(layer.weights.map(\.shape))")
            }
            return (layer.weights[0], layer.weights[1])
        }
        let (k1, b1) = try kernelAndBias(first), (k2, b2) = try kernelAndBias(second)
        let F = k1.shape[0], H = k1.shape[1], O = k2.shape[1]
        guard k2.shape[0] == H else {
            throw HeadError.headFile(path: path, reason: "layer '\(second.name)': kernel has \(k2.shape[0]) inputs but "
                + "layer '\(first.name)' has \(H) units")
        }
        guard O == 1 || O >= 3 else {
            throw HeadError.headFile(path: path, reason: "layer '\(second.name)': \(O) outputs; a head has 1 (sigmoid) or ≥ 3 (softmax)")
        }
        var dropout: Float = 0
        if let json = file.attributes[configKey] {
            guard let stored = try? JSONDecoder().decode(StoredConfig.self, from: Data(json.utf8)) else {
                throw HeadError.headFile(path: path, reason: "attribute \(configKey) is not a head configuration: \(json)")
            }
            guard stored.featureCount == F, stored.hidden == H, stored.classes == (O == 1 ? 2 : O) else {
                throw HeadError.headFile(path: path, reason: "attribute \(configKey) (\(json)) disagrees with the weight "
                    + "shapes (F \(F), hidden \(H), outputs \(O))")
            }
            dropout = stored.dropout
        }
        let config = HeadConfig(featureCount: F, hidden: H, classes: O == 1 ? 2 : O, dropout: dropout)
        let head = try Head(config: config, kernel1: k1.values, bias1: b1.values, kernel2: k2.values, bias2: b2.values)
        var metadata: [String: String] = [:]
        for (k, v) in file.attributes where k.hasPrefix(metadataPrefix) && k != configKey {
            metadata[String(k.dropFirst(metadataPrefix.count))] = v
        }
        return Contents(head: head, metadata: metadata)
    }
}
