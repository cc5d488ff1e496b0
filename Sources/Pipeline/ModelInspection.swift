import Extract
import Foundation
import HeadTrain
import KerasH5

/// What `headstart inspect MODEL.h5` shows of a head (`train`), a fine-tuned model (`finetune`) or a whole-model
/// export of either (`export-keras`). The JSON keys (sorted) are the `--json` interface, as Inspection.swift's.
public struct ModelOverview: Codable, Equatable, Sendable {
    public struct HeadView: Codable, Equatable, Sendable {
        public var featureCount: Int
        public var hidden: Int
        public var classes: Int
        public var dropout: Float
        /// "sigmoid" or "softmax".
        public var output: String
    }

    public struct BlockLayerView: Codable, Equatable, Sendable {
        /// The name the model file gives it (`conv2d_60` … in a fine-tuned model, the notop names in an export).
        public var name: String
        /// Its conv2d_bn call position (InceptionV3Weights.units index).
        public var unit: Int
        /// (kh, kw, cin, cout)
        public var kernelShape: [Int]
    }

    public struct FineTuningView: Codable, Equatable, Sendable {
        /// The retrained block and the cut of the cache it trained on.
        public var block: String
        public var cacheLayer: String
        /// The block's convolutions in conv2d_bn call order.
        public var convolutions: [BlockLayerView]
    }

    public var model: String
    /// "head" or "fine-tuned model".
    public var kind: String
    /// True for an `export-keras` file (the base's layers up to the cut are in it).
    public var wholeModel: Bool
    public var layersWithWeights: Int
    public var head: HeadView
    /// The base weights file the features (and a fine-tuned block) start from, by name and SHA-256, and its origin.
    public var weightsName: String
    public var weightsSHA256: String
    public var weightsOrigin: String
    public var weightsWarning: String?
    /// The head's features: the cut (through the fine-tuned block for a fine-tuned model), input size and preprocessing.
    public var layer: String
    public var inputSize: Int
    public var resize: String
    public var preprocess: String
    public var classes: [String]
    public var featureShape: [Int]
    public var fineTuning: FineTuningView?
}

extension Inspection {
    /// Reads a model file as `predict` does (head, provenance and a fine-tuned block, all checked).
    public static func model(path: String) throws -> ModelOverview {
        let file = try KerasWeightsFile.read(path: path)
        let trained = try TrainedHead.load(file, path: path)
        let p = trained.provenance, c = trained.head.config
        let weighted = file.layersWithWeights
        var fineTuning: ModelOverview.FineTuningView?
        if let f = p.fineTuning, let block = trained.block {
            // The block's layers are the 20 weighted layers before the head's two (FineTunedModel.readBlock).
            let stored = Array(weighted.dropLast(2).suffix(FineTunedModel.blockLayers.count))
            let convs = zip(FineTunedModel.blockLayers, stored).compactMap { l, s -> ModelOverview.BlockLayerView? in
                guard case let .conv(u) = l.kind else { return nil }
                return ModelOverview.BlockLayerView(name: s.name, unit: u, kernelShape: block[u - FineTunedModel.units.lowerBound].kernelShape)
            }.sorted { $0.unit < $1.unit }
            fineTuning = ModelOverview.FineTuningView(block: f.block.rawValue, cacheLayer: f.cacheLayer.rawValue, convolutions: convs)
        }
        let own = 2 + (fineTuning == nil ? 0 : FineTunedModel.blockLayers.count)
        return ModelOverview(
            model: path, kind: fineTuning == nil ? "head" : "fine-tuned model", wholeModel: weighted.count > own,
            layersWithWeights: weighted.count,
            head: .init(featureCount: c.featureCount, hidden: c.hidden, classes: c.classes, dropout: c.dropout,
                        output: c.isBinary ? "sigmoid" : "softmax"),
            weightsName: p.weightsName, weightsSHA256: p.weightsSHA256, weightsOrigin: p.weightsOrigin.recorded,
            weightsWarning: p.weightsOrigin.warning, layer: p.settings.layer.rawValue, inputSize: p.settings.size,
            resize: p.settings.resize.rawValue, preprocess: p.settings.preprocess.rawValue, classes: p.classNames,
            featureShape: p.featureShape, fineTuning: fineTuning)
    }
}
