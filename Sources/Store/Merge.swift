import Foundation

extension FeatureCache {
    /// Copies every record of `source` this cache lacks, byte for byte (equal fingerprints give equal layouts),
    /// `chunk` records per write transaction, read in one read transaction straight from the source's mapped
    /// pages: memory stays at one chunk whatever the size of the caches. A record already here is kept. Returns
    /// how many were added and how many were already present.
    ///
    /// A copy killed at any moment leaves this cache with the chunks that committed: records nothing points to
    /// yet, which a copy run again reuses.
    public func copyRecords(from source: FeatureCache, chunk: Int = 256) throws -> (added: Int, alreadyPresent: Int) {
        let differences = fingerprint.differences(from: source.fingerprint)
        guard differences.isEmpty else { throw StoreError.fingerprintMismatch(cache: source.path, differences: differences) }
        var added = 0, present = 0
        var pending = [([UInt8], [UInt8])]()
        pending.reserveCapacity(chunk)
        func flush() throws {
            let n = try lmdb.write { txn in
                var n = 0
                for (k, v) in pending where try lmdb.put(txn, "records", k, v, noOverwrite: true) { n += 1 }
                return n
            }
            added += n
            present += pending.count - n
            pending.removeAll(keepingCapacity: true)
        }
        try source.lmdb.read { txn in
            try source.lmdb.forEach(txn, "records") { k, v in
                pending.append((Array(k), Array(v)))
                if pending.count == chunk { try flush() }
                return true
            }
        }
        try flush()
        return (added, present)
    }
}
