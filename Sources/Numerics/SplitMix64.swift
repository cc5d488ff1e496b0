/// SplitMix64 (Steele, Lea, Flood 2014): headstart's one generator of seeded random numbers. The head's weights,
/// shuffles and dropout masks (HeadTrain), the seeded InceptionV3 weights and the augmentation draws (Extract) and
/// the sweep's sampled configs (Pipeline) all use this finaliser and stream, so each is written once.
///
/// Sequential form, from state `key`:
///
///     s = key &+ (i + 1) &* 0x9E3779B97F4A7C15          (element i, 0-based)
///     z = (s ^ (s >> 30)) &* 0xBF58476D1CE4E5B9
///     z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
///     out = z ^ (z >> 31)                                  (`mix(s)`, the finaliser)
///
/// Being counter-based it is trivial to reproduce in NumPy (Tools/keras-reference/head_reference.py and
/// seeded_weights.py do, with uint64 arithmetic).
public struct SplitMix64 {
    public private(set) var state: UInt64

    public init(key: UInt64) { state = key }

    /// The finaliser: a bijection of UInt64 whose outputs pass BigCrush for consecutive inputs.
    @inline(__always)
    public static func mix(_ s: UInt64) -> UInt64 {
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// Uniform in [0, 1) with 24 random bits: `Float(out >> 40) · 2⁻²⁴` (exact in float32).
    @inline(__always)
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform integer in 0..<n (n ≥ 1) by multiply-shift on the top 32 bits (bias < n / 2³², irrelevant
    /// for shuffling datasets of millions).
    @inline(__always)
    public mutating func nextIndex(below n: Int) -> Int {
        Int((UInt64(next() >> 32) &* UInt64(n)) >> 32)
    }
}

extension Array where Element == Int {
    /// Fisher–Yates (Durstenfeld) shuffle with headstart's generator: for i from n−1 down to 1, swap i with
    /// j = nextIndex(below: i + 1).
    public mutating func shuffle(with rng: inout SplitMix64) {
        guard count > 1 else { return }
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = rng.nextIndex(below: i + 1)
            if i != j { swapAt(i, j) }
        }
    }
}
