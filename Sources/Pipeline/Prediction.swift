import Extract
import Foundation
import HeadTrain
import KerasH5
import Numerics

/// Why a head cannot be used with a weights file or its images: which files, what was expected and found.
public enum PredictionError: Error, CustomStringConvertible, Equatable {
    /// The base weights file is not the one the head's features were extracted with.
    case weightsMismatch(weights: String, weightsSHA256: String, head: String, recordedName: String, recordedSHA256: String)
    /// The head's weights and its recorded provenance disagree.
    case inconsistentHead(path: String, reason: String)
    /// A directory argument holds no image files.
    case noImages(directory: String)

    public var description: String {
        switch self {
        case let .weightsMismatch(w, wSHA, h, name, rSHA):
            return "\(w) (SHA-256 \(wSHA)) is not the weights file the head \(h) was trained with: the head records "
                + "\(name.isEmpty ? "a file" : name) with SHA-256 \(rSHA). Features from other weights do not mean what "
                + "the head learned; give that file with --weights, or retrain the head on features from this one."
        case let .inconsistentHead(p, r):
            return "\(p): \(r)"
        case let .noImages(d):
            return "\(d): no image files (\(Dataset.imageSuffixes.joined(separator: ", "))) in this directory or below"
        }
    }
}

/// A head read from its file together with the provenance saved with it (`HeadProvenance`): the weights file,
/// cut, input size, resize and preprocessing its training features were made with — and, for a fine-tuned model
/// (`FineTunedModel`), its retrained mixed7 block, which `baseWeights` puts into the base.
public struct TrainedHead {
    public var path: String
    public var head: Head
    public var provenance: HeadProvenance
    /// A fine-tuned model's mixed7 units in conv2d_bn call order (replacing `units[60..<70]`); nil for a head.
    public var block: [ConvBNParameters]?

    public init(path: String, head: Head, provenance: HeadProvenance, block: [ConvBNParameters]? = nil) {
        self.path = path; self.head = head; self.provenance = provenance; self.block = block
    }

    /// Reads `path`; refuses a head without provenance (one not saved by `headstart train`), and one whose
    /// recorded class names or feature shape disagree with its weights. A fine-tuned model's block is read too.
    public static func load(path: String) throws -> TrainedHead {
        try load(KerasWeightsFile.read(path: path), path: path)
    }

    /// As `load(path:)`, from the file already read.
    static func load(_ file: KerasWeightsFile, path: String) throws -> TrainedHead {
        let contents = try HeadFile.load(file, path: path)
        let provenance = try HeadProvenance(metadata: contents.metadata, source: path)
        let head = contents.head
        guard provenance.classNames.count == head.config.classes else {
            throw PredictionError.inconsistentHead(path: path, reason: "it records \(provenance.classNames.count) class names "
                + "\(provenance.classNames) but its output layer is for \(head.config.classes) classes")
        }
        guard !provenance.featureShape.isEmpty, provenance.featureShape.reduce(1, *) == head.config.featureCount else {
            throw PredictionError.inconsistentHead(path: path, reason: "it records feature shape \(provenance.featureShape) but "
                + "its first dense layer takes \(head.config.featureCount) values")
        }
        var block: [ConvBNParameters]?
        if let f = provenance.fineTuning {
            guard f.block == FineTunedModel.block, f.cacheLayer == FineTunedModel.cacheLayer, provenance.settings.layer == f.block else {
                throw PredictionError.inconsistentHead(path: path, reason: "it records fine-tuning of \(f.block.rawValue) from a "
                    + "\(f.cacheLayer.rawValue) cache with features \(provenance.settings.layer.rawValue); this headstart "
                    + "fine-tunes mixed7 from mixed6 only")
            }
            block = try FineTunedModel.readBlock(file, path: path)
        }
        return TrainedHead(path: path, head: head, provenance: provenance, block: block)
    }

    /// The base weights at `weightsPath`, bound to InceptionV3 up to the head's cut — after checking that the
    /// file's SHA-256 is the one recorded with the head (hashed before parsing, so a wrong file is refused early).
    /// A fine-tuned model's block replaces the base's mixed7 units (`file` stays the base file as read).
    public func baseWeights(path weightsPath: String) throws -> (file: KerasWeightsFile, weights: InceptionV3Weights) {
        let sha = try SHA256Hasher.digest(fileAt: weightsPath).hex
        guard sha == provenance.weightsSHA256 else {
            throw PredictionError.weightsMismatch(weights: weightsPath, weightsSHA256: sha, head: path,
                                                  recordedName: provenance.weightsName, recordedSHA256: provenance.weightsSHA256)
        }
        let file = try KerasWeightsFile.read(path: weightsPath)
        let name = weightsPath.split(separator: "/").last.map(String.init) ?? weightsPath
        var weights = try BaseWeights.match(file, path: weightsPath, sha256: sha, sourceName: name, cut: provenance.settings.layer)
        if let block { weights = try FineTunedModel.apply(block, to: weights, model: path) }
        return (file, weights)
    }
}

/// One image's prediction.
public struct ImagePrediction: Equatable, Sendable {
    public var path: String
    /// The predicted class: P(class 1) > 0.5 for a binary head (as the book's `classes[0] > 0.5`), else the
    /// first largest softmax output.
    public var classIndex: Int
    public var className: String
    /// The head's output exactly as Keras `model.predict` gives it: [sigmoid] for a binary head (P(class 1)),
    /// the softmax row for more classes.
    public var output: [Float]

    public init(path: String, classIndex: Int, className: String, output: [Float]) {
        self.path = path; self.classIndex = classIndex; self.className = className; self.output = output
    }

    /// P(class) for every class: [1 − s, s] for a binary head (1 − s in Double, so s itself is never rounded
    /// away — a sigmoid of 4.98e-24 stays in `output`), the softmax row otherwise.
    public var probabilities: [Double] {
        output.count == 1 ? [1 - Double(output[0]), Double(output[0])] : output.map(Double.init)
    }

    /// The probability of the predicted class.
    public var probability: Double { probabilities[classIndex] }
}

/// What happened to one image: predicted, or not readable (with the reason).
public enum PredictionOutcome: Equatable, Sendable {
    case predicted(ImagePrediction)
    case failed(path: String, reason: String)

    public var path: String {
        switch self {
        case .predicted(let p): return p.path
        case .failed(let path, _): return path
        }
    }
}

/// Images in, class predictions out, extracting exactly as the head's training features were extracted (the
/// recorded cut, size, resize and preprocessing — never the caller's), with the recorded weights file.
public final class Predictor {
    public let trained: TrainedHead
    public let extractor: FeatureExtractor
    public let batchSize: Int
    let headPredictor: HeadPredictor

    /// `weightsPath` must be the file the head records (same SHA-256); `batchSize` images go through the
    /// network at a time.
    public init(trained: TrainedHead, weightsPath: String, batchSize: Int = 32, threads: Int = 2) throws {
        self.trained = trained
        self.batchSize = max(1, batchSize)
        let (_, weights) = try trained.baseWeights(path: weightsPath)
        extractor = try FeatureExtractor(weights: weights, settings: trained.provenance.settings, threads: threads)
        guard extractor.featureShape == trained.provenance.featureShape else {
            throw PredictionError.inconsistentHead(path: trained.path, reason: "it records feature shape "
                + "\(trained.provenance.featureShape), but \(trained.provenance.settings.layer.rawValue) at "
                + "\(trained.provenance.settings.size)×\(trained.provenance.settings.size) gives \(extractor.featureShape)")
        }
        try extractor.checkMemory(batch: self.batchSize)
        headPredictor = HeadPredictor(head: trained.head, batchSize: self.batchSize)
    }

    /// Predicts `paths` in order, `batchSize` at a time, calling `each` once per image in the order given.
    /// An image that cannot be read is reported as `.failed` with the reason; the others are still predicted.
    public func predict(paths: [String], each: (PredictionOutcome) throws -> Void) rethrows {
        let F = extractor.featureCount, O = trained.head.layout.O
        let input = UnsafeMutableBufferPointer<Float>.allocate(capacity: batchSize * extractor.inputCount)
        let features = UnsafeMutablePointer<Float>.allocate(capacity: batchSize * F)
        defer { input.deallocate(); features.deallocate() }
        var start = 0
        while start < paths.count {
            let chunk = paths[start..<min(start + batchSize, paths.count)]
            start += chunk.count
            // Per path of the chunk: its slot in the network batch, or why it could not be read.
            var slots: [Result<Int, ImageReadFailure>] = []
            var n = 0
            for path in chunk {
                do {
                    try extractor.prepare(path: path, into: input, slot: n)
                    slots.append(.success(n))
                    n += 1
                } catch {
                    slots.append(.failure(ImageReadFailure(reason: Self.reason(error))))
                }
            }
            var outputs: [Float] = []
            if n > 0 {
                extractor.run(UnsafePointer(input.baseAddress!), count: n, into: features)
                outputs = headPredictor.predict(features: features, count: n)
            }
            for (path, slot) in zip(chunk, slots) {
                switch slot {
                case .failure(let f):
                    try each(.failed(path: path, reason: f.reason))
                case .success(let s):
                    let row = Array(outputs[(s * O)..<((s + 1) * O)])
                    let c = O == 1 ? (row[0] > 0.5 ? 1 : 0) : Self.argmax(row)
                    try each(.predicted(ImagePrediction(path: path, classIndex: c, className: trained.provenance.classNames[c], output: row)))
                }
            }
        }
    }

    /// Every outcome, in the order given.
    public func predict(paths: [String]) -> [PredictionOutcome] {
        var all: [PredictionOutcome] = []
        predict(paths: paths) { all.append($0) }
        return all
    }

    /// The first index of the largest value (NumPy's argmax).
    static func argmax(_ row: [Float]) -> Int {
        var best = 0
        for i in row.indices where row[i] > row[best] { best = i }
        return best
    }

    /// The reason without the path (the caller prints the path beside it).
    static func reason(_ error: Error) -> String {
        let text = "\(error)"
        if let e = error as? ImageError, text.hasPrefix(e.path + ": ") { return String(text.dropFirst(e.path.count + 2)) }
        return text
    }

    /// The images named by command-line arguments: a file stays as given (whatever its name — it is read by its
    /// content); a directory becomes every file below it whose name has an image suffix (Keras's rule,
    /// `Dataset.isImageName`), skipping hidden files and folders (such as macOS "._x.jpg" resource forks), sorted
    /// by relative path in code-point order (Python's `sorted`). A directory without images is an error.
    public static func imagePaths(_ arguments: [String]) throws -> [String] {
        var out: [String] = []
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), isDirectory.boolValue else {
                out.append(argument)
                continue
            }
            let root = URL(fileURLWithPath: argument)
            guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey],
                                                              options: [.skipsHiddenFiles]) else {
                throw PredictionError.noImages(directory: argument)
            }
            var relative: [String] = []
            let base = root.standardizedFileURL.path
            for case let url as URL in walker {
                guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                      Dataset.isImageName(url.lastPathComponent) else { continue }
                let full = url.standardizedFileURL.path
                relative.append(full.hasPrefix(base + "/") ? String(full.dropFirst(base.count + 1)) : url.lastPathComponent)
            }
            guard !relative.isEmpty else { throw PredictionError.noImages(directory: argument) }
            relative.sort { $0.unicodeScalars.lazy.map(\.value).lexicographicallyPrecedes($1.unicodeScalars.lazy.map(\.value)) }
            let prefix = argument.hasSuffix("/") ? argument : argument + "/"
            out.append(contentsOf: relative.map { prefix + $0 })
        }
        return out
    }
}

private struct ImageReadFailure: Error { var reason: String }
