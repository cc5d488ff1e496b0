import Extract
import Foundation
import Store

/// What makes a cache's augmented views: the Keras `ImageDataGenerator` ranges and the global seed that, with an
/// image's content key and the view number, draws each view's parameters (`AugmentationSettings.draw`).
/// Its `fingerprintDescription` is what the cache fingerprint's `augmentation` field records.
public struct AugmentRecipe: Equatable, Sendable {
    public var settings: AugmentationSettings
    public var seed: UInt64

    public init(settings: AugmentationSettings, seed: UInt64 = 0) {
        self.settings = settings
        self.seed = seed
    }

    /// The recipe a run uses, decided here once for `extract --views` and `train --augment live`: the settings
    /// given (flags or a pipeline file) win over the cache's recorded ones, the seed given over the recorded one,
    /// else 0. Nil when neither gives settings.
    public static func resolve(given: AugmentationSettings?, seed: UInt64?, recorded: AugmentRecipe?) -> AugmentRecipe? {
        guard let settings = given ?? recorded?.settings else { return nil }
        return AugmentRecipe(settings: settings, seed: seed ?? recorded?.seed ?? 0)
    }

    /// `settings.canonicalDescription` followed by ` seed=S`.
    public var fingerprintDescription: String { settings.canonicalDescription + " seed=\(seed)" }

    /// Parses a `fingerprintDescription` back (the cache records only the description). Nil when it is not one
    /// this version writes (another draw version or interpolation order, a missing or unreadable field).
    public init?(fingerprintDescription text: String) {
        let parts = text.split(separator: " ").map(String.init)
        guard parts.first == "augment/v1" else { return nil }
        var f = [String: String]()
        for p in parts.dropFirst() {
            guard let eq = p.firstIndex(of: "=") else { return nil }
            f[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        guard f["order"] == "\(AugmentationSettings.interpolationOrder)", f["draw"] == "v\(AugmentationSettings.drawVersion)"
        else { return nil }
        func number(_ k: String) -> Double? { f[k].flatMap(Double.init) }
        func interval(_ k: String) -> Interval?? {
            guard let v = f[k] else { return nil }
            if v == "none" { return .some(nil) }
            let lh = v.split(separator: ":").compactMap { Double($0) }
            return lh.count == 2 ? .some(Interval(lh[0], lh[1])) : nil
        }
        guard let rotation = number("rotation"), let ws = number("width_shift"), let hs = number("height_shift"),
              let shear = number("shear"), let zoom = interval("zoom"), let z = zoom,
              let hf = f["horizontal_flip"].flatMap(Bool.init), let vf = f["vertical_flip"].flatMap(Bool.init),
              let brightness = interval("brightness"), let cs = number("channel_shift"),
              let fill = f["fill"].flatMap(FillMode.init(rawValue:)), let cval = number("cval"),
              let seed = f["seed"].flatMap(UInt64.init) else { return nil }
        self.init(settings: AugmentationSettings(rotation: rotation, widthShift: ws, heightShift: hs, shear: shear,
                                                 zoom: z, horizontalFlip: hf, verticalFlip: vf, brightness: brightness,
                                                 channelShift: cs, fill: fill, cval: cval),
                  seed: seed)
        guard fingerprintDescription == text else { return nil }
    }

    /// The recipe a cache recorded, or nil when it holds no augmented views. Throws when it recorded one this
    /// version cannot read.
    public static func recorded(in cache: FeatureCache) throws -> AugmentRecipe? {
        guard let text = cache.fingerprint.augmentation else { return nil }
        guard let r = AugmentRecipe(fingerprintDescription: text) else {
            throw AugmentedViewsError.otherDrawVersion(cache: cache.path, recorded: text)
        }
        return r
    }
}

/// Why a cache's augmented views cannot be extracted or extended, naming the cache.
public enum AugmentedViewsError: Error, CustomStringConvertible {
    /// The cache's recorded augmentation was drawn by another draw version: new views would not match its old ones.
    case otherDrawVersion(cache: String, recorded: String)
    /// More views per image than the record key's view number holds.
    case tooManyViews(cache: String, views: Int)
    /// Views asked for with no augmentation settings given or recorded.
    case noSettings(cache: String, views: Int)

    public var description: String {
        switch self {
        case let .otherDrawVersion(cache, text):
            return "feature cache \(cache): the cache's augmentation '\(text)' was written by another version of headstart (another draw version); its views cannot be extended"
        case let .tooManyViews(cache, views):
            return "feature cache \(cache): --views \(views): at most \(Int(UInt16.max) - 1) views per image"
        case let .noSettings(cache, views):
            return "feature cache \(cache): --views \(views) needs augmentation settings (--book, --rotation …, or a pipeline's augment: section); the cache has none recorded"
        }
    }
}

/// Preparing the network input of an image's views from one decode.
enum ViewInput {
    /// Writes view `view` of the already decoded and resized (`load_img`) image into `slot` of `batch`: view 0 is
    /// the image preprocessed (exactly as plain extraction); views > 0 are Keras's order resize → augment →
    /// preprocess, with the parameters `recipe` draws for (content key, view). `scratch` holds 2·H·W·3 floats.
    static func write(_ image: RGBImage, key: ContentKey, view: UInt16, recipe: AugmentRecipe?, mode: PreprocessMode,
                      into batch: UnsafeMutableBufferPointer<Float>, slot: Int, scratch: UnsafeMutableBufferPointer<Float>) {
        if view == 0 {
            ImagePreprocess.write(image, mode: mode, into: batch, slot: slot)
            return
        }
        let recipe = recipe!
        let p = recipe.settings.draw(seed: recipe.seed, key: key.bytes, view: Int(view), height: image.height, width: image.width)
        Augment.writeAugmented(image, parameters: p, settings: recipe.settings, mode: mode, into: batch, slot: slot, scratch: scratch)
    }

    /// Decode and `load_img` resize, as `FeatureExtractor.prepare(data:)` does before preprocessing.
    static func load(_ bytes: [UInt8], name: String, extractor: FeatureExtractor) throws -> DecodedImage {
        var d = try ImageDecoder.decode(data: bytes, name: name, pixelLimit: extractor.pixelLimit)
        let s = extractor.settings
        d.image = ImageResize.resize(d.image, height: s.size, width: s.size, method: s.resize)
        return d
    }
}

/// Which stored view a training sample reads in an epoch (`--augment views`): index
///   mix64(mix64(mix64(seed ^ 0x5649_4557) ^ epoch) ^ w0) mod count,   ("VIEW"; w0 = the key's first 8 bytes, LE)
/// into the image's stored views (ascending, the original included), so it depends on (seed, epoch, content key)
/// only, never on the order of the samples.
public enum ViewChoice {
    public static func hash(seed: UInt64, epoch: Int, key: ContentKey, salt: UInt64 = 0x5649_4557) -> UInt64 {
        var w: UInt64 = 0
        for b in 0..<8 { w |= UInt64(key.bytes[b]) << (8 * UInt64(b)) }
        var s = SeededWeights.mix64(seed ^ salt)
        s = SeededWeights.mix64(s ^ UInt64(bitPattern: Int64(epoch)))
        return SeededWeights.mix64(s ^ w)
    }

    public static func index(seed: UInt64, epoch: Int, key: ContentKey, count: Int) -> Int {
        precondition(count > 0)
        return Int(hash(seed: seed, epoch: epoch, key: key) % UInt64(count))
    }
}
