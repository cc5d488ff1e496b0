import Foundation

/// What `merge` did.
public struct MergeSummary: Equatable, Sendable {
    public var recordsAdded = 0
    public var recordsAlreadyPresent = 0
    public var entries = 0
    public var errors = 0
}

extension FeatureCache {
    /// Merges shard caches into `destination` (created if absent, else it must have the same fingerprint).
    /// All sources must have identical fingerprints and class names. The union of records, index and errors is
    /// written; the same path indexed with different content, label or split in two places is an error naming
    /// the path, raised before anything is written. A path that is indexed somewhere and failed elsewhere keeps
    /// its index entry.
    ///
    /// Records are copied first, a chunk per transaction; then the class names, every index entry and every
    /// error go in one transaction. A merge killed at any moment thus leaves the destination as it was, plus
    /// records nothing points to yet, which the merge run again reuses: no image is ever half merged.
    @discardableResult
    public static func merge(sources: [String], into destination: String) throws -> MergeSummary {
        guard !sources.isEmpty else { return MergeSummary() }
        let caches = try sources.map { try FeatureCache(path: $0, fingerprint: nil, readOnly: true) }
        let fp = caches[0].fingerprint
        for c in caches.dropFirst() {
            let d = fp.differences(from: c.fingerprint)
            if !d.isEmpty { throw StoreError.fingerprintMismatch(cache: c.path, differences: d) }
        }
        let dest = try FeatureCache(path: destination, fingerprint: fp)
        var classes = try dest.classNames()
        for c in caches {
            let names = try c.classNames()
            if names.isEmpty { continue }
            if classes.isEmpty { classes = names } else if names != classes {
                throw StoreError.classNamesConflict(cache: c.path, stored: classes, given: names)
            }
        }

        // Check every index entry against the destination and the other sources before writing.
        var index = [String: IndexEntry]()
        var origin = [String: String]()
        for e in try dest.indexEntries() { index[e.path] = e; origin[e.path] = dest.path }
        for c in caches {
            for e in try c.indexEntries() {
                if let old = index[e.path], old.key != e.key || old.label != e.label || old.split != e.split {
                    throw StoreError.indexConflict(cache: c.path, path: e.path,
                        reason: "\(origin[e.path]!) has key \(old.key) label \(old.label) \(old.split), \(c.path) has key \(e.key) label \(e.label) \(e.split)")
                }
                if index[e.path] == nil { index[e.path] = e; origin[e.path] = c.path }
            }
        }

        var summary = MergeSummary()
        for c in caches {
            // Raw record bytes are copied (same fingerprint, same layout), a chunk per transaction.
            var chunk = [([UInt8], [UInt8])]()
            func flush() throws {
                let added = try dest.lmdb.write { txn in
                    var n = 0
                    for (k, v) in chunk where try dest.lmdb.put(txn, "records", k, v, noOverwrite: true) { n += 1 }
                    return n
                }
                summary.recordsAdded += added
                summary.recordsAlreadyPresent += chunk.count - added
                chunk.removeAll(keepingCapacity: true)
            }
            var all = [([UInt8], [UInt8])]()
            try c.lmdb.read { txn in
                try c.lmdb.forEach(txn, "records") { k, v in all.append((Array(k), Array(v))); return true }
            }
            for kv in all {
                chunk.append(kv)
                if chunk.count == 256 { try flush() }
            }
            try flush()
        }
        let errors = try caches.flatMap { try $0.errorEntries() }.filter { index[$0.path] == nil }
        let entries = index.values.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        try dest.commit(batch: Batch(entries: entries, errors: errors, classNames: classes.isEmpty ? nil : classes))
        summary.entries = entries.count
        summary.errors = errors.count
        return summary
    }
}
