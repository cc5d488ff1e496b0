import Extract
import Foundation
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

    /// Whether a command-line argument names a pipeline file rather than a folder.
    public static func isPipelineFile(_ path: String) -> Bool {
        path.hasSuffix(".yaml") || path.hasSuffix(".yml")
    }
}
