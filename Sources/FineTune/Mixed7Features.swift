import Extract
import HeadTrain
import Numerics

/// mixed7 computed from a source of mixed6 features through a (fine-tuned) mixed7 block: what `evaluate` and
/// `report` read for a fine-tuned model over the mixed6 cache it trained on. Forward only, in chunks of `batch`.
public final class Mixed7Features: FeatureSource {
    let mixed6: FeatureSource
    let block: Mixed7Block
    /// One chunk of mixed6 [batch, H·W·768].
    let input: AlignedFloats

    public init(mixed6: FeatureSource, units: [ConvBNParameters], height: Int, width: Int, batch: Int = 32, threads: Int = 2) throws {
        block = try Mixed7Block(units: units, capacity: batch, height: height, width: width, threads: threads)
        guard mixed6.featureCount == block.inputCount else {
            throw FineTuneError.invalidSize("the source has \(mixed6.featureCount) features per sample; mixed6 at \(height)×\(width) has \(block.inputCount)")
        }
        self.mixed6 = mixed6
        input = AlignedFloats(count: batch * block.inputCount)
    }

    public var count: Int { mixed6.count }
    public var featureCount: Int { block.outputCount }
    public func labels() -> [Int] { mixed6.labels() }

    public func fill(indices: [Int], into: UnsafeMutablePointer<Float>) throws {
        for s in stride(from: 0, to: indices.count, by: block.capacity) {
            let b = min(indices.count - s, block.capacity)
            try mixed6.fill(indices: Array(indices[s..<(s + b)]), into: input.pointer)
            block.forward(input: input.pointer, B: b, output: into + s * block.outputCount)
        }
    }
}
