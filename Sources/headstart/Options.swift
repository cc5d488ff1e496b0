import ArgumentParser
import Extract
import Foundation

extension CutLayer: ExpressibleByArgument {}
extension ResizeMethod: ExpressibleByArgument {}
extension PreprocessMode: ExpressibleByArgument {}

/// What decides an image's features besides the weights; shared by every command that runs the base network.
struct NetworkOptions: ParsableArguments {
    @Option(help: "Keras weights file of InceptionV3 without its top (the notop .h5).")
    var weights: String

    @Option(help: ArgumentHelp("Where to cut the network.", valueName: "mixed0…mixed10"))
    var layer: CutLayer = .mixed7

    @Option(help: "Input size in pixels (images are resized to size×size; at least 75).")
    var size: Int = 150

    @Option(help: ArgumentHelp("Resizing as Keras load_img does it: nearest (its default) or bilinear (antialiased when shrinking).", valueName: "nearest|bilinear"))
    var resize: ResizeMethod = .nearest

    @Option(help: ArgumentHelp("rescale: x/255, as the book's ImageDataGenerator(rescale=1./255); inception: x/127.5 − 1, as Keras preprocess_input.", valueName: "rescale|inception"))
    var preprocess: PreprocessMode = .rescale

    @Option(help: "Threads for the network (each GEMM runs on one; 0 = all cores).")
    var threads: Int = 0

    var settings: ExtractionSettings {
        ExtractionSettings(layer: layer, size: size, resize: resize, preprocess: preprocess)
    }

    var threadCount: Int { threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount }

    func validate() throws {
        guard size >= Network.minimumInputSize else {
            throw ValidationError("--size \(size) is too small: InceptionV3 needs at least \(Network.minimumInputSize) pixels.")
        }
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (all cores) or more.") }
    }

    /// Loads the weights file and builds the extractor.
    func extractor() throws -> FeatureExtractor {
        let w = try BaseWeights.load(path: weights, cut: layer)
        return try FeatureExtractor(weights: w, settings: settings, threads: threadCount)
    }
}
