import Extract
import Foundation
import Store
import Yams

/// A pipeline file (`pipelines/*.yaml`): where the data, weights and outputs are, and the settings of each
/// stage. Relative paths are taken from the current directory, as the paths given on the command line are.
/// Every key is optional; the command line overrides what the file says, and Keras's book settings fill the rest.
public struct PipelineDefinition: Codable, Equatable {
    public var name: String?
    public var dataset: String?
    public var weights: String?
    public var cache: String?
    public var output: String?
    /// A demo pipeline generates what it lacks instead of fetching it: seeded weights (not trained) and a
    /// generated two-class image set. Every output is labelled as a demo.
    public var demo: Bool?
    public var extract: ExtractSection?
    public var train: TrainSection?
    public var sweep: SweepSection?

    public struct ExtractSection: Codable, Equatable {
        public var layer: String?
        public var size: Int?
        public var resize: String?
        public var preprocess: String?
        public var dtype: String?
        public var batch: Int?
        public var validationSplit: Double?
        public var limit: Int?
        enum CodingKeys: String, CodingKey {
            case layer, size, resize, preprocess, dtype, batch, limit
            case validationSplit = "validation_split"
        }
    }

    public struct TrainSection: Codable, Equatable {
        public var epochs: Int?
        public var batch: Int?
        public var lr: Double?
        public var hidden: Int?
        public var dropout: Double?
        public var seed: UInt64?
        public var shuffle: Bool?
        public var earlyStop: Int?
        enum CodingKeys: String, CodingKey {
            case epochs, batch, lr, hidden, dropout, seed, shuffle
            case earlyStop = "early_stop"
        }
    }

    /// `headstart sweep`'s settings. Each hyper-parameter is a number, a list (`[1e-3, 3e-4]`), or a string as
    /// on the command line (`"1e-3,3e-4"`, or a range `"1e-5:1e-2"` for `random`).
    public struct SweepSection: Codable, Equatable {
        public var lr: FlexibleValues?
        public var hidden: FlexibleValues?
        public var dropout: FlexibleValues?
        public var batch: FlexibleValues?
        public var epochs: FlexibleValues?
        public var seed: FlexibleValues?
        public var random: Int?
        public var strategy: String?
        public var metric: String?
        public var rungs: Int?
        public var keep: Double?
        public var shuffle: Bool?
        public var earlyStop: Int?
        public var output: String?
        enum CodingKeys: String, CodingKey {
            case lr, hidden, dropout, batch, epochs, seed, random, strategy, metric, rungs, keep, shuffle, output
            case earlyStop = "early_stop"
        }
        public init() {}
    }

    /// A YAML scalar or list of scalars, kept as the command line's text form ("a,b,c" or "lo:hi").
    public struct FlexibleValues: Codable, Equatable {
        public var text: String
        public init(_ text: String) { self.text = text }
        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let list = try? c.decode([String].self) { text = list.joined(separator: ","); return }
            text = try c.decode(String.self)
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(text)
        }
    }

    public struct LoadError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public static func load(path: String) throws -> PipelineDefinition {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw LoadError(path: path, reason: "cannot read the pipeline file (\(error.localizedDescription))")
        }
        do {
            return try YAMLDecoder().decode(PipelineDefinition.self, from: text)
        } catch let DecodingError.keyNotFound(key, context) {
            throw LoadError(path: path, reason: "missing key \(key.stringValue) at \(codingPath(context))")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            throw LoadError(path: path, reason: "\(codingPath(context)): \(context.debugDescription)")
        } catch {
            throw LoadError(path: path, reason: "not a readable pipeline (\(error))")
        }
    }

    private static func codingPath(_ c: DecodingError.Context) -> String {
        c.codingPath.isEmpty ? "the top level" : c.codingPath.map(\.stringValue).joined(separator: ".")
    }

    /// The extraction settings the file asks for, the book's where it is silent; an unknown value is an error
    /// naming the key (a typo must not quietly fall back to a default).
    public func extractionSettings(source: String) throws -> ExtractionSettings {
        let d = ExtractionSettings()
        func parse<T: RawRepresentable>(_ raw: String?, _ key: String, _ choices: [String]) throws -> T? where T.RawValue == String {
            guard let raw else { return nil }
            guard let v = T(rawValue: raw) else {
                throw LoadError(path: source, reason: "extract.\(key) '\(raw)' is not one of \(choices.joined(separator: ", "))")
            }
            return v
        }
        return ExtractionSettings(
            layer: try parse(extract?.layer, "layer", CutLayer.allCases.map(\.rawValue)) ?? d.layer,
            size: extract?.size ?? d.size,
            resize: try parse(extract?.resize, "resize", ResizeMethod.allCases.map(\.rawValue)) ?? d.resize,
            preprocess: try parse(extract?.preprocess, "preprocess", PreprocessMode.allCases.map(\.rawValue)) ?? d.preprocess)
    }

    /// The stored feature type the file asks for (default f16).
    public func featureDType(source: String) throws -> FeatureDType {
        guard let raw = extract?.dtype else { return .f16 }
        guard let t = FeatureDType(rawValue: raw) else {
            throw LoadError(path: source, reason: "extract.dtype '\(raw)' is not f16 or f32")
        }
        return t
    }

    /// Whether a command-line argument names a pipeline file rather than a folder.
    public static func isPipelineFile(_ path: String) -> Bool {
        path.hasSuffix(".yaml") || path.hasSuffix(".yml")
    }
}
