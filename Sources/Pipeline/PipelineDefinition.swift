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
    public var augment: AugmentSection?

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

    /// `augment:` — Keras ImageDataGenerator's ranges (snake_case, like the other sections; `zoom` a number z for
    /// [1 − z, 1 + z] or a pair), or `book: true` for the book's, and the cached views to extract and their seed:
    ///
    ///     augment:
    ///       views: 8
    ///       seed: 1
    ///       rotation: 40
    ///       width_shift: 0.2
    ///       height_shift: 0.2
    ///       shear: 0.2
    ///       zoom: 0.2
    ///       horizontal_flip: true
    ///       fill: nearest
    public struct AugmentSection: Codable, Equatable {
        public var views: Int?
        public var seed: UInt64?
        public var book: Bool?
        public var rotation: Double?
        public var widthShift: Double?
        public var heightShift: Double?
        public var shear: Double?
        public var zoom: Interval?
        public var horizontalFlip: Bool?
        public var verticalFlip: Bool?
        public var brightness: Interval?
        public var channelShift: Double?
        public var fill: FillMode?
        public var cval: Double?

        enum CodingKeys: String, CodingKey {
            case views, seed, book, rotation, shear, zoom, brightness, fill, cval
            case widthShift = "width_shift", heightShift = "height_shift", horizontalFlip = "horizontal_flip"
            case verticalFlip = "vertical_flip", channelShift = "channel_shift"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            views = try c.decodeIfPresent(Int.self, forKey: .views)
            seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
            book = try c.decodeIfPresent(Bool.self, forKey: .book)
            rotation = try c.decodeIfPresent(Double.self, forKey: .rotation)
            widthShift = try c.decodeIfPresent(Double.self, forKey: .widthShift)
            heightShift = try c.decodeIfPresent(Double.self, forKey: .heightShift)
            shear = try c.decodeIfPresent(Double.self, forKey: .shear)
            if let z = try? c.decode(Double.self, forKey: .zoom) {
                zoom = Interval(zoom: z)
            } else {
                zoom = try c.decodeIfPresent(Interval.self, forKey: .zoom)
            }
            horizontalFlip = try c.decodeIfPresent(Bool.self, forKey: .horizontalFlip)
            verticalFlip = try c.decodeIfPresent(Bool.self, forKey: .verticalFlip)
            brightness = try c.decodeIfPresent(Interval.self, forKey: .brightness)
            channelShift = try c.decodeIfPresent(Double.self, forKey: .channelShift)
            fill = try c.decodeIfPresent(FillMode.self, forKey: .fill)
            cval = try c.decodeIfPresent(Double.self, forKey: .cval)
        }

        /// The settings the section gives (the book's when `book: true`, then each key given overrides), or nil
        /// when it gives none (only `views` / `seed`). Validated.
        public func settings() throws -> AugmentationSettings? {
            let given: [Any?] = [rotation, widthShift, heightShift, shear, zoom, horizontalFlip, verticalFlip, brightness,
                                 channelShift, fill, cval]
            guard book == true || given.contains(where: { $0 != nil }) else { return nil }
            var s = book == true ? AugmentationSettings.book : AugmentationSettings()
            if let rotation { s.rotation = rotation }
            if let widthShift { s.widthShift = widthShift }
            if let heightShift { s.heightShift = heightShift }
            if let shear { s.shear = shear }
            if let zoom { s.zoom = zoom }
            if let horizontalFlip { s.horizontalFlip = horizontalFlip }
            if let verticalFlip { s.verticalFlip = verticalFlip }
            if let brightness { s.brightness = brightness }
            if let channelShift { s.channelShift = channelShift }
            if let fill { s.fill = fill }
            if let cval { s.cval = cval }
            try s.validate()
            return s
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

    /// The extraction the file describes — its dataset into `cache` (the file's own unless given), with the
    /// `extract:` and `augment:` sections, the book's settings where it is silent. Commands override from there.
    public func extractionJob(source: String, cache cacheOverride: String? = nil) throws -> ExtractionJob {
        guard let dataset else { throw LoadError(path: source, reason: "the pipeline names no dataset (add `dataset:`)") }
        guard let cache = cacheOverride ?? cache else { throw LoadError(path: source, reason: "the pipeline names no cache (add `cache:`)") }
        var job = ExtractionJob(dataset: URL(fileURLWithPath: dataset), cache: cache)
        job.dtype = try featureDType(source: source)
        job.batchSize = extract?.batch ?? 32
        job.validationSplit = extract?.validationSplit ?? 0
        job.limit = extract?.limit
        // An augment: section with views: K extracts K augmented views per training image.
        job.views = augment?.views ?? 0
        do { job.augmentation = try augment?.settings() } catch let e as AugmentationError {
            throw LoadError(path: source, reason: "augment: \(e)")
        }
        job.augmentSeed = augment?.seed
        return job
    }

    /// Whether a command-line argument names a pipeline file rather than a folder.
    public static func isPipelineFile(_ path: String) -> Bool {
        path.hasSuffix(".yaml") || path.hasSuffix(".yml")
    }
}
