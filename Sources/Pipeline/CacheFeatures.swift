import HeadTrain
import Store

/// Training and evaluation features straight from a cache: one split's index entries (sorted by path), each
/// batch decoded from the stored float16 (or float32) records into the trainer's buffer. Nothing is held as
/// float32 beyond the current batch, so peak memory stays near the cache's own size (its mapped pages).
public struct CacheFeatures: FeatureSource {
    public let cache: FeatureCache
    public let entries: [IndexEntry]
    /// Which stored view each sample reads (0 = the image itself).
    public var view: UInt16 = 0

    public init(cache: FeatureCache, split: Split) throws {
        self.cache = cache
        self.entries = try cache.indexEntries(split: split)
    }

    public init(cache: FeatureCache, entries: [IndexEntry]) {
        self.cache = cache
        self.entries = entries
    }

    public var count: Int { entries.count }
    public var featureCount: Int { cache.fingerprint.featureCount }
    public func labels() -> [Int] { entries.map { Int($0.label) } }

    public func fill(indices: [Int], into: UnsafeMutablePointer<Float>) throws {
        try cache.features(for: indices.map { entries[$0] }, view: view,
                           into: UnsafeMutableBufferPointer(start: into, count: indices.count * featureCount))
    }
}

/// What a command that reads a cache does with damaged entries: refuse before using anything (the default), or
/// go on without them (`--skip-damaged`). Either way they are reported by path with the reason.
public enum DamagePolicy: Sendable {
    case refuse, skip
}

/// Damaged index entries or records found by a command reading a cache without `--skip-damaged`.
public struct DamagedCacheError: Error, CustomStringConvertible {
    public var cache: String
    public var damaged: [DamagedEntry]
    public static let shown = 20

    public var description: String {
        var lines = ["feature cache \(cache): \(damaged.count) damaged \(damaged.count == 1 ? "entry" : "entries"), so nothing was used:"]
        lines += damaged.prefix(Self.shown).map { "  \($0)" }
        if damaged.count > Self.shown { lines.append("  … and \(damaged.count - Self.shown) more (`headstart inspect \(cache) --verify` lists them all)") }
        lines.append("--skip-damaged goes on without them; `headstart extract` into the cache again re-extracts them.")
        return lines.joined(separator: "\n")
    }
}

extension FeatureCache {
    /// `screen(split:views:)`, then the policy: with `.refuse`, any damaged entry or view is an error listing them.
    public func screened(split: Split? = nil, views: Bool = false, policy: DamagePolicy) throws -> Screening {
        let s = try screen(split: split, views: views)
        let damaged = s.damaged + s.damagedViews
        if policy == .refuse && !damaged.isEmpty { throw DamagedCacheError(cache: path, damaged: damaged) }
        return s
    }
}
