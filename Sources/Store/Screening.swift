import Foundation

/// An index entry (or one of its augmented views) that cannot be used, and why.
public struct DamagedEntry: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The relative path, as in the index.
    public var path: String
    /// The record concerned ("<content key>/<view>"), when the record rather than the entry is what is wrong.
    public var record: String?
    public var reason: String
    public init(path: String, record: String?, reason: String) { self.path = path; self.record = record; self.reason = reason }
    public var description: String { record.map { "\(path) (record \($0)): \(reason)" } ?? "\(path): \(reason)" }
}

/// What `FeatureCache.screen` found.
public struct Screening: Sendable {
    /// The entries that can be used, in path order.
    public var usable: [IndexEntry] = []
    /// The entries that cannot, in path order: their own bytes are damaged, their label names no class, or
    /// their record is missing, damaged or holds a NaN or an infinity.
    public var damaged: [DamagedEntry] = []
    /// With `views`: every usable entry's content key → its sound stored views, ascending (0 first).
    public var views: [ContentKey: [UInt16]] = [:]
    /// With `views`: augmented views (> 0) that are damaged; their entries stay usable without them.
    public var damagedViews: [DamagedEntry] = []
}

extension FeatureCache {
    /// Checks what training, evaluation and export are about to read, in one read transaction: every index
    /// entry of `split` (all when nil) — its bytes (CRC-32 of version 2 entries), its label against the class
    /// names, its split — and its view-0 record: present, header and shape against the fingerprint, length,
    /// CRC-32, and every value finite. With `views`, also every stored augmented view of the usable entries.
    /// One pass over the records at memory speed; the readers can then decode without checking again.
    public func screen(split: Split? = nil, views: Bool = false) throws -> Screening {
        var out = Screening()
        let classCount = try classNames().count
        let fp = fingerprint
        try lmdb.read { txn in
            var entries: [IndexEntry] = []
            try lmdb.forEach(txn, "index") { k, v in
                let p = String(decoding: k, as: UTF8.self)
                switch Layout.decodeIndex(path: p, v) {
                case .success(let e):
                    guard split == nil || e.split == split else { return true }
                    if classCount > 0 && !(0..<Int32(classCount)).contains(e.label) {
                        out.damaged.append(DamagedEntry(path: p, record: nil,
                            reason: "label \(e.label) names no class (the cache has \(classCount))"))
                    } else {
                        entries.append(e)
                    }
                case .failure(let f) where f.newerVersion != nil:
                    throw self.indexFault(p, f)
                case .failure(let f):
                    // A damaged entry's split is unknown: it is reported whichever split was asked for.
                    out.damaged.append(DamagedEntry(path: p, record: nil, reason: "index entry: \(f.reason)"))
                }
                return true
            }
            for e in entries {
                let name = Layout.recordName(e.key, 0)
                let fault = try lmdb.get(txn, "records", Layout.recordKey(e.key, view: 0)) { b -> String? in
                    guard let b else { return "its record does not exist" }
                    return Self.recordFault(b, fp)
                }
                if let fault { out.damaged.append(DamagedEntry(path: e.path, record: name, reason: fault)) } else { out.usable.append(e) }
            }
            if views {
                var paths: [ContentKey: String] = [:]
                for e in out.usable where paths[e.key] == nil { paths[e.key] = e.path; out.views[e.key] = [0] }
                try lmdb.forEach(txn, "records") { k, v in
                    guard let (key, view) = Layout.parseRecordKey(k), view > 0, let path = paths[key] else { return true }
                    if let fault = Self.recordFault(v, fp) {
                        out.damagedViews.append(DamagedEntry(path: path, record: Layout.recordName(key, view), reason: fault))
                    } else {
                        out.views[key, default: [0]].append(view)
                    }
                    return true
                }
            }
        }
        out.damaged.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        return out
    }

    /// Why a record value cannot be used, or nil: its header, length and CRC-32 (`Layout.parseRecord`), its dtype
    /// and shape against the fingerprint, and its values finite (an IEEE exponent of all ones is a NaN or an
    /// infinity, checked on the stored bits).
    static func recordFault(_ b: UnsafeRawBufferPointer, _ fp: CacheFingerprint) -> String? {
        let h: Layout.RecordHeader
        switch Layout.parseRecord(b, checkCRC: true) {
        case .success(let header): h = header
        case .failure(let f): return f.reason
        }
        guard h.shape == fp.featureShape, h.dtype == fp.dtype else {
            return "header says \(h.dtype.rawValue) \(h.shape), fingerprint says \(fp.dtype.rawValue) \(fp.featureShape)"
        }
        let payload = UnsafeRawBufferPointer(rebasing: b[h.payloadOffset...])
        switch h.dtype {
        case .f16:
            for i in 0..<h.count where payload.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian & 0x7C00 == 0x7C00 {
                return "value \(i) is NaN or infinite"
            }
        case .f32:
            for i in 0..<h.count where payload.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian & 0x7F80_0000 == 0x7F80_0000 {
                return "value \(i) is NaN or infinite"
            }
        }
        return nil
    }
}
