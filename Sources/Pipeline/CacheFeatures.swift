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
