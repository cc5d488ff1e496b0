import ArgumentParser
import Extract
import Foundation
import Pipeline
import Store

extension CutLayer: ExpressibleByArgument {}
extension ResizeMethod: ExpressibleByArgument {}
extension PreprocessMode: ExpressibleByArgument {}
extension FeatureDType: ExpressibleByArgument {}

extension Split: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument {
        case "train": self = .train
        case "validation": self = .validation
        default: return nil
        }
    }
    public static var allValueStrings: [String] { ["train", "validation"] }
}

/// What decides an image's features besides the images: shared by every command that runs the base network.
/// Unset options come from a pipeline file when one is given, else from the book's recipe.
struct NetworkOptions: ParsableArguments {
    @Option(help: "Keras weights file of InceptionV3 without its top (inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5).")
    var weights: String?

    @Option(help: ArgumentHelp("Where to cut the network (default mixed7).", valueName: "mixed0…mixed10"))
    var layer: CutLayer?

    @Option(help: "Input size in pixels; images are resized to size×size (default 150, at least 75).")
    var size: Int?

    @Option(help: ArgumentHelp("Resizing as Keras load_img does it: nearest (its default) or bilinear (antialiased when shrinking).", valueName: "nearest|bilinear"))
    var resize: ResizeMethod?

    @Option(help: ArgumentHelp("rescale: x/255, as the book's ImageDataGenerator(rescale=1./255) (default); inception: x/127.5 − 1, as Keras preprocess_input.", valueName: "rescale|inception"))
    var preprocess: PreprocessMode?

    @OptionGroup var threads: ThreadsOption

    func validate() throws {
        if let size, size < Network.minimumInputSize {
            throw ValidationError("--size \(size) is too small: InceptionV3 needs at least \(Network.minimumInputSize) pixels.")
        }
        try checked { if let size { try Setting.size.checkFlag(size) } }
    }

    var threadCount: Int { threads.count }

    /// The settings, from these options, then the pipeline file, then the book's defaults.
    func settings(_ pipeline: PipelineDefinition? = nil) -> ExtractionSettings {
        let base = pipeline?.extractionSettings ?? ExtractionSettings()
        let s = ExtractionSettings(layer: layer ?? base.layer, size: size ?? base.size,
                                   resize: resize ?? base.resize, preprocess: preprocess ?? base.preprocess)
        return s
    }

    func weightsPath(_ pipeline: PipelineDefinition? = nil) throws -> String {
        guard let w = weights ?? pipeline?.weights else {
            throw ValidationError("Give the weights file with --weights (the notop .h5; `headstart seeded-weights` makes a test one).")
        }
        return w
    }
}

/// Runs flag checks (`Setting`, `OutputPath`), turning their errors into the usage errors ArgumentParser prints.
func checked(_ body: () throws -> Void) throws {
    do { try body() } catch let e as SettingError { throw ValidationError("\(e).") }
}

/// `--skip-damaged`, for every command that reads features from a cache.
struct DamageOptions: ParsableArguments {
    @Flag(help: "Go on without cache entries whose index entry or record is damaged (each is reported on standard error). Without it, damage stops the command before it uses anything.")
    var skipDamaged = false

    var policy: DamagePolicy { skipDamaged ? .skip : .refuse }

    /// Names every skipped entry on standard error (standard output stays the command's result).
    static func report(_ damaged: [DamagedEntry]) {
        guard !damaged.isEmpty else { return }
        let lines = ["skipped \(damaged.count) damaged cache \(damaged.count == 1 ? "entry" : "entries") (--skip-damaged):"]
            + damaged.map { "  \($0)" }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// How every command shows where the base weights came from: one line, and for anything but Keras's ImageNet file
/// a warning in words, on standard output beside the results it qualifies.
func weightsLines(_ origin: WeightsOrigin, name: String) -> [String] {
    ["weights: \(name): \(origin)"] + (origin.warning.map { ["WARNING: \($0)"] } ?? [])
}

/// `--threads`, for every command that runs the base network.
struct ThreadsOption: ParsableArguments {
    @Option(help: "Threads for the network (0 = all cores).")
    var threads: Int = 0

    func validate() throws { try checked { try Setting.threads.checkFlag(threads) } }

    var count: Int { threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount }
}

/// `--batch` where it is the network's batch (`features`, `predict`).
struct NetworkBatchOption: ParsableArguments {
    @Option(help: "Images per network batch.")
    var batch: Int = 32

    func validate() throws { try checked { try Setting.extractBatch.checkFlag(batch) } }
}
