/// The book's head recipe (Moroney's Horses-or-Humans transfer-learning notebook), the one home of every default
/// the head's types, `train`, `sweep`, `run` and pipeline files fall back to: Flatten → Dense(1024, relu) →
/// Dense(1, sigmoid), no dropout, RMSprop(1e-4), 40 epochs of batches of 20, shuffled every epoch, seed 0.
/// (RMSprop's rho and epsilon are Keras 3's defaults, kept beside the optimiser in `RMSpropConfig`.)
public struct Recipe: Equatable, Sendable {
    public var hidden: Int
    public var dropout: Float
    /// As the book writes it (a Python float); Keras casts it to float32 at use, as `Float(learningRate)` does.
    public var learningRate: Double
    public var epochs: Int
    public var batchSize: Int
    public var shuffle: Bool
    public var seed: UInt64

    public static let book = Recipe(hidden: 1024, dropout: 0, learningRate: 1e-4, epochs: 40, batchSize: 20,
                                    shuffle: true, seed: 0)
}
