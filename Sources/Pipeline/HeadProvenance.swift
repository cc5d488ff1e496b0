import Extract
import Foundation
import Store

/// Where a head's features came from, saved with the head (HeadFile metadata) so that `predict` extracts new
/// images exactly as the training features were extracted — same weights, cut, size, resize and preprocessing —
/// and refuses a weights file that differs (the trap of training and serving with different preprocessing).
public struct HeadProvenance: Equatable, Sendable {
    public var weightsSHA256: String
    public var weightsName: String
    public var settings: ExtractionSettings
    public var classNames: [String]
    public var featureShape: [Int]
    /// Where the weights came from (as the extraction recorded it in the cache); not compared by `check`, since the
    /// SHA-256 already identifies the file.
    public var weightsOrigin: WeightsOrigin
    /// Set for a fine-tuned model (`FineTunedModel`): its head's features are `settings.layer` computed through the
    /// model's own retrained block on top of the weights file, not the file's alone.
    public var fineTuning: FineTuning?

    /// What a fine-tuned model retrained, and the cut of the cache it trained on (the block's input).
    public struct FineTuning: Equatable, Sendable {
        public var block: CutLayer
        public var cacheLayer: CutLayer
        public init(block: CutLayer, cacheLayer: CutLayer) { self.block = block; self.cacheLayer = cacheLayer }
    }

    public init(weightsSHA256: String, weightsName: String, settings: ExtractionSettings, classNames: [String], featureShape: [Int],
                weightsOrigin: WeightsOrigin, fineTuning: FineTuning? = nil) {
        self.weightsSHA256 = weightsSHA256; self.weightsName = weightsName; self.settings = settings
        self.classNames = classNames; self.featureShape = featureShape; self.weightsOrigin = weightsOrigin
        self.fineTuning = fineTuning
    }

    /// From a cache's fingerprint and class names.
    public init(cache: FeatureCache) throws {
        let f = cache.fingerprint
        guard let layer = CutLayer(rawValue: f.layer), let resize = ResizeMethod(rawValue: f.resize),
              let preprocess = PreprocessMode(rawValue: f.preprocess), let size = f.inputSize.first,
              (try? Setting.size.check(size, as: "inputSize")) != nil else {
            throw ProvenanceError.unknownCacheSettings(cache: cache.path, layer: f.layer, inputSize: f.inputSize,
                                                       resize: f.resize, preprocess: f.preprocess)
        }
        self.init(weightsSHA256: f.weightsSHA256, weightsName: f.weightsName,
                  settings: ExtractionSettings(layer: layer, size: size, resize: resize, preprocess: preprocess),
                  classNames: try cache.classNames(), featureShape: f.featureShape,
                  weightsOrigin: WeightsOrigin(recorded: try cache.weightsOrigin()))
    }

    /// As HeadFile metadata (string values); a fine-tuned model adds `finetuned` (the retrained block) and
    /// `finetune_cache_layer`.
    public var metadata: [String: String] {
        var m = [
            "weights_sha256": weightsSHA256, "weights_name": weightsName,
            "layer": settings.layer.rawValue, "size": String(settings.size),
            "resize": settings.resize.rawValue, "preprocess": settings.preprocess.rawValue,
            "classes": String(decoding: try! JSONEncoder().encode(classNames), as: UTF8.self),
            "feature_shape": featureShape.map(String.init).joined(separator: ","),
            "weights_origin": weightsOrigin.recorded,
        ]
        if let fineTuning {
            m["finetuned"] = fineTuning.block.rawValue
            m["finetune_cache_layer"] = fineTuning.cacheLayer.rawValue
        }
        return m
    }

    public init(metadata m: [String: String], source: String) throws {
        func need(_ k: String) throws -> String {
            guard let v = m[k] else {
                throw ProvenanceError.missingKey(head: source, key: k)
            }
            return v
        }
        guard let layer = CutLayer(rawValue: try need("layer")), let size = Int(try need("size")),
              let resize = ResizeMethod(rawValue: try need("resize")),
              let preprocess = PreprocessMode(rawValue: try need("preprocess")),
              let classes = try? JSONDecoder().decode([String].self, from: Data(try need("classes").utf8)) else {
            throw ProvenanceError.unreadableSettings(head: source, metadata: m)
        }
        // The size builds a network: the file's word is checked as the --size flag is.
        do { try Setting.size.check(size, as: "the head's recorded size") } catch let e as SettingError {
            throw ProvenanceError.sizeOutOfRange(head: source, problem: e)
        }
        var fineTuning: FineTuning?
        if let block = m["finetuned"] {
            guard let b = CutLayer(rawValue: block), let c = CutLayer(rawValue: try need("finetune_cache_layer")) else {
                throw ProvenanceError.unreadableSettings(head: source, metadata: m)
            }
            fineTuning = FineTuning(block: b, cacheLayer: c)
        }
        self.init(weightsSHA256: try need("weights_sha256"), weightsName: m["weights_name"] ?? "",
                  settings: ExtractionSettings(layer: layer, size: size, resize: resize, preprocess: preprocess),
                  classNames: classes,
                  featureShape: try need("feature_shape").split(separator: ",").compactMap { Int($0) },
                  weightsOrigin: WeightsOrigin(recorded: m["weights_origin"]), fineTuning: fineTuning)
    }
}

/// Why the provenance of a head's features cannot be read, or does not fit where the head is used. Each message
/// starts with the file it is about.
public enum ProvenanceError: Error, CustomStringConvertible {
    /// The cache's fingerprint records a cut, size, resize or preprocessing this build does not know.
    case unknownCacheSettings(cache: String, layer: String, inputSize: [Int], resize: String, preprocess: String)
    /// The head file lacks a key `headstart train` records (another program's head, or an older headstart's).
    case missingKey(head: String, key: String)
    /// The head's recorded settings (cut, size, resize, preprocessing, classes) do not parse.
    case unreadableSettings(head: String, metadata: [String: String])
    /// The head's recorded size is outside what `--size` accepts.
    case sizeOutOfRange(head: String, problem: SettingError)
    /// The head was trained on other weights, settings or classes than the cache holds (each difference named).
    case doesNotFit(head: String, cache: String, differences: [String])

    public var description: String {
        switch self {
        case let .unknownCacheSettings(cache, layer, inputSize, resize, preprocess):
            return "\(cache): the cache's fingerprint has settings this headstart does not know: \(layer), \(inputSize), \(resize), \(preprocess)"
        case let .missingKey(head, key):
            return "\(head): the head does not record '\(key)': it was not saved by `headstart train` (or by an older version)"
        case let .unreadableSettings(head, metadata):
            return "\(head): the head's recorded settings are not readable: \(metadata)"
        case let .sizeOutOfRange(head, problem):
            return "\(head): \(problem)"
        case let .doesNotFit(head, cache, differences):
            return "\(head): does not fit the cache \(cache): " + differences.joined(separator: "; ")
        }
    }
}
