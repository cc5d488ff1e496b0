/// headstart's seeded random numbers for the head: initial weights, per-epoch shuffles and dropout masks.
///
/// The generator is SplitMix64 (Steele, Lea, Flood 2014) used as a *counter-based* stream: element `i`
/// (0-based) of the stream keyed `key` is
///
///     s = key &+ (i + 1) &* 0x9E3779B97F4A7C15
///     z = (s ^ (s >> 30)) &* 0xBF58476D1CE4E5B9
///     z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
///     out = z ^ (z >> 31)
///
/// which is exactly the sequential SplitMix64 started from state `key`. Being counter-based it is trivial to
/// reproduce in NumPy (Tools/keras-reference/head_reference.py does, with uint64 arithmetic), so the Keras
/// reference and the Swift tests can build identical features and initial weights without committing them.
///
/// A uniform float in [0, 1) is `Float(out >> 40) · 2⁻²⁴` (24 random bits, exact in float32).
///
/// Stream keys are derived from the user's seed and a purpose tag with `streamKey(seed:tag:index:)`, so the
/// initial weights do not depend on how many shuffles or dropout masks were drawn before.
public struct SplitMix64 {
    public private(set) var state: UInt64

    public init(key: UInt64) { state = key }

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

    /// Uniform in [0, 1) with 24 random bits.
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

    /// Purpose tags for `streamKey`.
    public enum Tag: UInt64 {
        case kernel1 = 1, kernel2 = 2, shuffle = 3, dropout = 4, features = 5, labels = 6
    }

    /// key = mix(seed ⊕ tag·0xD1B54A32D192ED03 ⊕ mix(index + 1)): distinct streams for distinct (tag, index).
    public static func streamKey(seed: UInt64, tag: Tag, index: UInt64 = 0) -> UInt64 {
        mix(seed ^ (tag.rawValue &* 0xD1B5_4A32_D192_ED03) ^ mix(index &+ 1))
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
