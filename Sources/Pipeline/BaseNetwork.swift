import Extract

/// The frozen base a command runs, assembled in one place for `extract`, `features` and `run`: the weights file
/// loaded at the cut `settings` names and classified (Keras's file, seeded, other), and the extractor over it.
public struct BaseNetwork {
    public let weights: InceptionV3Weights
    public let origin: WeightsOrigin
    public let extractor: FeatureExtractor

    public init(weightsPath: String, settings: ExtractionSettings, threads: Int = 2) throws {
        (weights, origin) = try BaseWeights.loadClassified(path: weightsPath, cut: settings.layer)
        extractor = try FeatureExtractor(weights: weights, settings: settings, threads: threads)
    }
}
