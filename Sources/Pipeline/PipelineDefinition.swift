import CYaml
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
    public var finetune: FinetuneSection?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, dataset, weights, cache, output, demo, extract, train, sweep, augment, finetune
    }

    public struct ExtractSection: Codable, Equatable {
        public var layer: CutLayer?
        public var size: Int?
        public var resize: ResizeMethod?
        public var preprocess: PreprocessMode?
        public var dtype: FeatureDType?
        public var batch: Int?
        public var validationSplit: Double?
        public var limit: Int?
        public var allowLabelConflicts: Bool?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case layer, size, resize, preprocess, dtype, batch, limit
            case validationSplit = "validation_split", allowLabelConflicts = "allow_label_conflicts"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            layer = try c.decodeChoice(forKey: .layer, section: "extract")
            size = try c.decodeIfPresent(Int.self, forKey: .size)
            resize = try c.decodeChoice(forKey: .resize, section: "extract")
            preprocess = try c.decodeChoice(forKey: .preprocess, section: "extract")
            dtype = try c.decodeChoice(forKey: .dtype, section: "extract", choices: "f16 or f32")
            batch = try c.decodeIfPresent(Int.self, forKey: .batch)
            validationSplit = try c.decodeIfPresent(Double.self, forKey: .validationSplit)
            limit = try c.decodeIfPresent(Int.self, forKey: .limit)
            allowLabelConflicts = try c.decodeIfPresent(Bool.self, forKey: .allowLabelConflicts)
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
        /// A folder for TensorBoard event files (`train --tensorboard`).
        public var tensorboard: String?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case epochs, batch, lr, hidden, dropout, seed, shuffle, tensorboard
            case earlyStop = "early_stop"
        }
    }

    /// `run`'s second phase (`headstart finetune`): after the head trains on mixed7, mixed6 is extracted into
    /// `cache` (default: the pipeline's cache with `-mixed6` appended) and mixed7 and that head train together.
    /// Unset keys take `finetune`'s defaults (RMSprop 1e-5) and the `train:` section's epochs, batch and seed.
    public struct FinetuneSection: Codable, Equatable {
        public var cache: String?
        public var epochs: Int?
        public var batch: Int?
        public var lr: Double?
        public var optimizer: FineTuneOptimizerName?
        public var momentum: Double?
        public var dropout: Double?
        public var seed: UInt64?
        public var shuffle: Bool?
        public var earlyStop: Int?
        public var tensorboard: String?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case cache, epochs, batch, lr, optimizer, momentum, dropout, seed, shuffle, tensorboard
            case earlyStop = "early_stop"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            cache = try c.decodeIfPresent(String.self, forKey: .cache)
            epochs = try c.decodeIfPresent(Int.self, forKey: .epochs)
            batch = try c.decodeIfPresent(Int.self, forKey: .batch)
            lr = try c.decodeIfPresent(Double.self, forKey: .lr)
            optimizer = try c.decodeChoice(forKey: .optimizer, section: "finetune", choices: "rmsprop or sgd")
            momentum = try c.decodeIfPresent(Double.self, forKey: .momentum)
            dropout = try c.decodeIfPresent(Double.self, forKey: .dropout)
            seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
            shuffle = try c.decodeIfPresent(Bool.self, forKey: .shuffle)
            earlyStop = try c.decodeIfPresent(Int.self, forKey: .earlyStop)
            tensorboard = try c.decodeIfPresent(String.self, forKey: .tensorboard)
        }
    }

    /// `finetune: optimizer:`.
    public enum FineTuneOptimizerName: String, Codable, CaseIterable, Sendable { case rmsprop, sgd }

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
        public var strategy: SweepStrategyName?
        public var metric: SweepMetric?
        public var rungs: Int?
        public var keep: Double?
        public var shuffle: Bool?
        public var earlyStop: Int?
        public var output: String?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case lr, hidden, dropout, batch, epochs, seed, random, strategy, metric, rungs, keep, shuffle, output
            case earlyStop = "early_stop"
        }
        public init() {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            lr = try c.decodeIfPresent(FlexibleValues.self, forKey: .lr)
            hidden = try c.decodeIfPresent(FlexibleValues.self, forKey: .hidden)
            dropout = try c.decodeIfPresent(FlexibleValues.self, forKey: .dropout)
            batch = try c.decodeIfPresent(FlexibleValues.self, forKey: .batch)
            epochs = try c.decodeIfPresent(FlexibleValues.self, forKey: .epochs)
            seed = try c.decodeIfPresent(FlexibleValues.self, forKey: .seed)
            random = try c.decodeIfPresent(Int.self, forKey: .random)
            strategy = try c.decodeChoice(forKey: .strategy, section: "sweep")
            metric = try c.decodeChoice(forKey: .metric, section: "sweep")
            rungs = try c.decodeIfPresent(Int.self, forKey: .rungs)
            keep = try c.decodeIfPresent(Double.self, forKey: .keep)
            shuffle = try c.decodeIfPresent(Bool.self, forKey: .shuffle)
            earlyStop = try c.decodeIfPresent(Int.self, forKey: .earlyStop)
            output = try c.decodeIfPresent(String.self, forKey: .output)
        }

        /// The swept hyper-parameters: key, the setting each value must pass, and the values given.
        public var hyperParameters: [(key: String, setting: Setting, values: FlexibleValues?)] {
            [("lr", .learningRate, lr), ("hidden", .hidden, hidden), ("dropout", .dropout, dropout),
             ("batch", .trainBatch, batch), ("epochs", .epochs, epochs), ("seed", .seed, seed)]
        }
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

        enum CodingKeys: String, CodingKey, CaseIterable {
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

    /// A closed choice (a cut layer, a resize method, a sweep strategy …) whose word is none of its values.
    public struct UnknownChoice: Error, CustomStringConvertible {
        /// `section.key`, as the file spells it.
        public var key: String
        public var value: String
        /// The values, in words ("one of a, b, c" unless the key has its own phrase).
        public var choices: String
        public var description: String { "\(key) '\(value)' is not \(choices)" }
    }

    /// Why a pipeline file cannot be used: the file, and what is wrong with it (naming the key, line or value).
    public struct LoadError: Error, CustomStringConvertible {
        public var path: String
        public var problem: Problem

        public init(path: String, _ problem: Problem) { self.path = path; self.problem = problem }

        public enum Problem {
            /// The file cannot be read (the system's words).
            case unreadable(error: String)
            /// Larger than `maxBytes`.
            case tooLarge(bytes: Int)
            /// Not UTF-8 text.
            case notUTF8
            /// libyaml could not be started.
            case parserUnavailable
            /// libyaml cannot parse the text: its problem, at a line.
            case yaml(line: Int, problem: String)
            /// Collections nested deeper than `maxDepth`.
            case tooDeep(line: Int)
            /// The top level is not a mapping of keys.
            case notAMapping
            /// A key this build does not read, in a section ("" for the top level), with the keys it knows.
            case unknownKey(key: String, section: String, known: [String])
            /// A word that is not one of its key's choices.
            case choice(UnknownChoice)
            /// A section lacks a key it needs.
            case missingKey(key: String, at: String)
            /// A value of the wrong type or shape (the decoder's words).
            case badValue(at: String, detail: String)
            /// Not readable as a pipeline at all.
            case unreadablePipeline(detail: String)
            /// A value refused by the check its command-line flag has (the check's message names the key).
            case setting(Error)
            /// The augment: section's settings are refused.
            case augmentation(AugmentationError)
            /// The pipeline names no dataset, or no cache, where one is needed.
            case noDataset, noCache
            /// A `finetune:` section with an `extract: layer:` other than mixed7 (the head it starts from takes mixed7).
            case finetuneNeedsMixed7(layer: CutLayer)
            /// `finetune: momentum:` outside 0…1, or given without `optimizer: sgd`.
            case momentum(Double)
        }

        /// What is wrong, after the file's path.
        public var reason: String {
            switch problem {
            case let .unreadable(error): return "cannot read the pipeline file (\(error))"
            case let .tooLarge(bytes): return "\(bytes) bytes; a pipeline file is at most \(PipelineDefinition.maxBytes)"
            case .notUTF8: return "not UTF-8 text"
            case .parserUnavailable: return "cannot start the YAML parser"
            case let .yaml(line, problem): return "line \(line): \(problem)"
            case let .tooDeep(line):
                return "line \(line): nested more than \(PipelineDefinition.maxDepth) deep; a pipeline file is a few flat sections"
            case .notAMapping: return "the top level is not a mapping of keys (name:, dataset:, extract:, …)"
            case let .unknownKey(key, section, known):
                let whereText = section.isEmpty ? "at the top level" : "in \(section):"
                return "unknown key '\(key)' \(whereText)" + PipelineDefinition.didYouMean(key, known)
                    + " (known: \(known.sorted().joined(separator: ", ")))"
            case let .choice(choice): return "\(choice)"
            case let .missingKey(key, at): return "missing key \(key) at \(at)"
            case let .badValue(at, detail): return "\(at): \(detail)"
            case let .unreadablePipeline(detail): return "not a readable pipeline (\(detail))"
            case let .setting(error): return "\(error)"
            case let .augmentation(error): return "augment: \(error)"
            case .noDataset: return "the pipeline names no dataset (add `dataset:`)"
            case .noCache: return "the pipeline names no cache (add `cache:`)"
            case let .finetuneNeedsMixed7(layer):
                return "finetune: retrains mixed7 from the head trained on mixed7, but extract: layer: is \(layer.rawValue)"
            case let .momentum(value): return "finetune.momentum \(value) must be from 0 to 1, with optimizer: sgd"
            }
        }

        public var description: String { "\(path): \(reason)" }
    }

    /// Reads and checks a pipeline file: at most `maxBytes`, nested at most `maxDepth` deep (a parser that
    /// recursed into a hostile file would overflow its stack), every key one this build knows (a misspelt key
    /// is an error naming it, with the known key it is closest to), every value of the right type and within
    /// what its command-line flag accepts (`Setting`).
    public static func load(path: String) throws -> PipelineDefinition {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
            throw LoadError(path: path, .unreadable(error: error.localizedDescription))
        }
        guard data.count <= maxBytes else { throw LoadError(path: path, .tooLarge(bytes: data.count)) }
        guard let text = String(data: data, encoding: .utf8) else { throw LoadError(path: path, .notUTF8) }
        return try parse(text, source: path)
    }

    public static let maxBytes = 1 << 20
    public static let maxDepth = 16

    /// `load` for text already in memory (`source` names it in errors).
    public static func parse(_ text: String, source path: String) throws -> PipelineDefinition {
        try checkDepth(text, source: path)
        let p: PipelineDefinition
        do {
            if let root = try Yams.compose(yaml: text) { try checkKeys(root, source: path) }
            p = try YAMLDecoder().decode(PipelineDefinition.self, from: text)
        } catch let e as LoadError {
            throw e
        } catch let DecodingError.dataCorrupted(context) where context.underlyingError is UnknownChoice {
            // Yams wraps what a decoder throws as "not valid YAML"; the choice's own message names the key.
            throw LoadError(path: path, .choice(context.underlyingError as! UnknownChoice))
        } catch let DecodingError.keyNotFound(key, context) {
            throw LoadError(path: path, .missingKey(key: key.stringValue, at: codingPath(context)))
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            throw LoadError(path: path, .badValue(at: codingPath(context), detail: context.debugDescription))
        } catch {
            throw LoadError(path: path, .unreadablePipeline(detail: "\(error)"))
        }
        try p.validate(source: path)
        return p
    }

    /// Walks libyaml's events (an iterative parser) and refuses collections nested deeper than `maxDepth`,
    /// before anything recursive sees the text.
    static func checkDepth(_ text: String, source path: String) throws {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw LoadError(path: path, .parserUnavailable) }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBufferPointer { buf in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var depth = 0
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let problem = parser.problem.map { String(cString: $0) } ?? "unreadable YAML"
                    throw LoadError(path: path, .yaml(line: Int(parser.problem_mark.line) + 1, problem: problem))
                }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    depth += 1
                    if depth > maxDepth {
                        throw LoadError(path: path, .tooDeep(line: Int(event.start_mark.line) + 1))
                    }
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT: depth -= 1
                case YAML_STREAM_END_EVENT: return
                default: break
                }
            }
        }
    }

    /// The keys each level accepts: the top level and each section.
    static let knownKeys: [String: [String]] = [
        "": CodingKeys.allCases.map(\.stringValue),
        "extract": ExtractSection.CodingKeys.allCases.map(\.stringValue),
        "train": TrainSection.CodingKeys.allCases.map(\.stringValue),
        "sweep": SweepSection.CodingKeys.allCases.map(\.stringValue),
        "augment": AugmentSection.CodingKeys.allCases.map(\.stringValue),
        "finetune": FinetuneSection.CodingKeys.allCases.map(\.stringValue),
    ]

    /// Every key of the top level and of each section must be one this build reads: a misspelt key would
    /// otherwise be ignored and its setting silently take the default.
    static func checkKeys(_ root: Node, source path: String) throws {
        guard let top = root.mapping else {
            throw LoadError(path: path, .notAMapping)
        }
        func check(_ mapping: Node.Mapping, _ section: String) throws {
            let known = knownKeys[section]!
            for (k, _) in mapping {
                guard let key = k.string, known.contains(key) else {
                    let given = k.string ?? "\(k)"
                    throw LoadError(path: path, .unknownKey(key: given, section: section, known: known))
                }
            }
        }
        try check(top, "")
        for (k, v) in top {
            guard let key = k.string, knownKeys[key] != nil else { continue }
            if let m = v.mapping { try check(m, key) }
        }
    }

    /// "; did you mean 'x'?" for the known key within two edits of `given` (the nearest), else "".
    static func didYouMean(_ given: String, _ known: [String]) -> String {
        let scored = known.map { ($0, editDistance(given.lowercased(), $0)) }.filter { $0.1 <= 2 }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return "" }
        return "; did you mean '\(best.0)'?"
    }

    /// Levenshtein distance.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var row = Array(0...b.count)  // distances from a[..<i] to each prefix of b
        for i in 1...a.count {
            var diagonal = row[0]
            row[0] = i
            for j in 1...b.count {
                let above = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1))
                diagonal = above
            }
        }
        return row[b.count]
    }

    /// Every value present passes the same check as its command-line flag (`Setting`); the enumerated ones
    /// (layer, resize, …) and the augmentation are checked by the same decoders the commands use.
    public func validate(source path: String) throws {
        func check(_ setting: Setting, _ value: Int?, key: String? = nil) throws {
            guard let value else { return }
            do { try setting.check(value, as: key ?? setting.key) } catch let e as SettingError { throw LoadError(path: path, .setting(e)) }
        }
        func check(_ setting: Setting, _ value: Double?, key: String? = nil) throws {
            guard let value else { return }
            do { try setting.check(value, as: key ?? setting.key) } catch let e as SettingError { throw LoadError(path: path, .setting(e)) }
        }
        try check(.size, extract?.size)
        try check(.extractBatch, extract?.batch)
        try check(.validationSplit, extract?.validationSplit)
        try check(.limit, extract?.limit)
        try check(.epochs, train?.epochs)
        try check(.trainBatch, train?.batch)
        try check(.learningRate, train?.lr)
        try check(.hidden, train?.hidden)
        try check(.dropout, train?.dropout)
        try check(.earlyStop, train?.earlyStop)
        try check(.random, sweep?.random)
        try check(.rungs, sweep?.rungs)
        try check(.keep, sweep?.keep)
        try check(.earlyStop, sweep?.earlyStop, key: "sweep.early_stop")
        if let s = sweep {
            for (key, setting, values) in s.hyperParameters {
                guard let text = values?.text else { continue }
                do { _ = try SweepValues.parse(text, name: "sweep.\(key)", setting: setting) } catch let e as SweepSpecError {
                    throw LoadError(path: path, .setting(e))
                } catch let e as SettingError { throw LoadError(path: path, .setting(e)) }
            }
        }
        try check(.views, augment?.views)
        if let f = finetune {
            try check(.epochs, f.epochs, key: "finetune.epochs")
            try check(.trainBatch, f.batch, key: "finetune.batch")
            try check(.earlyStop, f.earlyStop, key: "finetune.early_stop")
            try check(.learningRate, f.lr, key: "finetune.lr")
            try check(.dropout, f.dropout, key: "finetune.dropout")
            if let m = f.momentum, !(f.optimizer == .sgd && (0...1).contains(m)) { throw LoadError(path: path, .momentum(m)) }
            if let layer = extract?.layer, layer != FineTunedModel.block { throw LoadError(path: path, .finetuneNeedsMixed7(layer: layer)) }
        }
        do { _ = try augment?.settings() } catch let e as AugmentationError { throw LoadError(path: path, .augmentation(e)) }
    }

    private static func codingPath(_ c: DecodingError.Context) -> String {
        c.codingPath.isEmpty ? "the top level" : c.codingPath.map(\.stringValue).joined(separator: ".")
    }

    /// The extraction settings the file asks for, the book's where it is silent (an unknown word was refused when
    /// the file was read, naming its key: a typo never falls back to a default).
    public var extractionSettings: ExtractionSettings {
        let d = ExtractionSettings()
        return ExtractionSettings(layer: extract?.layer ?? d.layer, size: extract?.size ?? d.size,
                                  resize: extract?.resize ?? d.resize, preprocess: extract?.preprocess ?? d.preprocess)
    }

    /// The stored feature type the file asks for (default f16).
    public var featureDType: FeatureDType { extract?.dtype ?? .f16 }

    /// The extraction the file describes — its dataset into `cache` (the file's own unless given), with the
    /// `extract:` and `augment:` sections, the book's settings where it is silent. Commands override from there.
    public func extractionJob(source: String, cache cacheOverride: String? = nil) throws -> ExtractionJob {
        guard let dataset else { throw LoadError(path: source, .noDataset) }
        guard let cache = cacheOverride ?? cache else { throw LoadError(path: source, .noCache) }
        var job = ExtractionJob(dataset: URL(fileURLWithPath: dataset), cache: cache)
        job.dtype = featureDType
        job.batchSize = extract?.batch ?? 32
        job.validationSplit = extract?.validationSplit ?? 0
        job.limit = extract?.limit
        job.allowLabelConflicts = extract?.allowLabelConflicts ?? false
        // An augment: section with views: K extracts K augmented views per training image.
        job.views = augment?.views ?? 0
        do { job.augmentation = try augment?.settings() } catch let e as AugmentationError {
            throw LoadError(path: source, .augmentation(e))
        }
        job.augmentSeed = augment?.seed
        return job
    }

    /// Whether a command-line argument names a pipeline file rather than a folder.
    public static func isPipelineFile(_ path: String) -> Bool {
        path.hasSuffix(".yaml") || path.hasSuffix(".yml")
    }
}

extension KeyedDecodingContainer {
    /// A closed choice decoded straight into the enum the code uses; a word that is none of its values is an
    /// `UnknownChoice` naming `section.key` and the values (`choices` when the key has its own phrase).
    func decodeChoice<T: RawRepresentable & CaseIterable>(forKey key: Key, section: String, choices: String? = nil) throws -> T?
    where T.RawValue == String {
        guard let word = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let value = T(rawValue: word) else {
            throw PipelineDefinition.UnknownChoice(key: "\(section).\(key.stringValue)", value: word,
                                                   choices: choices ?? "one of " + T.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }
}
