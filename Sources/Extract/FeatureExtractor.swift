import Foundation

/// Everything that decides what features an image gets, besides the weights: what a cache fingerprint and a
/// saved head record so that extraction, training and prediction cannot silently disagree.
public struct ExtractionSettings: Codable, Equatable, Sendable {
    public var layer: CutLayer
    public var size: Int
    public var resize: ResizeMethod
    public var preprocess: PreprocessMode

    /// The book's recipe: 150×150, mixed7, Keras `load_img` nearest resize, rescale 1/255.
    public init(layer: CutLayer = .mixed7, size: Int = 150, resize: ResizeMethod = .nearest, preprocess: PreprocessMode = .rescale) {
        self.layer = layer; self.size = size; self.resize = resize; self.preprocess = preprocess
    }
}

extension ResizeMethod: Codable {}
extension PreprocessMode: Codable {}

/// Images in, features out: Keras `load_img` (decode, resize) and preprocessing into a batch slot, then the
/// network. Image preparation is safe to call from several threads at once (each on its own slot);
/// `run` is not reentrant.
public final class FeatureExtractor {
    public let settings: ExtractionSettings
    public let network: Network
    public let pixelLimit: Int
    /// (h, w, c) per image.
    public var featureShape: [Int] { network.outputShape }
    public var featureCount: Int { network.outputShape.reduce(1, *) }
    public var inputCount: Int { settings.size * settings.size * 3 }

    public init(weights: InceptionV3Weights, settings: ExtractionSettings, threads: Int = 2,
                pixelLimit: Int = ImageDecoder.defaultPixelLimit) throws {
        self.settings = settings
        self.pixelLimit = pixelLimit
        network = try Network(weights: weights, cut: settings.layer, height: settings.size, width: settings.size, threads: threads)
    }

    /// Decodes and resizes `path` as Keras does and writes it preprocessed into `slot` of `batch`
    /// (N, size, size, 3). Returns the decoded image's details (format, libjpeg warnings).
    @discardableResult
    public func prepare(path: String, into batch: UnsafeMutableBufferPointer<Float>, slot: Int) throws -> DecodedImage {
        let decoded = try ImageDecoder.load(path: path, height: settings.size, width: settings.size,
                                            method: settings.resize, pixelLimit: pixelLimit)
        ImagePreprocess.write(decoded.image, mode: settings.preprocess, into: batch, slot: slot)
        return decoded
    }

    /// Prepares image bytes already in memory (`name` only for messages).
    @discardableResult
    public func prepare(data: [UInt8], name: String, into batch: UnsafeMutableBufferPointer<Float>, slot: Int) throws -> DecodedImage {
        var decoded = try ImageDecoder.decode(data: data, name: name, pixelLimit: pixelLimit)
        decoded.image = ImageResize.resize(decoded.image, height: settings.size, width: settings.size, method: settings.resize)
        ImagePreprocess.write(decoded.image, mode: settings.preprocess, into: batch, slot: slot)
        return decoded
    }

    /// A batch that would not fit this machine's memory.
    public struct TooLarge: Error, CustomStringConvertible {
        public var batch: Int, size: Int, bytes: Int, available: Int
        public var description: String {
            String(format: "a batch of %d images of %d×%d needs about %.1f GiB in the network, more than this machine's %.1f GiB; use a smaller --batch or --size",
                   batch, size, size, Double(bytes) / Double(1 << 30), Double(available) / Double(1 << 30))
        }
    }

    /// About what a batch of `batch` images costs in memory: the network keeps some 32 floats of activations per
    /// input value at its widest point (measured 6.8 MB per 150×150 image; the count grows with size²), plus
    /// the input and output. Nil when that overflows. An estimate, to refuse early a batch no machine here
    /// could hold — not an accounting.
    public func estimatedBytes(batch: Int) -> Int? {
        let (perImage, o1) = (33 * inputCount + featureCount).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        let (total, o2) = perImage.multipliedReportingOverflow(by: batch)
        return o1 || o2 ? nil : total
    }

    /// Throws `TooLarge` when a batch of `batch` images would not fit this machine's memory.
    public func checkMemory(batch: Int) throws {
        let available = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        let bytes = estimatedBytes(batch: batch) ?? .max
        guard bytes <= available else { throw TooLarge(batch: batch, size: settings.size, bytes: bytes, available: available) }
    }

    /// Runs the network on the first `count` slots of a prepared batch.
    public func run(_ batch: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>) {
        network.forward(batch, batch: count, into: output)
    }

    /// Features of `paths`, in order, (N, h, w, c) contiguous, `batchSize` images at a time. The first image
    /// that cannot be read stops it with an error naming the file.
    public func features(paths: [String], batchSize: Int = 32) throws -> [Float] {
        try checkMemory(batch: min(max(batchSize, 1), max(paths.count, 1)))
        var out = [Float](repeating: 0, count: paths.count * featureCount)
        var input = [Float](repeating: 0, count: min(batchSize, max(paths.count, 1)) * inputCount)
        var start = 0
        while start < paths.count {
            let n = min(batchSize, paths.count - start)
            try input.withUnsafeMutableBufferPointer { buf in
                for i in 0..<n { try prepare(path: paths[start + i], into: buf, slot: i) }
            }
            out.withUnsafeMutableBufferPointer { o in
                run(input, count: n, into: o.baseAddress! + start * featureCount)
            }
            start += n
        }
        return out
    }
}
