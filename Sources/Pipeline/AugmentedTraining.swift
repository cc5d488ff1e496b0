import Extract
import Foundation
import HeadTrain
import Numerics
import Store

/// `train --augment views`: every epoch each training sample reads one of the views its image has in the cache
/// (the original included), chosen by `ViewChoice` from (seed, epoch, content key). Reads exactly as much as
/// plain training (one record per sample), so an epoch costs the same.
public final class CacheViewFeatures: FeatureSource {
    public let cache: FeatureCache
    public let entries: [IndexEntry]
    public let seed: UInt64
    /// Per sample, the views its image has in the cache, ascending.
    public let views: [[UInt16]]
    /// Per sample, the view it reads this epoch (view 0 until the first `startEpoch`).
    public private(set) var chosen: [UInt16]

    public convenience init(cache: FeatureCache, entries: [IndexEntry], seed: UInt64) throws {
        self.init(cache: cache, entries: entries, seed: seed, storedViews: try cache.storedViews())
    }

    /// `storedViews`: each content key's views to choose from (`FeatureCache.screen(views: true)` gives the sound
    /// ones); a key without any reads view 0.
    public init(cache: FeatureCache, entries: [IndexEntry], seed: UInt64, storedViews: [ContentKey: [UInt16]]) {
        self.cache = cache
        self.entries = entries
        self.seed = seed
        views = entries.map { storedViews[$0.key] ?? [0] }
        chosen = [UInt16](repeating: 0, count: entries.count)
    }

    public var count: Int { entries.count }
    public var featureCount: Int { cache.fingerprint.featureCount }
    public func labels() -> [Int] { entries.map { Int($0.label) } }

    public func startEpoch(_ epoch: Int, order: [Int]) {
        for i in entries.indices {
            let v = views[i]
            chosen[i] = v[ViewChoice.index(seed: seed, epoch: epoch, key: entries[i].key, count: v.count)]
        }
    }

    public func fill(indices: [Int], into: UnsafeMutablePointer<Float>) throws {
        try cache.features(for: indices.map { entries[$0] }, views: indices.map { chosen[$0] },
                           into: UnsafeMutableBufferPointer(start: into, count: indices.count * featureCount))
    }
}

/// `train --augment live`: what the background producer needs.
public struct LiveAugmentation {
    /// Fraction of each epoch's training samples re-extracted from freshly augmented images (0…1).
    public var fresh: Double
    /// The base weights; their SHA-256 must be the cache's.
    public var weights: InceptionV3Weights
    /// The recipe (nil: the cache's recorded one).
    public var recipe: AugmentRecipe?
    /// Write the fresh views into the cache (one transaction per producer batch).
    public var keepViews = false
    /// The dataset folder (nil: the one the cache records).
    public var dataset: String?
    /// Network threads of the producer.
    public var threads = 2
    /// Images per producer network batch.
    public var batchSize = 32
    /// Producer batches that may wait for the trainer (the bounded queue).
    public var queueDepth = 2

    public init(fresh: Double, weights: InceptionV3Weights) {
        self.fresh = fresh
        self.weights = weights
    }
}

/// What the live producer did.
public struct LiveAugmentationStats: Sendable {
    /// Fresh samples the network computed (over all epochs), and those written to the cache.
    public var freshSamples = 0
    public var viewsWritten = 0
    /// Seconds the producer spent decoding and augmenting, running the network, and writing to the cache.
    public var prepareSeconds = 0.0, networkSeconds = 0.0, writeSeconds = 0.0
    /// Seconds the trainer waited in `fill` for fresh samples not yet made.
    public var waitSeconds = 0.0
    /// Seconds the producer waited: for the next epoch's plan, or for room in the queue of finished batches.
    public var producerWaitSeconds = 0.0

    /// What happened since `earlier` (a snapshot of the same producer): an epoch's share.
    public func since(_ earlier: LiveAugmentationStats) -> LiveAugmentationStats {
        var d = self
        d.freshSamples -= earlier.freshSamples; d.viewsWritten -= earlier.viewsWritten
        d.prepareSeconds -= earlier.prepareSeconds; d.networkSeconds -= earlier.networkSeconds
        d.writeSeconds -= earlier.writeSeconds; d.waitSeconds -= earlier.waitSeconds
        d.producerWaitSeconds -= earlier.producerWaitSeconds
        return d
    }
}

extension LiveAugmentation {
    /// `train --augment live`'s assembly: the base weights loaded at the cut the cache was extracted at (a cut this
    /// build does not know is an error naming the cache, never a default) and the recipe resolved against the
    /// cache's recorded one.
    public static func forCache(_ path: String, weightsPath: String, fresh: Double,
                                settings: AugmentationSettings?, seed: UInt64?) throws -> LiveAugmentation {
        let cache = try FeatureCache(path: path, fingerprint: nil, readOnly: true)
        let layer = try HeadProvenance(cache: cache).settings.layer
        var live = LiveAugmentation(fresh: fresh, weights: try BaseWeights.load(path: weightsPath, cut: layer))
        live.recipe = AugmentRecipe.resolve(given: settings, seed: seed, recorded: try AugmentRecipe.recorded(in: cache))
        return live
    }
}

/// Why `train --augment live` cannot start or go on, naming the cache, weights or file concerned.
public enum LiveAugmentationError: Error, CustomStringConvertible {
    /// `--fresh` outside [0, 1].
    case freshFraction(Double)
    /// The weights given are not those the cache was extracted with: fresh views would not match its features.
    case otherWeights(given: String, givenSHA256: String, cache: String, cacheSHA256: String, cacheWeights: String)
    /// No augmentation settings given, and the cache records none.
    case noAugmentation(cache: String)
    /// No dataset folder given, and the cache records none.
    case noDataset(cache: String)
    /// The network's feature shape differs from the cache's.
    case featureShape(network: [Int], cache: [Int])
    /// The background producer ended before the epoch's fresh samples were all delivered.
    case producerStopped
    /// The trainer asked for fresh samples out of the order it gave `startEpoch`.
    case outOfOrder(sample: Int, expected: Int)
    /// An image's content differs from what the cache extracted.
    case fileChanged(path: String, content: String, cached: String)

    public var description: String {
        switch self {
        case let .freshFraction(f): return "--fresh \(f): a fraction in [0, 1] of each epoch's training images"
        case let .otherWeights(given, givenSHA, cache, cacheSHA, cacheWeights):
            return "\(given) has SHA-256 \(givenSHA), but the cache \(cache) was extracted with weights \(cacheSHA) (\(cacheWeights)): fresh views would not match the cached features"
        case let .noAugmentation(cache): return "the cache \(cache) records no augmentation: give the settings (--book, --rotation …)"
        case let .noDataset(cache): return "the cache \(cache) records no dataset folder: give it with --dataset"
        case let .featureShape(network, cache): return "the network gives features \(network), the cache holds \(cache)"
        case .producerStopped: return "the live augmentation producer has stopped"
        case let .outOfOrder(sample, expected):
            return "fresh sample \(sample) asked for out of the epoch's order (expected \(expected)); the trainer must request samples in the order given to startEpoch"
        case let .fileChanged(path, content, cached):
            return "\(path) has changed since it was extracted (content \(content), the cache has \(cached)); run `headstart extract` again"
        }
    }
}

/// `train --augment live --fresh F`, the design's re-extraction batches. At each epoch's start (its sample order
/// known through `startEpoch`), a fraction F of the training samples — the ⌊F·N⌉ with the smallest
/// hash(seed, epoch, content key) — is chosen; a background thread reads, decodes, augments and runs through the
/// base network exactly those, in the order the trainer will ask for them, and hands them over through a bounded
/// queue while the trainer goes on with the others (read from the cache, view 0). `fill` waits for fresh
/// samples not yet made.
///
/// A fresh sample of content key k gets view number 1 + (the largest view k has in the cache), then the next
/// one the next time, so it is exactly the view a later `extract --views` would make (same recipe, same draw);
/// with `keepViews` it is written to the cache, so later runs reuse it.
public final class LiveAugmentedFeatures: FeatureSource {
    public let cache: FeatureCache
    public let entries: [IndexEntry]
    public let seed: UInt64
    public let options: LiveAugmentation
    public let recipe: AugmentRecipe
    let extractor: FeatureExtractor
    let root: URL

    private var nextView: [ContentKey: UInt16] = [:]
    /// This epoch: which samples are fresh, and the fresh ones in the order they will be asked for.
    public private(set) var isFresh: [Bool]
    public private(set) var freshOrder: [Int] = []
    /// The view each fresh sample of this epoch gets.
    public private(set) var freshViews: [Int: UInt16] = [:]
    private var delivered = 0

    private struct Item { var sample: Int; var entry: IndexEntry; var view: UInt16 }
    private final class Produced {
        var samples: [Int] = []
        var features: [Float] = []
        var offset = 0
    }
    private let plans = BlockingQueue<[Item]?>(capacity: 2)
    private let results: BlockingQueue<Result<Produced, Error>?>
    private var current: Produced?
    private let stop = StopFlag()
    private var producer: Thread?
    private var finished = false
    private let statsLock = NSLock()
    private var producerStats = LiveAugmentationStats()
    private var waited = 0.0

    /// - Parameters:
    ///   - cache: opened for writing when `options.keepViews`.
    ///   - entries: the training samples.
    ///   - seed: chooses each epoch's fresh samples.
    public init(cache: FeatureCache, entries: [IndexEntry], seed: UInt64, options: LiveAugmentation) throws {
        guard (0...1).contains(options.fresh) else {
            throw LiveAugmentationError.freshFraction(options.fresh)
        }
        let fp = cache.fingerprint
        guard options.weights.sha256 == fp.weightsSHA256 else {
            throw LiveAugmentationError.otherWeights(given: options.weights.sourceName, givenSHA256: options.weights.sha256,
                                                     cache: cache.path, cacheSHA256: fp.weightsSHA256, cacheWeights: fp.weightsName)
        }
        let recorded = try AugmentRecipe.recorded(in: cache)
        guard let recipe = options.recipe ?? recorded else {
            throw LiveAugmentationError.noAugmentation(cache: cache.path)
        }
        if options.keepViews { try cache.recordAugmentation(recipe.fingerprintDescription) }
        guard let rootPath = try options.dataset ?? cache.datasetRoot() else {
            throw LiveAugmentationError.noDataset(cache: cache.path)
        }
        let provenance = try HeadProvenance(cache: cache)
        extractor = try FeatureExtractor(weights: options.weights, settings: provenance.settings, threads: options.threads)
        guard extractor.featureShape == fp.featureShape else {
            throw LiveAugmentationError.featureShape(network: extractor.featureShape, cache: fp.featureShape)
        }
        self.cache = cache
        self.entries = entries
        self.seed = seed
        self.options = options
        self.recipe = recipe
        root = URL(fileURLWithPath: rootPath)
        results = BlockingQueue(capacity: max(1, options.queueDepth))
        isFresh = [Bool](repeating: false, count: entries.count)
        let stored = try cache.storedViews()
        for e in entries where nextView[e.key] == nil { nextView[e.key] = (stored[e.key]?.max() ?? 0) + 1 }
        let t = Thread { [unowned self] in self.produce() }
        t.stackSize = 4 << 20
        producer = t
        t.start()
    }

    deinit { finish() }

    public var count: Int { entries.count }
    public var featureCount: Int { cache.fingerprint.featureCount }
    public func labels() -> [Int] { entries.map { Int($0.label) } }

    /// The samples fresh in `epoch`: the round(F·N) with the smallest hash(seed, epoch, key) (ties by index).
    public static func freshSamples(entries: [IndexEntry], fraction: Double, seed: UInt64, epoch: Int) -> Set<Int> {
        let m = Int((fraction * Double(entries.count)).rounded())
        guard m > 0 else { return [] }
        let ranked = entries.indices.map { (ViewChoice.hash(seed: seed, epoch: epoch, key: entries[$0].key, salt: 0x4C49_5645), $0) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return Set(ranked.prefix(m).map(\.1))
    }

    public func startEpoch(_ epoch: Int, order: [Int]) {
        // Anything of the previous epoch not asked for (cannot happen with HeadTrainer) is taken and dropped,
        // so the stream stays in step.
        while delivered < freshOrder.count {
            guard let next = results.take(), case .success(let p) = next else { break }
            delivered += p.samples.count - p.offset
        }
        current = nil
        let fresh = Self.freshSamples(entries: entries, fraction: options.fresh, seed: seed, epoch: epoch)
        isFresh = entries.indices.map { fresh.contains($0) }
        freshOrder = order.filter { fresh.contains($0) }
        freshViews = [:]
        var items: [Item] = []
        for i in freshOrder {
            let k = entries[i].key
            let v = nextView[k]!
            nextView[k] = v + 1
            freshViews[i] = v
            items.append(Item(sample: i, entry: entries[i], view: v))
        }
        delivered = 0
        if !items.isEmpty { plans.put(items) }
    }

    public func fill(indices: [Int], into: UnsafeMutablePointer<Float>) throws {
        let n = featureCount
        if !indices.contains(where: { isFresh[$0] }) {
            try cache.features(for: indices.map { entries[$0] }, view: 0,
                               into: UnsafeMutableBufferPointer(start: into, count: indices.count * n))
            return
        }
        for (row, i) in indices.enumerated() {
            let out = UnsafeMutableBufferPointer(start: into + row * n, count: n)
            guard isFresh[i] else {
                try cache.features(for: [entries[i]], view: 0, into: out)
                continue
            }
            if current == nil || current!.offset == current!.samples.count {
                let t0 = now()
                let next = results.take()
                waited += now() - t0
                switch next {
                case .success(let p)?: current = p
                case .failure(let e)?: throw e
                case nil: throw LiveAugmentationError.producerStopped
                }
            }
            let p = current!
            guard p.samples[p.offset] == i, delivered < freshOrder.count, freshOrder[delivered] == i else {
                throw LiveAugmentationError.outOfOrder(sample: i, expected: p.samples[p.offset])
            }
            p.features.withUnsafeBufferPointer { f in
                out.baseAddress!.update(from: f.baseAddress! + p.offset * n, count: n)
            }
            p.offset += 1
            delivered += 1
        }
    }

    /// Stops the producer and waits for it. Idempotent.
    public func finish() {
        guard !finished else { return }
        finished = true
        stop.set()
        plans.put(nil)
        while results.take() != nil {}
    }

    public var stats: LiveAugmentationStats {
        statsLock.lock(); defer { statsLock.unlock() }
        var s = producerStats
        s.waitSeconds = waited
        return s
    }

    // MARK: the producer thread

    private func produce() {
        let inCount = extractor.inputCount, n = extractor.featureCount
        let batch = max(1, options.batchSize)
        let input = UnsafeMutableBufferPointer<Float>.allocate(capacity: batch * inCount)
        defer { input.deallocate() }
        let threads = 2
        let scratch = (0..<threads).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: 2 * inCount) }
        defer { scratch.forEach { $0.deallocate() } }
        let mode = extractor.settings.preprocess
        func waiting<T>(_ body: () -> T) -> T {
            let t0 = now()
            defer { statsLock.lock(); producerStats.producerWaitSeconds += now() - t0; statsLock.unlock() }
            return body()
        }
        while let plan = waiting({ plans.take() }) {
            var s = 0
            while s < plan.count && !stop.isSet {
                let chunk = Array(plan[s..<min(plan.count, s + batch)])
                s += chunk.count
                do {
                    let t0 = now()
                    var failure: Error?
                    let lock = NSLock()
                    DispatchQueue.concurrentPerform(iterations: min(threads, chunk.count)) { t in
                        var j = t
                        while j < chunk.count {
                            do {
                                let item = chunk[j]
                                let path = root.appendingPathComponent(item.entry.path).path
                                let bytes = try ImageDecoder.readFile(fileSystemPath: Dataset.fileSystemPath(root: root.path, relativePath: item.entry.path), name: path)
                                let key = bytes.withUnsafeBytes { ContentKey(bytes: SHA256Hasher.digest($0))! }
                                guard key == item.entry.key else {
                                    throw LiveAugmentationError.fileChanged(path: path, content: "\(key)", cached: "\(item.entry.key)")
                                }
                                let d = try ViewInput.load(bytes, name: item.entry.path, extractor: extractor)
                                ViewInput.write(d.image, key: key, view: item.view, recipe: recipe, mode: mode,
                                                into: input, slot: j, scratch: scratch[t])
                            } catch {
                                lock.lock(); if failure == nil { failure = error }; lock.unlock()
                            }
                            j += threads
                        }
                    }
                    if let failure { throw failure }
                    let t1 = now()
                    let produced = Produced()
                    produced.samples = chunk.map(\.sample)
                    produced.features = [Float](repeating: 0, count: chunk.count * n)
                    produced.features.withUnsafeMutableBufferPointer { out in
                        extractor.run(UnsafePointer(input.baseAddress!), count: chunk.count, into: out.baseAddress!)
                    }
                    let t2 = now()
                    var written = 0
                    if options.keepViews {
                        let records = chunk.indices.map { j in
                            PendingRecord(key: chunk[j].entry.key, view: chunk[j].view,
                                          values: Array(produced.features[(j * n)..<((j + 1) * n)]))
                        }
                        written = try cache.commit(batch: Batch(records: records))
                    }
                    let t3 = now()
                    statsLock.lock()
                    producerStats.freshSamples += chunk.count
                    producerStats.viewsWritten += written
                    producerStats.prepareSeconds += t1 - t0
                    producerStats.networkSeconds += t2 - t1
                    producerStats.writeSeconds += t3 - t2
                    statsLock.unlock()
                    waiting { results.put(.success(produced)) }
                } catch {
                    results.put(.failure(error))
                }
            }
        }
        results.put(nil)
    }
}
