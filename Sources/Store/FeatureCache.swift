import CLMDB
import Foundation
import Numerics

/// The feature cache: one LMDB environment in a directory (data.mdb + lock.mdb) with four named databases,
/// laid out in docs/cache-format.md:
///
///     meta     "fingerprint" → CacheFingerprint JSON; "created", "updated" → ISO 8601; "classes" → JSON [String]
///     records  content key ‖ view (u16 BE) → header + float16/float32 payload
///     index    relative path → (content key, label, split, size, mtime)
///     errors   relative path → JSON {"reason", "time"}
///
/// Safe to share between threads: reads use their own short transactions; writes are serialised.
public final class FeatureCache {
    public let path: String
    /// The stored fingerprint. Only its `augmentation` may change after opening (`recordAugmentation`).
    public var fingerprint: CacheFingerprint {
        fingerprintLock.lock(); defer { fingerprintLock.unlock() }
        return storedFingerprint
    }
    private var storedFingerprint: CacheFingerprint
    private let fingerprintLock = NSLock()
    let lmdb: LMDBEnvironment

    /// Default first map size; it doubles whenever a write fills it.
    public static let defaultInitialMapSize = 64 << 20

    /// How `init` found the cache.
    public enum Opening: Equatable, Sendable {
        /// It existed, complete.
        case existing
        /// There was none: this created it (fingerprint, created and updated in the transaction that made it).
        case created
        /// data.mdb existed but no fingerprint was ever committed (a run killed before its first commit, or by
        /// an older headstart between its two first transactions) and held no records: this finished it.
        case finished
    }

    /// What `init` found.
    public let opening: Opening
    /// Opened with `readOnly`: every write refuses with `StoreError.readOnly`.
    public var isReadOnly: Bool { lmdb.readOnly }
    /// Read-only without LMDB's lock file, which could not be opened for writing (a read-only directory).
    public var isLockless: Bool { lmdb.lockless }

    /// Opens or creates the cache at `path` (a directory).
    /// - Parameters:
    ///   - fingerprint: the settings of this run. An existing cache must have an equal fingerprint, else
    ///     `StoreError.fingerprintMismatch` lists the differing fields. The check and, for a new cache, the
    ///     writing of the fingerprint happen in the one write transaction that creates the databases, so two
    ///     runs starting together on a new cache cannot both win: LMDB's writer lock makes the second one wait,
    ///     then see the first one's fingerprint. Pass nil to open an existing cache with whatever fingerprint
    ///     it has (for reading, export, merge).
    ///   - readOnly: open with MDB_RDONLY (and MDB_NOLOCK when lock.mdb cannot be written), for commands that
    ///     only read: the cache may then be on a read-only disk or in a directory this user cannot write.
    ///     Needs `fingerprint` nil.
    ///   - rebuild: delete the cache's data files first and start empty.
    ///   - adoptAugmentation: do not compare the `augmentation` field: the cache keeps whatever it recorded
    ///     (plain view-0 extraction into a cache that also holds augmented views; `recordAugmentation` checks
    ///     the recipe when views are to be added).
    public init(path: String, fingerprint: CacheFingerprint?, readOnly: Bool = false, rebuild: Bool = false,
                adoptAugmentation: Bool = false, initialMapSize: Int = FeatureCache.defaultInitialMapSize) throws {
        self.path = path
        let fm = FileManager.default
        let data = (path as NSString).appendingPathComponent("data.mdb")
        let lock = (path as NSString).appendingPathComponent("lock.mdb")
        precondition(!(readOnly && (fingerprint != nil || rebuild)), "a cache is created or rebuilt only for writing")
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw StoreError.notACache(cache: path, reason: "it is a file; the cache is a directory") }
        } else if fingerprint == nil {
            throw StoreError.notACache(cache: path, reason: "no such directory")
        }
        if let fingerprint, let reason = fingerprint.invalidity() {
            throw StoreError.notACache(cache: path, reason: "the fingerprint asked for is unusable: \(reason)")
        }
        if rebuild {
            guard fingerprint != nil else { throw StoreError.notACache(cache: path, reason: "rebuild needs a fingerprint") }
            // Only LMDB's own two files are removed: the directory may hold other things.
            for f in [data, lock] where fm.fileExists(atPath: f) {
                do { try fm.removeItem(atPath: f) } catch {
                    throw StoreError.notACache(cache: path, reason: "cannot delete \(f) for --rebuild: \(error.localizedDescription)")
                }
            }
        }
        if fingerprint == nil {
            var st = stat()
            guard stat(data, &st) == 0 else { throw StoreError.notACache(cache: path, reason: "no data.mdb in it") }
            // LMDB takes an empty data.mdb for a new environment and would format it: for a reader it is a cache
            // that was never completed (or a copy that has not begun).
            if st.st_size == 0 { throw StoreError.incomplete(cache: path, reason: "data.mdb is empty (0 bytes)") }
        }
        do { try fm.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw StoreError.notACache(cache: path, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        let env = try LMDBEnvironment(path: path, initialMapSize: initialMapSize, readOnly: readOnly)
        lmdb = env

        func decode(_ b: UnsafeRawBufferPointer) throws -> CacheFingerprint {
            let f: CacheFingerprint
            do { f = try JSONDecoder().decode(CacheFingerprint.self, from: Data(b)) } catch {
                throw StoreError.notACache(cache: path, reason: "meta/fingerprint is not a readable fingerprint: \(error)")
            }
            if let reason = f.invalidity() { throw StoreError.notACache(cache: path, reason: "meta/fingerprint: \(reason)") }
            return f
        }
        guard let fingerprint else {
            // Reading: the databases and the fingerprint must be there.
            let stored = try env.readCommitted { txn -> CacheFingerprint? in
                let missing = try env.openDatabases(txn, create: false)
                if missing.contains("meta") { return nil }
                guard missing.isEmpty else {
                    throw StoreError.notACache(cache: path, reason: "LMDB databases \(missing) are missing")
                }
                return try env.get(txn, "meta", Array("fingerprint".utf8)) { try $0.map(decode) }
            }
            guard let stored else { throw StoreError.incomplete(cache: path, reason: "it has no fingerprint") }
            storedFingerprint = stored
            opening = .existing
            return
        }
        // Writing: open or create the databases, then compare or write the fingerprint, in one transaction.
        let now = Array(FeatureCache.timestamp().utf8)
        let (kept, opening) = try env.write { txn -> (CacheFingerprint, Opening) in
            _ = try env.openDatabases(txn, create: true)
            if let s = try env.get(txn, "meta", Array("fingerprint".utf8), { try $0.map(decode) }) {
                var asked = fingerprint
                if adoptAugmentation { asked.augmentation = s.augmentation }
                let diffs = s.differences(from: asked)
                guard diffs.isEmpty else { throw StoreError.fingerprintMismatch(cache: path, differences: diffs) }
                return (s, .existing)
            }
            let records = try env.entryCount(txn, "records"), entries = try env.entryCount(txn, "index")
            guard records == 0 && entries == 0 else {
                throw StoreError.incomplete(cache: path, reason: "it holds \(records) records and \(entries) index entries but no fingerprint, so nothing says what made them; --rebuild starts it over")
            }
            try env.put(txn, "meta", Array("fingerprint".utf8), Array(fingerprint.jsonData()))
            try env.put(txn, "meta", Array("created".utf8), now)
            try env.put(txn, "meta", Array("updated".utf8), now)
            return (fingerprint, env.existed ? .finished : .created)
        }
        storedFingerprint = kept
        self.opening = opening
    }

    static func timestamp() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date())
    }

    /// Current LMDB map size in bytes (grows by doubling).
    public var mapSize: Int { lmdb.mapSize }
    /// The longest path (UTF-8 bytes) the index and errors tables can hold: they are keyed by the path, and LMDB
    /// keys are at most this long (511 bytes in the default build of liblmdb).
    public var maxPathBytes: Int { lmdb.maxKeySize }
    /// How many times this process doubled the map.
    public var mapGrowths: Int { lmdb.growCount }

    // MARK: meta

    /// Class names in label order, or [] if never set.
    public func classNames() throws -> [String] {
        try lmdb.read { txn in
            try lmdb.get(txn, "meta", Array("classes".utf8)) { b in
                guard let b else { return [] }
                guard let names = try? JSONDecoder().decode([String].self, from: Data(b)) else {
                    throw StoreError.notACache(cache: path, reason: "meta/classes is not a JSON array of strings")
                }
                return names
            }
        }
    }

    /// Stores the class names. A cache that already has different names refuses (labels would change meaning),
    /// unless `replace` is set.
    public func setClassNames(_ names: [String], replace: Bool = false) throws {
        let value = Array(try JSONEncoder().encode(names))
        try lmdb.write { txn in
            let stored: [String]? = try lmdb.get(txn, "meta", Array("classes".utf8)) { b in
                b.flatMap { try? JSONDecoder().decode([String].self, from: Data($0)) }
            }
            if let stored, stored != names, !stored.isEmpty, !replace {
                throw StoreError.classNamesConflict(cache: path, stored: stored, given: names)
            }
            try lmdb.put(txn, "meta", Array("classes".utf8), value)
        }
    }

    /// meta "created" and "updated" (ISO 8601).
    public func timestamps() throws -> (created: String, updated: String) {
        try lmdb.read { txn in
            let c = try lmdb.get(txn, "meta", Array("created".utf8)) { $0.map { String(decoding: $0, as: UTF8.self) } ?? "" }
            let u = try lmdb.get(txn, "meta", Array("updated".utf8)) { $0.map { String(decoding: $0, as: UTF8.self) } ?? "" }
            return (c, u)
        }
    }

    /// Records the augmentation recipe of the views > 0 this cache holds or is about to hold (the canonical
    /// description, which joins the fingerprint). A cache that has none takes `description` (views can be added
    /// to a cache first made without them); one that has the same keeps it; one that has another refuses with
    /// `fingerprintMismatch` naming the field `augmentation`, so views of different recipes are never mixed.
    public func recordAugmentation(_ description: String) throws {
        let value = try lmdb.write { txn -> CacheFingerprint in
            let current: CacheFingerprint = try lmdb.get(txn, "meta", Array("fingerprint".utf8)) { b in
                guard let b, let f = try? JSONDecoder().decode(CacheFingerprint.self, from: Data(b)) else {
                    throw StoreError.notACache(cache: path, reason: "meta/fingerprint is missing or unreadable")
                }
                return f
            }
            if let old = current.augmentation {
                guard old == description else {
                    throw StoreError.fingerprintMismatch(cache: path, differences: [
                        FingerprintDifference(field: "augmentation", old: old, new: description)])
                }
                return current
            }
            var updated = current
            updated.augmentation = description
            try lmdb.put(txn, "meta", Array("fingerprint".utf8), Array(updated.jsonData()))
            return updated
        }
        fingerprintLock.lock(); storedFingerprint = value; fingerprintLock.unlock()
    }

    // MARK: writes

    /// Writes a batch in one transaction: all of it is visible afterwards, or (after a crash) none of it.
    /// Records whose (key, view) already exist are left as they are (same content and fingerprint give the
    /// same features), unless the stored one is damaged: then it is replaced. Returns how many records were
    /// written.
    @discardableResult
    public func commit(batch: Batch) throws -> Int {
        let n = fingerprint.featureCount
        var encoded = [(key: [UInt8], value: [UInt8])]()
        encoded.reserveCapacity(batch.records.count)
        for r in batch.records {
            guard r.values.count == n else {
                throw StoreError.wrongValueCount(cache: path, record: Layout.recordName(r.key, r.view), expected: n, found: r.values.count)
            }
            encoded.append((Layout.recordKey(r.key, view: r.view),
                            Layout.encodeRecord(values: r.values, shape: fingerprint.featureShape, dtype: fingerprint.dtype)))
        }
        let stamp = Array(FeatureCache.timestamp().utf8)
        let fp = fingerprint
        let classes = try batch.classNames.map { Array(try JSONEncoder().encode($0)) }
        return try lmdb.write { txn in
            var written = 0
            for (k, v) in encoded {
                if try lmdb.put(txn, "records", k, v, noOverwrite: true) {
                    written += 1
                } else if try lmdb.get(txn, "records", k, { FeatureCache.recordFault($0!, fp) != nil }) {
                    try lmdb.put(txn, "records", k, v)
                    written += 1
                }
            }
            for p in batch.removedPaths {
                try lmdb.delete(txn, "index", Array(p.utf8))
                try lmdb.delete(txn, "errors", Array(p.utf8))
            }
            for e in batch.entries {
                try lmdb.put(txn, "index", Array(e.path.utf8), Layout.encodeIndex(e))
                try lmdb.delete(txn, "errors", Array(e.path.utf8))
            }
            for e in batch.errors {
                try lmdb.put(txn, "errors", Array(e.path.utf8), Layout.encodeError(e))
                try lmdb.delete(txn, "index", Array(e.path.utf8))
            }
            if let classes { try lmdb.put(txn, "meta", Array("classes".utf8), classes) }
            if let root = batch.datasetRoot { try lmdb.put(txn, "meta", Array("dataset".utf8), Array(root.utf8)) }
            try lmdb.put(txn, "meta", Array("updated".utf8), stamp)
            return written
        }
    }

    // MARK: reads

    public func contains(key: ContentKey, view: UInt16 = 0) throws -> Bool {
        try lmdb.read { txn in try lmdb.get(txn, "records", Layout.recordKey(key, view: view)) { $0 != nil } }
    }

    /// Whether (key, view) has a record that can be used (present, header, length, CRC-32, finite values):
    /// extraction computes again what is missing or damaged, and `commit` replaces a damaged record.
    public func hasSoundRecord(key: ContentKey, view: UInt16 = 0) throws -> Bool {
        let fp = fingerprint
        return try lmdb.read { txn in
            try lmdb.get(txn, "records", Layout.recordKey(key, view: view)) { b in b.map { FeatureCache.recordFault($0, fp) == nil } ?? false }
        }
    }

    /// The record decoded to float32, checksum checked; nil if absent.
    public func record(key: ContentKey, view: UInt16 = 0) throws -> FeatureRecord? {
        try lmdb.read { txn in
            try lmdb.get(txn, "records", Layout.recordKey(key, view: view)) { b -> FeatureRecord? in
                guard let b else { return nil }
                let h = try parse(b, key, view, checkCRC: true)
                var values = [Float](repeating: 0, count: h.count)
                values.withUnsafeMutableBufferPointer { Layout.decodePayload(b, h, into: $0.baseAddress!) }
                return FeatureRecord(key: key, view: view, dtype: h.dtype, shape: h.shape, values: values)
            }
        }
    }

    private func parse(_ b: UnsafeRawBufferPointer, _ key: ContentKey, _ view: UInt16, checkCRC: Bool) throws -> Layout.RecordHeader {
        switch Layout.parseRecord(b, checkCRC: checkCRC) {
        case .success(let h):
            guard h.shape == fingerprint.featureShape, h.dtype == fingerprint.dtype else {
                throw StoreError.corruptRecord(cache: path, record: Layout.recordName(key, view),
                    reason: "header says \(h.dtype.rawValue) \(h.shape), fingerprint says \(fingerprint.dtype.rawValue) \(fingerprint.featureShape)")
            }
            return h
        case .failure(let f):
            throw StoreError.corruptRecord(cache: path, record: Layout.recordName(key, view), reason: f.reason)
        }
    }

    /// The index entry of one path, or nil.
    public func indexEntry(path p: String) throws -> IndexEntry? {
        try lmdb.read { txn in
            try lmdb.get(txn, "index", Array(p.utf8)) { b -> IndexEntry? in
                guard let b else { return nil }
                switch Layout.decodeIndex(path: p, b) {
                case .success(let e): return e
                case .failure(let f): throw indexFault(p, f)
                }
            }
        }
    }

    /// All index entries in path order (bytewise UTF-8, i.e. Unicode code point order), optionally one split.
    /// A damaged entry is an error, or left out with `skippingDamaged` (extraction rewrites such entries).
    public func indexEntries(split: Split? = nil, skippingDamaged: Bool = false) throws -> [IndexEntry] {
        var out = [IndexEntry]()
        try lmdb.read { txn in
            try lmdb.forEach(txn, "index") { k, v in
                let p = String(decoding: k, as: UTF8.self)
                switch Layout.decodeIndex(path: p, v) {
                case .success(let e): if split == nil || e.split == split { out.append(e) }
                case .failure(let f) where skippingDamaged && f.newerVersion == nil: break
                case .failure(let f): throw indexFault(p, f)
                }
                return true
            }
        }
        return out
    }

    /// The error for an index entry that cannot be decoded: damage, or a layout newer than this build reads (which
    /// no reader may take for damage: extraction would rewrite it in an older layout).
    func indexFault(_ p: String, _ f: RecordFault) -> StoreError {
        f.newerVersion.map { .newerEntryVersion(cache: path, path: p, version: $0) }
            ?? .corruptIndexEntry(cache: path, path: p, reason: f.reason)
    }

    /// All error entries in path order.
    public func errorEntries() throws -> [ErrorEntry] {
        var out = [ErrorEntry]()
        try lmdb.read { txn in
            try lmdb.forEach(txn, "errors") { k, v in
                let p = String(decoding: k, as: UTF8.self)
                switch Layout.decodeError(path: p, v) {
                case .success(let e): out.append(e)
                case .failure(let f): throw StoreError.corruptIndexEntry(cache: path, path: p, reason: "errors table: \(f.reason)")
                }
                return true
            }
        }
        return out
    }

    /// Decodes the features of `entries` (view `view`) into `buffer`, entry i at offset i·featureCount, in one
    /// read transaction, straight from the mapped pages (no intermediate copy). Checksums are checked only if
    /// asked (`verify()` checks them all).
    public func features(for entries: [IndexEntry], view: UInt16 = 0, into buffer: UnsafeMutableBufferPointer<Float>,
                         checkChecksums: Bool = false) throws {
        let n = fingerprint.featureCount
        guard buffer.count >= entries.count * n else {
            throw StoreError.bufferTooSmall(cache: path, needed: entries.count * n, given: buffer.count)
        }
        try lmdb.read { txn in
            for (i, e) in entries.enumerated() {
                try lmdb.get(txn, "records", Layout.recordKey(e.key, view: view)) { b in
                    guard let b else {
                        throw StoreError.missingRecord(cache: path, record: Layout.recordName(e.key, view), path: e.path)
                    }
                    let h = try parse(b, e.key, view, checkCRC: checkChecksums)
                    Layout.decodePayload(b, h, into: buffer.baseAddress! + i * n)
                }
            }
        }
    }

    /// Like `features(for:view:into:)`, with one view per entry (`views[i]` for `entries[i]`).
    public func features(for entries: [IndexEntry], views: [UInt16], into buffer: UnsafeMutableBufferPointer<Float>,
                         checkChecksums: Bool = false) throws {
        let n = fingerprint.featureCount
        precondition(views.count == entries.count, "features(for:views:): \(entries.count) entries, \(views.count) views")
        guard buffer.count >= entries.count * n else {
            throw StoreError.bufferTooSmall(cache: path, needed: entries.count * n, given: buffer.count)
        }
        try lmdb.read { txn in
            for (i, e) in entries.enumerated() {
                let view = views[i]
                try lmdb.get(txn, "records", Layout.recordKey(e.key, view: view)) { b in
                    guard let b else {
                        throw StoreError.missingRecord(cache: path, record: Layout.recordName(e.key, view), path: e.path)
                    }
                    let h = try parse(b, e.key, view, checkCRC: checkChecksums)
                    Layout.decodePayload(b, h, into: buffer.baseAddress! + i * n)
                }
            }
        }
    }

    /// Every content key's stored views, ascending (0 first when the image itself is stored), in one read
    /// transaction over the record keys (values are not touched).
    public func storedViews() throws -> [ContentKey: [UInt16]] {
        var out = [ContentKey: [UInt16]]()
        try lmdb.read { txn in
            try lmdb.forEach(txn, "records") { k, _ in
                if let (key, view) = Layout.parseRecordKey(k) { out[key, default: []].append(view) }
                return true
            }
        }
        return out
    }

    /// Numbers of records, errors, and index entries per split and per (split, label).
    public func counts() throws -> CacheCounts {
        var c = CacheCounts()
        try lmdb.read { txn in
            c.records = try lmdb.entryCount(txn, "records")
            c.errors = try lmdb.entryCount(txn, "errors")
            try lmdb.forEach(txn, "index") { k, v in
                if case .success(let e) = Layout.decodeIndex(path: String(decoding: k, as: UTF8.self), v) {
                    c.entriesBySplit[e.split, default: 0] += 1
                    c.entriesBySplitAndLabel[e.split, default: [:]][e.label, default: 0] += 1
                }
                return true
            }
        }
        return c
    }

    // MARK: verification

    /// Re-reads everything: every record's key length, header, shape and dtype (against the fingerprint), length,
    /// CRC-32 and finite values; every index entry's layout, CRC-32 and label (against the class names) and that
    /// its (key, view 0) record exists; every errors value.
    /// Returns the problems found (empty = the cache is sound).
    public func verify() throws -> [VerificationProblem] {
        var problems = [VerificationProblem]()
        let fp = fingerprint
        let classCount = try classNames().count
        try lmdb.read { txn in
            try lmdb.forEach(txn, "records") { k, v in
                guard let (key, view) = Layout.parseRecordKey(k) else {
                    problems.append(VerificationProblem(database: "records", item: Array(k).hex,
                                                        reason: "key is \(k.count) bytes, expected 34"))
                    return true
                }
                if let fault = FeatureCache.recordFault(v, fp) {
                    problems.append(VerificationProblem(database: "records", item: Layout.recordName(key, view), reason: fault))
                }
                return true
            }
            var entries = [IndexEntry]()
            try lmdb.forEach(txn, "index") { k, v in
                let p = String(decoding: k, as: UTF8.self)
                switch Layout.decodeIndex(path: p, v) {
                case .success(let e) where classCount > 0 && !(0..<Int32(classCount)).contains(e.label):
                    problems.append(VerificationProblem(database: "index", item: p,
                                                        reason: "label \(e.label) names no class (the cache has \(classCount))"))
                case .success(let e): entries.append(e)
                case .failure(let f): problems.append(VerificationProblem(database: "index", item: p, reason: f.reason))
                }
                return true
            }
            for e in entries {
                let present = try lmdb.get(txn, "records", Layout.recordKey(e.key, view: 0)) { $0 != nil }
                if !present {
                    problems.append(VerificationProblem(database: "index", item: e.path,
                                                        reason: "points to record \(e.key)/0, which does not exist"))
                }
            }
            try lmdb.forEach(txn, "errors") { k, v in
                let p = String(decoding: k, as: UTF8.self)
                if case .failure(let f) = Layout.decodeError(path: p, v) {
                    problems.append(VerificationProblem(database: "errors", item: p, reason: f.reason))
                }
                return true
            }
        }
        return problems
    }
}
