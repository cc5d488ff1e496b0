import Numerics

/// headstart's seeded random numbers for the head: initial weights, per-epoch shuffles and dropout masks, drawn
/// from `SplitMix64` (Numerics) used as a *counter-based* stream, so the Keras reference
/// (Tools/keras-reference/head_reference.py) and the Swift tests can build identical features and initial weights
/// without committing them.
///
/// Stream keys are derived from the user's seed and a purpose tag with `streamKey(seed:tag:index:)`, so the
/// initial weights do not depend on how many shuffles or dropout masks were drawn before.
extension SplitMix64 {
    /// Purpose tags for `streamKey`.
    public enum Tag: UInt64 {
        case kernel1 = 1, kernel2 = 2, shuffle = 3, dropout = 4, features = 5, labels = 6
    }

    /// key = mix(seed ⊕ tag·0xD1B54A32D192ED03 ⊕ mix(index + 1)): distinct streams for distinct (tag, index).
    public static func streamKey(seed: UInt64, tag: Tag, index: UInt64 = 0) -> UInt64 {
        mix(seed ^ (tag.rawValue &* 0xD1B5_4A32_D192_ED03) ^ mix(index &+ 1))
    }
}
