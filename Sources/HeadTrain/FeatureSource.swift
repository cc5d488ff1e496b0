/// Where training and evaluation get features: `count` samples of `featureCount` floats each (the flattened
/// cut-layer activation in Keras's Flatten order, h·w·c), with integer class labels. The cache implements it
/// by decoding float16 records per batch, so a dataset never has to exist as float32 all at once.
public protocol FeatureSource {
    var count: Int { get }
    var featureCount: Int { get }
    /// Class labels in 0..<classes, one per sample, in sample order.
    func labels() -> [Int]
    /// Writes the features of `indices` (in that order) as rows of `into` (indices.count × featureCount).
    func fill(indices: [Int], into: UnsafeMutablePointer<Float>) throws
    /// Called by `HeadTrainer.fit` at the start of every epoch (0-based) with the order in which it will then
    /// request the samples (batch after batch, through `fill`): sources whose features change per epoch
    /// (augmented views) choose them here, and may prepare them ahead in that order.
    func startEpoch(_ epoch: Int, order: [Int])
}

extension FeatureSource {
    /// Most sources give the same features every epoch.
    public func startEpoch(_ epoch: Int, order: [Int]) {}
}

/// Features held in memory as float32 rows (tests, small datasets).
public struct InMemoryFeatures: FeatureSource {
    public let featureCount: Int
    public let features: [Float]
    public let classLabels: [Int]

    public init(features: [Float], featureCount: Int, labels: [Int]) throws {
        guard featureCount > 0, features.count == featureCount * labels.count else {
            throw HeadError.shapeMismatch(what: "in-memory features", expected: [labels.count, featureCount],
                                          found: [features.count])
        }
        self.features = features
        self.featureCount = featureCount
        self.classLabels = labels
    }

    public var count: Int { classLabels.count }
    public func labels() -> [Int] { classLabels }

    public func fill(indices: [Int], into: UnsafeMutablePointer<Float>) throws {
        features.withUnsafeBufferPointer { f in
            for (row, i) in indices.enumerated() {
                precondition(i >= 0 && i < count, "sample index \(i) outside 0..<\(count)")
                (into + row * featureCount).update(from: f.baseAddress! + i * featureCount, count: featureCount)
            }
        }
    }
}
