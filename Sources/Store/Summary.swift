import CLMDB
import Foundation

/// What the records database holds, by view, and how much of the LMDB map is in use: for `headstart inspect`.
public struct RecordSummary: Equatable, Sendable {
    /// view number → number of records with that view (view 0 = the image itself, > 0 = augmented views).
    public var recordsByView: [UInt16: Int] = [:]
    /// Distinct content keys with at least one record.
    public var contentKeys = 0
    /// Records whose content key no index entry points to (left by removed or changed files; extraction never
    /// deletes records, so re-adding the file costs no network work).
    public var unreferencedRecords = 0
    /// Records whose key is not the 34-byte (content key, view) layout (counted, not decoded; `verify` names them).
    public var malformedKeys = 0
    /// Entries of the index database, readable or not.
    public var indexEntries = 0
    public var records: Int { recordsByView.values.reduce(0, +) + malformedKeys }
    /// Records with view > 0.
    public var augmentedRecords: Int { recordsByView.filter { $0.key > 0 }.map(\.value).reduce(0, +) }
    public init() {}
}

/// LMDB's own accounting of the environment.
public struct MapUse: Equatable, Sendable {
    /// The map size: the most data.mdb may grow to before the map is doubled.
    public var mapSize: Int
    /// Pages in use up to the highest one ever written, in bytes: (last page number + 1) × page size.
    /// data.mdb is at least this long; freed pages inside it are reused before the file grows.
    public var usedBytes: Int
    public var pageSize: Int
}

extension FeatureCache {
    /// Counts records by view, distinct content keys, and records no index entry refers to, in one read
    /// transaction over the keys (values are not touched).
    public func recordSummary() throws -> RecordSummary {
        var s = RecordSummary()
        try lmdb.read { txn in
            var referenced = Set<[UInt8]>()
            try lmdb.forEach(txn, "index") { _, v in
                s.indexEntries += 1
                if v.count >= Layout.indexValueSizeV1 { referenced.insert(Array(v[24..<56])) }
                return true
            }
            var last: [UInt8]? = nil
            try lmdb.forEach(txn, "records") { k, _ in
                guard k.count == 34 else { s.malformedKeys += 1; return true }
                let key = Array(k[0..<32])
                let view = UInt16(k[32]) << 8 | UInt16(k[33])
                s.recordsByView[view, default: 0] += 1
                // Keys sort bytewise, so all views of one content key are adjacent.
                if key != last { s.contentKeys += 1; last = key }
                if !referenced.contains(key) { s.unreferencedRecords += 1 }
                return true
            }
        }
        return s
    }

    /// The map size and the bytes of it in use (mdb_env_info's last page number × mdb_env_stat's page size).
    public func mapUse() throws -> MapUse {
        var info = MDB_envinfo()
        var stat = MDB_stat()
        try LMDBEnvironment.check(mdb_env_info(lmdb.env, &info), path, "mdb_env_info")
        try LMDBEnvironment.check(mdb_env_stat(lmdb.env, &stat), path, "mdb_env_stat")
        let page = Int(stat.ms_psize)
        return MapUse(mapSize: info.me_mapsize, usedBytes: (Int(info.me_last_pgno) + 1) * page, pageSize: page)
    }
}

extension FeatureCache {
    /// meta "dataset": the dataset folder the cache was last extracted from (absolute path), or nil if never set.
    /// For tools that need the images again (`inspect --heatmap`); deliberately not in the fingerprint, since the
    /// same features may come from a copy of the dataset anywhere.
    public func datasetRoot() throws -> String? { try metaString("dataset") }

    public func setDatasetRoot(_ path: String) throws { try setMetaString("dataset", path) }

    /// meta "weights_origin": where the extractor said the weights came from, in its own words (the cache keeps it
    /// as given and compares nothing: the weights' SHA-256 in the fingerprint is what identifies them), or nil.
    public func weightsOrigin() throws -> String? { try metaString("weights_origin") }

    public func setWeightsOrigin(_ origin: String) throws { try setMetaString("weights_origin", origin) }

    private func metaString(_ key: String) throws -> String? {
        try lmdb.read { txn in
            try lmdb.get(txn, "meta", Array(key.utf8)) { $0.map { String(decoding: $0, as: UTF8.self) } }
        }
    }

    private func setMetaString(_ key: String, _ value: String) throws {
        _ = try lmdb.write { txn in try lmdb.put(txn, "meta", Array(key.utf8), Array(value.utf8)) }
    }
}
