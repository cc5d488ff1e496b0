// Keras legacy-layout HDF5 weight files, as written by Keras 2 (e.g. the real
// inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5) and by Keras 3's legacy writer
// (keras.src.legacy.saving.legacy_h5_format.save_weights_to_hdf5_group; model.save("x.h5") puts the same
// structure under the group "model_weights").
//
// Layout of the weights group (the file root, or /model_weights):
//   attrs  layer_names    every layer of model.layers, in order, weightless ones included
//          backend, keras_version   scalar strings
//   /<layer>              one group per listed layer
//      attrs weight_names  the layer's weights in Keras's legacy order (trainable first), e.g.
//                          "conv2d_1/kernel:0" (Keras 2) or "conv2d_1/kernel" (Keras 3);
//                          an empty float64 array for weightless layers
//      /<weight name>      a float dataset; the "/" in the name nests it: /conv2d_1/conv2d_1/kernel:0
// An attribute larger than 64512 bytes is stored in chunks name0, name1, ... (see AttributeSplit.swift).
// Keras's load_weights matches layers *by order*: the layers with weights, in layer_names order, to the
// model's layers with weights.

/// One weight tensor: its name as listed in the file, its shape in Keras order (a conv kernel is
/// (kh, kw, cin, cout)), and its values row-major.
public struct KerasWeight: Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]

    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// One entry of layer_names; `weights` is empty for layers without weights (input, activation, pooling, ...).
public struct KerasLayer: Equatable {
    public var name: String
    public var weights: [KerasWeight]

    public init(name: String, weights: [KerasWeight]) {
        self.name = name
        self.weights = weights
    }
}

/// How the writer stores strings and names weights.
public enum KerasStringStyle {
    /// Keras 2 / h5py 2: fixed-length (numpy 'S') string attributes; weight names end in ":0".
    case fixedLength
    /// Keras 3: variable-length string attributes; weight names without ":0"; an empty
    /// "top_level_model_weights" group as Keras 3 writes it.
    case variableLength
}

/// Why a weights file could not be read or written: which file, which layer (when one is involved), and
/// what was expected against what was found.
public struct KerasH5Error: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var layer: String?
    public var reason: String

    public init(file: String, layer: String? = nil, reason: String) {
        self.file = file
        self.layer = layer
        self.reason = reason
    }

    public var description: String {
        if let layer { return "\(file): layer '\(layer)': \(reason)" }
        return "\(file): \(reason)"
    }
}

/// The content of a Keras legacy .h5 weights file: every layer in layer_names order, and the weights
/// group's scalar string attributes (backend, keras_version).
public struct KerasWeightsFile: Equatable {
    public var layers: [KerasLayer]
    public var attributes: [String: String]

    public init(layers: [KerasLayer], attributes: [String: String]) {
        self.layers = layers
        self.attributes = attributes
    }

    /// The layers that own weights, in file order: what Keras load_weights pairs, one for one, with the
    /// model's layers that own weights.
    public var layersWithWeights: [KerasLayer] { layers.filter { !$0.weights.isEmpty } }

    /// Reads a classic (Keras 2) or Keras 3 legacy file, or a full-model save whose weights are under
    /// /model_weights. Datasets may be float32 or float64 (converted to Float by HDF5).
    public static func read(path: String) throws -> KerasWeightsFile {
        try HDF5Lock.withLock { try KerasWeightsReader(path: path).read() }
    }

    /// Writes the layout of `style`; classic appends ":0" to weight names and nests datasets as
    /// <layer>/<layer>/<weight>:0 like the real notop file. The file appears at `path` only when complete.
    public func write(to path: String, style: KerasStringStyle) throws {
        try write(to: path, style: style, attributeSizeLimit: kerasAttributeSizeLimit)
    }

    /// As `write(to:style:)`, with Keras's attribute size limit (64512 bytes) replaced, so that tests can
    /// make the writer split small attributes exactly as Keras splits large ones.
    public func write(to path: String, style: KerasStringStyle, attributeSizeLimit: Int) throws {
        try HDF5Lock.withLock {
            try KerasWeightsWriter(file: self, path: path, style: style, limit: attributeSizeLimit).write()
        }
    }
}
