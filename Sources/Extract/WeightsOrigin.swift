import KerasH5
import Numerics

/// Where a base weights file comes from, decided when it is loaded and carried with everything made from it (the
/// cache, the head file, every report), so that results from anything but Keras's ImageNet weights are never
/// mistaken for the recipe's:
///
/// - `kerasImageNet`: the file `keras.applications.InceptionV3(include_top=False, weights="imagenet")` downloads,
///   recognised by the MD5 Keras publishes for it (`file_hash` in keras/src/applications/inception_v3.py).
/// - `seeded`: written by headstart's seeded writer (`SeededWeights.kerasFile`), which stamps the file's root with
///   the attribute `headstart_seeded_weights` ("seed=7 generator=1"); the stamp is read back.
/// - `other`: anything else (fine-tuned weights, a different download, a damaged copy).
/// - `unrecorded`: a cache or head made before headstart recorded the origin.
public enum WeightsOrigin: Equatable, Sendable, CustomStringConvertible {
    case kerasImageNet
    case seeded(seed: UInt64, generatorVersion: Int)
    case other
    case unrecorded

    /// Keras's published MD5 of inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 (Fetch's catalogue
    /// checks downloads against the same value; a test keeps the two equal).
    public static let kerasNoTopMD5 = "bcbd6486424b2319ff4ef7d526e38f63"
    /// The root attribute the seeded writer stamps its files with.
    public static let seededStampAttribute = "headstart_seeded_weights"

    /// Classifies a weights file from its MD5 and root attributes.
    public static func classify(md5: String, attributes: [String: String]) -> WeightsOrigin {
        if md5.lowercased() == kerasNoTopMD5 { return .kerasImageNet }
        if let stamp = attributes[seededStampAttribute], let seeded = seeded(stamp: stamp) { return seeded }
        return .other
    }

    /// The seeded writer's stamp: "seed=S generator=V".
    public static func stamp(seed: UInt64, generatorVersion: Int) -> String { "seed=\(seed) generator=\(generatorVersion)" }

    static func seeded(stamp: String) -> WeightsOrigin? {
        var fields = [String: String]()
        for part in stamp.split(separator: " ") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { return nil }
            fields[String(kv[0])] = String(kv[1])
        }
        guard let seed = fields["seed"].flatMap({ UInt64($0) }), let version = fields["generator"].flatMap({ Int($0) }) else {
            return nil
        }
        return .seeded(seed: seed, generatorVersion: version)
    }

    /// The machine-readable word stored in caches and head files and written to every JSON and CSV:
    /// "keras-imagenet", "seeded seed=7 generator=1", "other" or "unrecorded".
    public var recorded: String {
        switch self {
        case .kerasImageNet: return "keras-imagenet"
        case let .seeded(seed, version): return "seeded " + WeightsOrigin.stamp(seed: seed, generatorVersion: version)
        case .other: return "other"
        case .unrecorded: return "unrecorded"
        }
    }

    /// Reads `recorded` back; a word this build does not know is `unrecorded`.
    public init(recorded: String?) {
        switch recorded {
        case "keras-imagenet": self = .kerasImageNet
        case "other": self = .other
        case let r? where r.hasPrefix("seeded "):
            self = WeightsOrigin.seeded(stamp: String(r.dropFirst("seeded ".count))) ?? .unrecorded
        default: self = .unrecorded
        }
    }

    public var isKerasImageNet: Bool { self == .kerasImageNet }

    /// What the weights are, in words.
    public var description: String {
        switch self {
        case .kerasImageNet: return "Keras's ImageNet weights (MD5 \(WeightsOrigin.kerasNoTopMD5) verified)"
        case let .seeded(seed, version): return "seeded weights (seed \(seed), generator \(version)), not trained"
        case .other: return "other weights (not Keras's ImageNet file: its MD5 differs)"
        case .unrecorded: return "weights of unrecorded origin (made by an older headstart)"
        }
    }

    /// Said wherever results appear when the weights are not Keras's ImageNet file; nil when they are.
    public var warning: String? {
        switch self {
        case .kerasImageNet: return nil
        case let .seeded(seed, _):
            return "seeded weights (seed \(seed)), not Keras's ImageNet weights: accuracy means nothing"
        case .other:
            return "other weights, not Keras's ImageNet weights: these results are not the recipe's"
        case .unrecorded:
            return "the weights' origin was not recorded: these results are not known to come from Keras's ImageNet weights"
        }
    }
}

extension BaseWeights {
    /// `load`, with the file's origin: its MD5 against Keras's, and the seeded writer's stamp.
    public static func loadClassified(path: String, cut: CutLayer = .mixed7) throws -> (weights: InceptionV3Weights, origin: WeightsOrigin) {
        let file = try KerasWeightsFile.read(path: path)
        let sha = try SHA256Hasher.digest(fileAt: path).hex
        let md5 = try MD5Hasher.digest(fileAt: path).hex
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let weights = try match(file, path: path, sha256: sha, sourceName: name, cut: cut)
        return (weights, WeightsOrigin.classify(md5: md5, attributes: file.attributes))
    }
}

extension SeededWeights {
    /// The seeded notop file, stamped with its seed and generator version so that it is recognised as seeded
    /// wherever it is loaded (`WeightsOrigin`), whatever its name.
    public static func kerasFile(seed: UInt64) -> KerasWeightsFile {
        var file = BaseWeights.kerasFile(units: generate(seed: seed))
        file.attributes[WeightsOrigin.seededStampAttribute] = WeightsOrigin.stamp(seed: seed, generatorVersion: generatorVersion)
        return file
    }
}
