import Foundation
import Numerics

/// The SHA-256 of an image file's bytes: records are keyed by content, so identical files share one record and a
/// changed file can never be served stale features under its old path.
public struct ContentKey: Hashable, Comparable, CustomStringConvertible, Sendable {
    public static let byteCount = 32
    /// Exactly 32 bytes.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == ContentKey.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Parses 64 hexadecimal digits.
    public init?(hex: String) {
        let u = Array(hex.utf8)
        guard u.count == 64 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(32)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        for i in stride(from: 0, to: 64, by: 2) {
            guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        bytes = out
    }

    /// The key of some bytes already in memory.
    public static func of(_ data: Data) -> ContentKey { ContentKey(bytes: SHA256Hasher.digest(data))! }

    /// The key of a file, streamed.
    public static func of(fileAt path: String) throws -> ContentKey {
        ContentKey(bytes: try SHA256Hasher.digest(fileAt: path))!
    }

    /// Lower-case hexadecimal, 64 digits.
    public var description: String { bytes.hex }

    public static func < (a: ContentKey, b: ContentKey) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// Which subset an image belongs to. Raw values are the on-disk byte (docs/cache-format.md).
public enum Split: UInt8, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case train = 0
    case validation = 1
    public var description: String { self == .train ? "train" : "validation" }
}

/// How feature values are stored. Raw values are the fingerprint's JSON spelling; `code` is the record header byte.
public enum FeatureDType: String, Codable, Sendable, CaseIterable {
    case f16, f32
    public var code: UInt8 { self == .f16 ? 1 : 2 }
    public var byteSize: Int { self == .f16 ? 2 : 4 }
    public init?(code: UInt8) {
        switch code {
        case 1: self = .f16
        case 2: self = .f32
        default: return nil
        }
    }
}

/// Everything that determines the features of an image. Two caches with equal fingerprints hold interchangeable
/// records; a cache opened with a different fingerprint is refused (stale features are never reused).
public struct CacheFingerprint: Codable, Equatable, Sendable {
    public var weightsSHA256: String
    public var weightsName: String
    public var layer: String
    /// [height, width] of the network input.
    public var inputSize: [Int]
    public var resize: String
    public var preprocess: String
    public var dtype: FeatureDType
    /// Shape of one view's features, e.g. [7, 7, 768] (H, W, C).
    public var featureShape: [Int]
    public var formatVersion: Int
    /// The augmentation recipe of views > 0; nil while only view 0 (the image itself) exists.
    public var augmentation: String?
    /// Anything else a caller wants compared (free-form, compared key by key).
    public var extra: [String: String]

    public static let currentFormatVersion = 1

    public init(
        weightsSHA256: String, weightsName: String, layer: String, inputSize: [Int], resize: String,
        preprocess: String, dtype: FeatureDType, featureShape: [Int],
        formatVersion: Int = CacheFingerprint.currentFormatVersion, augmentation: String? = nil,
        extra: [String: String] = [:]
    ) {
        self.weightsSHA256 = weightsSHA256; self.weightsName = weightsName; self.layer = layer
        self.inputSize = inputSize; self.resize = resize; self.preprocess = preprocess; self.dtype = dtype
        self.featureShape = featureShape; self.formatVersion = formatVersion; self.augmentation = augmentation
        self.extra = extra
    }

    /// Number of values in one view's features (`invalidity()` nil guarantees it does not overflow).
    public var featureCount: Int { featureShape.reduce(1, *) }

    /// The most bytes one record's payload may take (float32): 1 GiB, far above any cut of InceptionV3 at any
    /// input size this build accepts; a fingerprint asking for more is damaged.
    public static let maxPayloadBytes = 1 << 30

    /// Why this fingerprint cannot describe a cache this build can read, or nil: a format version it does not
    /// know, or sizes (read from the cache, so untrusted) that are empty, not positive, or too large.
    public func invalidity() -> String? {
        guard formatVersion == CacheFingerprint.currentFormatVersion else {
            return "formatVersion \(formatVersion); this build reads version \(CacheFingerprint.currentFormatVersion)"
        }
        guard !featureShape.isEmpty, featureShape.count <= 255, featureShape.allSatisfy({ $0 >= 1 && $0 <= Int(UInt32.max) }),
              let bytes = Layout.payloadBytes(shape: featureShape, dtype: .f32), bytes <= CacheFingerprint.maxPayloadBytes else {
            return "featureShape \(featureShape) is not 1 to 255 positive sizes of at most \(CacheFingerprint.maxPayloadBytes / 4) values in all"
        }
        guard inputSize.count == 2, inputSize.allSatisfy({ $0 >= 1 }) else {
            return "inputSize \(inputSize) is not two positive sizes"
        }
        return nil
    }

    /// One entry per differing field: (field, value in `self` = the cache, value in `other` = asked for).
    public func differences(from other: CacheFingerprint) -> [FingerprintDifference] {
        var out = [FingerprintDifference]()
        func cmp(_ name: String, _ a: String, _ b: String) {
            if a != b { out.append(FingerprintDifference(field: name, old: a, new: b)) }
        }
        // The weights are identified by content; their file name is for people and may change freely.
        cmp("weightsSHA256", weightsSHA256, other.weightsSHA256)
        cmp("layer", layer, other.layer)
        cmp("inputSize", "\(inputSize)", "\(other.inputSize)")
        cmp("resize", resize, other.resize)
        cmp("preprocess", preprocess, other.preprocess)
        cmp("dtype", dtype.rawValue, other.dtype.rawValue)
        cmp("featureShape", "\(featureShape)", "\(other.featureShape)")
        cmp("formatVersion", "\(formatVersion)", "\(other.formatVersion)")
        cmp("augmentation", augmentation ?? "(none)", other.augmentation ?? "(none)")
        for k in Set(extra.keys).union(other.extra.keys).sorted() {
            cmp("extra.\(k)", extra[k] ?? "(absent)", other.extra[k] ?? "(absent)")
        }
        return out
    }

    /// Canonical JSON (sorted keys), as stored under meta/"fingerprint".
    public func jsonData() -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try! enc.encode(self)
    }
}

public struct FingerprintDifference: Equatable, Sendable, CustomStringConvertible {
    public let field: String
    /// The value stored in the cache.
    public let old: String
    /// The value asked for.
    public let new: String
    public var description: String { "\(field): cache has \(old), asked for \(new)" }
}

/// One view's features as read back (always float32 in memory).
public struct FeatureRecord: Equatable, Sendable {
    public var key: ContentKey
    /// 0 = the image itself; later views are augmentations.
    public var view: UInt16
    public var dtype: FeatureDType
    public var shape: [Int]
    public var values: [Float]
    public init(key: ContentKey, view: UInt16, dtype: FeatureDType, shape: [Int], values: [Float]) {
        self.key = key; self.view = view; self.dtype = dtype; self.shape = shape; self.values = values
    }
}

/// What `stat(2)` says of a file: the data git's index keeps to recognise an unchanged file without reading it.
/// Any difference in any field means the file may have changed and is read and hashed again.
public struct FileStat: Equatable, Sendable {
    public var size: Int64
    /// Modification and status-change times, nanoseconds since 1970-01-01 UTC.
    public var modificationTimeNanoseconds: Int64
    public var changeTimeNanoseconds: Int64
    public var inode: UInt64
    public var device: UInt64
    public init(size: Int64, modificationTimeNanoseconds: Int64, changeTimeNanoseconds: Int64, inode: UInt64, device: UInt64) {
        self.size = size; self.modificationTimeNanoseconds = modificationTimeNanoseconds
        self.changeTimeNanoseconds = changeTimeNanoseconds; self.inode = inode; self.device = device
    }

    /// How long after a file's modification time it may still be modified again without its modification time
    /// changing: file systems store times at their own granularity (FAT 2 s, some network file systems 1 s) and
    /// Linux stamps them from a clock that ticks every few milliseconds. A file hashed less than this after its
    /// modification time is "racy" (git's term): its stat data cannot vouch for the bytes that were hashed.
    public static let racyWindowNanoseconds: Int64 = 2_000_000_000
}

/// How a file's stat now compares with what an index entry recorded when the file was hashed.
public enum StatCheck: Equatable, Sendable {
    /// Every field as recorded, and the file was hashed well after it was last modified: it is what was hashed.
    case unchanged
    /// A field differs: the file may have changed.
    case changed
    /// As recorded, but the file was hashed within `FileStat.racyWindowNanoseconds` of its modification time, so a
    /// change in the same clock tick would not show (git's racy rule): it must be hashed again.
    case racy
    /// The entry has no stat data (written before the index kept it, entry versions 1 and 2).
    case unknown
}

/// What the cache knows of a dataset file: its content, label and split, and the file's stat data when it was
/// hashed, so a rerun can trust an unchanged file without opening it (as git's index does).
public struct IndexEntry: Equatable, Sendable {
    /// Path relative to the dataset root, '/'-separated.
    public var path: String
    public var key: ContentKey
    public var label: Int32
    public var split: Split
    public var fileSize: Int64
    /// Modification time, nanoseconds since 1970-01-01 UTC.
    public var modificationTimeNanoseconds: Int64
    /// The rest of the file's stat data (entry version 3; 0 in older entries).
    public var changeTimeNanoseconds: Int64 = 0
    public var inode: UInt64 = 0
    public var device: UInt64 = 0
    /// When the file's bytes were read and hashed, ns since 1970 (wall clock); 0 when the entry has no stat data.
    public var hashedAtNanoseconds: Int64 = 0

    public init(path: String, key: ContentKey, label: Int32, split: Split, fileSize: Int64, modificationTimeNanoseconds: Int64) {
        self.path = path; self.key = key; self.label = label; self.split = split
        self.fileSize = fileSize; self.modificationTimeNanoseconds = modificationTimeNanoseconds
    }

    /// An entry with the stat data of its file, hashed at `hashedAt` (ns since 1970).
    public init(path: String, key: ContentKey, label: Int32, split: Split, stat: FileStat, hashedAtNanoseconds: Int64) {
        self.init(path: path, key: key, label: label, split: split, fileSize: stat.size,
                  modificationTimeNanoseconds: stat.modificationTimeNanoseconds)
        changeTimeNanoseconds = stat.changeTimeNanoseconds; inode = stat.inode; device = stat.device
        self.hashedAtNanoseconds = hashedAtNanoseconds
    }

    /// The recorded stat data, or nil when the entry has none.
    public var stat: FileStat? {
        hashedAtNanoseconds == 0 ? nil : FileStat(size: fileSize, modificationTimeNanoseconds: modificationTimeNanoseconds,
                                                  changeTimeNanoseconds: changeTimeNanoseconds, inode: inode, device: device)
    }

    /// Compares the file's stat now with the recorded one (git's `ie_match_stat` with its racy-timestamp rule).
    public func check(_ now: FileStat) -> StatCheck { StatCheck(recorded: stat, hashedAt: hashedAtNanoseconds, now: now) }
}

extension StatCheck {
    /// `now` against the stat data recorded when the file was hashed at `hashedAt` (ns since 1970). Git's racy
    /// rule: a file hashed less than the racy window after its modification time (or before it: a clock behind
    /// the file system's) may have been modified again within the same tick without its stat showing it.
    init(recorded: FileStat?, hashedAt: Int64, now: FileStat) {
        guard let recorded, hashedAt != 0 else { self = .unknown; return }
        guard recorded == now else { self = .changed; return }
        let (limit, overflow) = hashedAt.subtractingReportingOverflow(FileStat.racyWindowNanoseconds)
        self = overflow || recorded.modificationTimeNanoseconds >= limit ? .racy : .unchanged
    }
}

/// A dataset file that produced no features, or that is kept out of the index by a rule (its content is also in
/// the train split, or under another class), and why.
public struct ErrorEntry: Equatable, Sendable {
    public var path: String
    public var reason: String
    /// Seconds since 1970-01-01 UTC.
    public var time: Double
    /// The file's content key, when its bytes were read (a file that does not decode; a file kept out by a rule).
    public var key: ContentKey?
    /// The file's stat data when its bytes were read, and when: a rerun trusts the same outcome without opening
    /// the file while its stat is unchanged (the rule of `IndexEntry.check`).
    public var stat: FileStat?
    public var hashedAtNanoseconds: Int64?
    /// For a file kept out by a rule: the label and split its index entry would have (so the rules can be decided
    /// again, by a later run or by `cache merge` over shards, with every file known).
    public var label: Int32?
    public var split: Split?

    public init(path: String, reason: String, time: Double = Date().timeIntervalSince1970) {
        self.path = path; self.reason = reason; self.time = time
    }

    /// The entry of a file kept out of the index by a rule, with the reason.
    public init(keptOut e: IndexEntry, reason: String, time: Double = Date().timeIntervalSince1970) {
        self.init(path: e.path, reason: reason, time: time)
        key = e.key; label = e.label; split = e.split
        if let s = e.stat { stat = s; hashedAtNanoseconds = e.hashedAtNanoseconds }
    }

    /// The index entry a file kept out by a rule would have, or nil for a file that produced no features.
    public var keptOut: IndexEntry? {
        guard let key, let label, let split else { return nil }
        guard let stat, let hashedAtNanoseconds else {
            return IndexEntry(path: path, key: key, label: label, split: split, fileSize: 0, modificationTimeNanoseconds: 0)
        }
        return IndexEntry(path: path, key: key, label: label, split: split, stat: stat, hashedAtNanoseconds: hashedAtNanoseconds)
    }

    /// Compares the file's stat now with the one recorded when it was read, as `IndexEntry.check` does.
    public func check(_ now: FileStat) -> StatCheck { StatCheck(recorded: stat, hashedAt: hashedAtNanoseconds ?? 0, now: now) }

    /// Whether `other` records the same outcome (everything but the time it was written): a run that finds the
    /// same outcome again leaves the entry as it is, so reruns do not churn.
    public func isSameOutcome(_ other: ErrorEntry?) -> Bool {
        guard var other else { return false }
        other.time = time
        return other == self
    }
}

/// Features to store for one (content key, view).
public struct PendingRecord: Sendable {
    public var key: ContentKey
    public var view: UInt16
    /// `fingerprint.featureCount` values, in the fingerprint's feature shape (row-major, HWC).
    public var values: [Float]
    public init(key: ContentKey, view: UInt16 = 0, values: [Float]) {
        self.key = key; self.view = view; self.values = values
    }
}

/// Everything one `commit(batch:)` writes in a single transaction.
public struct Batch: Sendable {
    public var records: [PendingRecord]
    /// Put into the index; any error entry for the same path is removed (the file is fixed).
    public var entries: [IndexEntry]
    /// Put into the errors table; any index entry for the same path is removed (the file broke).
    public var errors: [ErrorEntry]
    /// Paths no longer in the dataset: removed from index and errors.
    public var removedPaths: [String]
    /// Class names to store with the rest (meta "classes"), when set.
    public var classNames: [String]?
    /// The dataset folder to record with the rest (meta "dataset"), when set.
    public var datasetRoot: String?
    public init(records: [PendingRecord] = [], entries: [IndexEntry] = [], errors: [ErrorEntry] = [], removedPaths: [String] = [],
                classNames: [String]? = nil, datasetRoot: String? = nil) {
        self.records = records; self.entries = entries; self.errors = errors; self.removedPaths = removedPaths
        self.classNames = classNames; self.datasetRoot = datasetRoot
    }
}

/// Record and index counts.
public struct CacheCounts: Equatable, Sendable {
    public var records = 0
    public var errors = 0
    public var entriesBySplit: [Split: Int] = [:]
    /// split → label → count
    public var entriesBySplitAndLabel: [Split: [Int32: Int]] = [:]
    public var entries: Int { entriesBySplit.values.reduce(0, +) }
    public init() {}
}

/// A problem `verify()` found.
public struct VerificationProblem: Equatable, Sendable, CustomStringConvertible {
    /// "records", "index", "errors" or "meta".
    public var database: String
    /// The record key ("<hex>/<view>") or the index path.
    public var item: String
    public var reason: String
    public var description: String { "\(database) \(item): \(reason)" }
}

public enum StoreError: Error, CustomStringConvertible, Equatable {
    case fingerprintMismatch(cache: String, differences: [FingerprintDifference])
    case notACache(cache: String, reason: String)
    case lmdb(cache: String, operation: String, code: Int32, message: String)
    case corruptRecord(cache: String, record: String, reason: String)
    case missingRecord(cache: String, record: String, path: String?)
    case wrongValueCount(cache: String, record: String, expected: Int, found: Int)
    case corruptIndexEntry(cache: String, path: String, reason: String)
    case indexConflict(cache: String, path: String, reason: String)
    case classNamesConflict(cache: String, stored: [String], given: [String])
    case bufferTooSmall(cache: String, needed: Int, given: Int)
    /// data.mdb is shorter than the pages its meta page names (a half-finished copy): reading on would end the
    /// process with SIGBUS.
    case truncated(cache: String, bytes: Int, needed: Int)
    /// The cache was never completed: no fingerprint was committed (`reason` says what is missing).
    case incomplete(cache: String, reason: String)
    /// A write to a cache opened read-only.
    case readOnly(cache: String)
    /// An index entry of a layout version newer than this build reads: the cache was written by a newer headstart.
    case newerEntryVersion(cache: String, path: String, version: Int)

    public var description: String {
        switch self {
        case let .fingerprintMismatch(cache, diffs):
            return "feature cache \(cache) was built with different settings:\n"
                + diffs.map { "  \($0.field): cache has \($0.old), this run has \($0.new)" }.joined(separator: "\n")
                + "\nUse --rebuild to delete it and start over, or choose another --cache directory."
        case let .notACache(cache, reason): return "\(cache) is not a headstart feature cache: \(reason)"
        case let .lmdb(cache, op, code, message): return "feature cache \(cache): LMDB \(op) failed (\(code): \(message))"
        case let .corruptRecord(cache, record, reason): return "feature cache \(cache): record \(record) is corrupt: \(reason)"
        case let .missingRecord(cache, record, path):
            return "feature cache \(cache): no record \(record)" + (path.map { " (index entry \($0))" } ?? "")
        case let .wrongValueCount(cache, record, expected, found):
            return "feature cache \(cache): record \(record) has \(found) values, the fingerprint's feature shape needs \(expected)"
        case let .corruptIndexEntry(cache, path, reason): return "feature cache \(cache): index entry \(path) is corrupt: \(reason)"
        case let .indexConflict(cache, path, reason): return "feature cache \(cache): conflicting index entries for \(path): \(reason)"
        case let .classNamesConflict(cache, stored, given):
            return "feature cache \(cache) has class names \(stored), this run has \(given)"
        case let .bufferTooSmall(cache, needed, given):
            return "feature cache \(cache): output buffer holds \(given) floats, \(needed) needed"
        case let .truncated(cache, bytes, needed):
            return "feature cache \(cache) is truncated: data.mdb is \(bytes) bytes, but its last committed transaction uses \(needed) (an interrupted copy?). Copy it again, or rebuild it with `headstart extract --rebuild`."
        case let .incomplete(cache, reason):
            return "feature cache \(cache) was never completed: \(reason). The extraction that created it stopped before its first commit; run `headstart extract` into it again to finish it (or with --rebuild to start over)."
        case let .readOnly(cache):
            return "feature cache \(cache) is opened read-only and cannot be written"
        case let .newerEntryVersion(cache, path, version):
            return "feature cache \(cache): index entry \(path) has layout version \(version), and this build reads versions 1 to \(Layout.indexVersion): the cache was written by a newer headstart. Use that one, or extract into another cache."
        }
    }
}
