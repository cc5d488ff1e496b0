import Foundation
import Store

/// `headstart cache merge`: shard caches (`extract --shard i/n`) into one.
public struct CacheMergeJob: Sendable {
    public var sources: [String]
    public var destination: String
    /// The dataset folder to record in the merged cache. Without it the merge records the one every source
    /// recorded, and none when they recorded different ones (`CacheMergeSummary.datasetDisagreement`).
    public var dataset: String?
    /// As `extract --allow-label-conflicts`: index files of one content under different classes, each with its
    /// own label. Without it such files are kept out, as one extraction over the whole set keeps them out.
    public var allowLabelConflicts = false

    public init(sources: [String], destination: String) { self.sources = sources; self.destination = destination }
}

public struct CacheMergeSummary: Sendable {
    public var recordsAdded = 0, recordsAlreadyPresent = 0
    /// Index entries and errors of the merged cache.
    public var entries = 0, errors = 0
    /// Validation files whose content is also in train (often in another shard): kept in train only.
    public var splitCollisions: [(validation: String, train: String)] = []
    /// One content under different classes (often in different shards): kept out unless `allowLabelConflicts`.
    public var labelConflicts: [LabelConflict] = []
    /// The dataset folder the merged cache records, if any.
    public var dataset: String?
    /// Set when the sources recorded different dataset folders and none was given: each source and its folder.
    public var datasetDisagreement: [(cache: String, dataset: String)]?
}

public enum CacheMerge {
    /// Merges `job.sources` into `job.destination` (created if absent, else it must have the same fingerprint and
    /// its entries join the merge). Every source must have the fingerprint and class names of the first; a path
    /// indexed with different content, label or split in two places is an error naming it, raised before
    /// anything is written.
    ///
    /// The index is decided again over every file the sources know — their index entries and the files they kept
    /// out by a rule — by the rules of one extraction over the whole set (`Extraction.applyIndexRules`): a
    /// validation file whose content is in train is kept in train only, and one content under different classes
    /// is kept out. Shards split by path, so such twins are often in different shards, where no shard could see
    /// them. The result has the index, labels and splits of one `extract` over the dataset.
    ///
    /// Records are copied first, a chunk per transaction (identical files extracted by two shards keep one
    /// record); then the class names, the dataset folder, every index entry and every error go in one
    /// transaction. A merge killed at any moment thus leaves the destination as it was, plus records nothing
    /// points to yet, which the merge run again reuses.
    public static func run(_ job: CacheMergeJob) throws -> CacheMergeSummary {
        var summary = CacheMergeSummary()
        guard !job.sources.isEmpty else { return summary }
        let caches = try job.sources.map { try FeatureCache(path: $0, fingerprint: nil, readOnly: true) }
        let fp = caches[0].fingerprint
        for c in caches.dropFirst() {
            let d = fp.differences(from: c.fingerprint)
            if !d.isEmpty { throw StoreError.fingerprintMismatch(cache: c.path, differences: d) }
        }
        let dest = try FeatureCache(path: job.destination, fingerprint: fp)
        let classes = try agreedClassNames(dest, caches)
        let candidates = try candidateEntries(dest, caches)

        for c in caches {
            let (added, present) = try dest.copyRecords(from: c)
            summary.recordsAdded += added
            summary.recordsAlreadyPresent += present
        }

        let decided = Extraction.applyIndexRules(candidates.entries, classNames: classes,
                                                 allowLabelConflicts: job.allowLabelConflicts)
        let keptOut = Set(decided.keptOut.map(\.path))
        let indexed = candidates.entries.filter { !keptOut.contains($0.path) }
        let errors = decided.keptOut + candidates.errors
        summary.splitCollisions = decided.splitCollisions
        summary.labelConflicts = decided.labelConflicts

        let roots = try caches.map { ($0.path, try $0.datasetRoot()) }
        let recorded = Set(roots.compactMap(\.1))
        if let given = job.dataset {
            summary.dataset = URL(fileURLWithPath: given).standardizedFileURL.path
        } else if recorded.count == 1, roots.allSatisfy({ $0.1 != nil }) {
            summary.dataset = recorded.first
        } else if recorded.count > 1 {
            summary.datasetDisagreement = roots.map { ($0.0, $0.1 ?? "(none)") }
        }
        try dest.commit(batch: Batch(entries: indexed, errors: errors, classNames: classes.isEmpty ? nil : classes,
                                     datasetRoot: summary.dataset))
        // One fingerprint means one weights file, so the sources that recorded its origin agree: keep it.
        let origins = Set(try ([dest] + caches).compactMap { try $0.weightsOrigin() })
        if origins.count == 1, let origin = origins.first { try dest.setWeightsOrigin(origin) }
        summary.entries = indexed.count
        summary.errors = errors.count
        return summary
    }

    /// The class names every cache that has some agrees on (the destination's first).
    static func agreedClassNames(_ dest: FeatureCache, _ caches: [FeatureCache]) throws -> [String] {
        var classes = try dest.classNames()
        for c in caches {
            let names = try c.classNames()
            if names.isEmpty { continue }
            if classes.isEmpty { classes = names } else if names != classes {
                throw StoreError.classNamesConflict(cache: c.path, stored: classes, given: names)
            }
        }
        return classes
    }

    /// Every file the destination and the sources know, as the index entry it has or would have (files kept out
    /// by a rule carry theirs in the errors table), in path order; and the errors of files that produced no
    /// features. The same path with different content, label or split in two places is an `indexConflict`.
    static func candidateEntries(_ dest: FeatureCache, _ caches: [FeatureCache]) throws -> (entries: [IndexEntry], errors: [ErrorEntry]) {
        var index = [String: IndexEntry]()
        var origin = [String: String]()
        var failed = [String: ErrorEntry]()
        for c in [dest] + caches {
            let kept = try c.errorEntries()
            for e in try c.indexEntries() + kept.compactMap(\.keptOut) {
                if let old = index[e.path], old.key != e.key || old.label != e.label || old.split != e.split {
                    throw StoreError.indexConflict(cache: c.path, path: e.path,
                        reason: "\(origin[e.path]!) has key \(old.key) label \(old.label) \(old.split), \(c.path) has key \(e.key) label \(e.label) \(e.split)")
                }
                if index[e.path] == nil { index[e.path] = e; origin[e.path] = c.path }
            }
            for e in kept where e.keptOut == nil && failed[e.path] == nil { failed[e.path] = e }
        }
        let entries = index.values.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        let errors = failed.values.filter { index[$0.path] == nil }.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return (entries, errors)
    }
}
