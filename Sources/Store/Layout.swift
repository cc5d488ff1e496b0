import Foundation
import Numerics

/// Byte layouts of the LMDB keys and values (docs/cache-format.md is the reference; keep the two in step).
/// All integers little-endian unless said otherwise.
enum Layout {
    // MARK: records

    /// records key (34 bytes): content key (32) ‖ view number (u16 big-endian, so a key's views sort together).
    static func recordKey(_ key: ContentKey, view: UInt16) -> [UInt8] {
        key.bytes + [UInt8(view >> 8), UInt8(view & 0xFF)]
    }

    static func parseRecordKey(_ b: UnsafeRawBufferPointer) -> (ContentKey, UInt16)? {
        guard b.count == 34 else { return nil }
        let key = ContentKey(bytes: Array(b[0..<32]))!
        return (key, UInt16(b[32]) << 8 | UInt16(b[33]))
    }

    static func recordName(_ key: ContentKey, _ view: UInt16) -> String { "\(key)/\(view)" }

    /// records value: header then payload.
    ///
    ///     offset  size     field
    ///     0       4        magic "HSF1" (0x48 0x53 0x46 0x31)
    ///     4       2        u16 record format version (1)
    ///     6       1        u8 dtype: 1 = float16, 2 = float32
    ///     7       1        u8 rank r
    ///     8       4        u32 CRC-32 (IEEE 802.3, zlib.crc32) of the payload bytes
    ///     12      4·r      u32 dims, outermost first (H, W, C)
    ///     12+4r   n·size   payload: prod(dims) values, little-endian IEEE half or single
    static let magic: [UInt8] = Array("HSF1".utf8)
    static let recordVersion: UInt16 = 1
    static func headerSize(rank: Int) -> Int { 12 + 4 * rank }

    static func encodeRecord(values: [Float], shape: [Int], dtype: FeatureDType) -> [UInt8] {
        let h = headerSize(rank: shape.count)
        var out = [UInt8](repeating: 0, count: h + values.count * dtype.byteSize)
        out.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            for i in 0..<4 { raw[i] = magic[i] }
            p.storeBytes(of: recordVersion.littleEndian, toByteOffset: 4, as: UInt16.self)
            raw[6] = dtype.code
            raw[7] = UInt8(shape.count)
            for (i, d) in shape.enumerated() {
                p.storeBytes(of: UInt32(d).littleEndian, toByteOffset: 12 + 4 * i, as: UInt32.self)
            }
            switch dtype {
            case .f16:
                for (i, v) in values.enumerated() {
                    p.storeBytes(of: Half.bits(v).littleEndian, toByteOffset: h + 2 * i, as: UInt16.self)
                }
            case .f32:
                for (i, v) in values.enumerated() {
                    p.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: h + 4 * i, as: UInt32.self)
                }
            }
            let crc = CRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[h...]))
            p.storeBytes(of: crc.littleEndian, toByteOffset: 8, as: UInt32.self)
        }
        return out
    }

    struct RecordHeader {
        var dtype: FeatureDType
        var shape: [Int]
        var crc: UInt32
        var payloadOffset: Int
        /// prod(shape): checked against the value's length while parsing, so it cannot overflow.
        var count: Int
    }

    /// Parses and checks the header and the value's length; the checksum is checked only if `checkCRC`. The dims
    /// are untrusted u32s (up to 255 of them): their product is taken with overflow checks and must match the
    /// bytes the value actually holds before anything is sized from it.
    static func parseRecord(_ b: UnsafeRawBufferPointer, checkCRC: Bool) -> Result<RecordHeader, RecordFault> {
        guard b.count >= 12 else { return .failure(RecordFault("value is \(b.count) bytes, shorter than a header (12+)")) }
        guard Array(b[0..<4]) == magic else {
            return .failure(RecordFault("bad magic \(Array(b[0..<4]).map { String(format: "%02x", $0) }.joined()) (expected 48534631 \"HSF1\")"))
        }
        let version = UInt16(b[4]) | UInt16(b[5]) << 8
        guard version == recordVersion else { return .failure(RecordFault("record version \(version), this build reads \(recordVersion)")) }
        guard let dtype = FeatureDType(code: b[6]) else { return .failure(RecordFault("unknown dtype code \(b[6])")) }
        let rank = Int(b[7])
        let h = headerSize(rank: rank)
        guard b.count >= h else { return .failure(RecordFault("value is \(b.count) bytes, header of rank \(rank) needs \(h)")) }
        let crc = b.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian
        var shape = [Int]()
        for i in 0..<rank { shape.append(Int(b.loadUnaligned(fromByteOffset: 12 + 4 * i, as: UInt32.self).littleEndian)) }
        let payload = b.count - h
        guard let bytes = payloadBytes(shape: shape, dtype: dtype), bytes == payload else {
            let says = payloadBytes(shape: shape, dtype: dtype).map { "\(h + $0)" } ?? "more than \(Int.max)"
            return .failure(RecordFault("value is \(b.count) bytes, header (\(dtype.rawValue), shape \(shape)) says \(says)"))
        }
        if checkCRC {
            let actual = CRC32.checksum(UnsafeRawBufferPointer(rebasing: b[h...]))
            guard actual == crc else {
                return .failure(RecordFault(String(format: "payload CRC-32 is %08x, header says %08x", actual, crc)))
            }
        }
        return .success(RecordHeader(dtype: dtype, shape: shape, crc: crc, payloadOffset: h, count: bytes / dtype.byteSize))
    }

    /// prod(shape) · element size, or nil when a dim is negative or the product overflows Int.
    static func payloadBytes(shape: [Int], dtype: FeatureDType) -> Int? {
        var n = dtype.byteSize
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// Decodes the payload into `out` (header.count floats).
    static func decodePayload(_ b: UnsafeRawBufferPointer, _ header: RecordHeader, into out: UnsafeMutablePointer<Float>) {
        let o = header.payloadOffset
        switch header.dtype {
        case .f16:
            Half.decode(b, offset: o, out, count: header.count)
        case .f32:
            for i in 0..<header.count {
                out[i] = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o + 4 * i, as: UInt32.self)))
            }
        }
    }

    // MARK: index

    /// index key: the relative path's UTF-8 bytes. index value (version 3, 92 bytes):
    ///
    ///     offset  size  field
    ///     0       1     u8 entry version (3; version 1 entries are the first 56 bytes alone, version 2 entries
    ///                   those 56 bytes and a CRC-32 of them at 56)
    ///     1       1     u8 split: 0 = train, 1 = validation
    ///     2       2     reserved, 0
    ///     4       4     i32 label (class id)
    ///     8       8     i64 file size in bytes
    ///     16      8     i64 modification time, ns since 1970-01-01 UTC
    ///     24      32    content key (SHA-256 of the file bytes); the record is (key, view 0)
    ///     56      8     i64 status-change time (ctime), ns since 1970-01-01 UTC
    ///     64      8     u64 inode number
    ///     72      8     u64 device number
    ///     80      8     i64 when the bytes were read and hashed, ns since 1970-01-01 UTC; 0: no stat data
    ///     88      4     u32 CRC-32 of bytes 0..<88 followed by the key (the path's UTF-8 bytes)
    ///
    /// The CRC makes a damaged label or split an error instead of a silently different training set; it covers
    /// the path too, so an entry cannot pass for another path's. The stat data lets a rerun trust an unchanged
    /// file without opening it (`IndexEntry.check`).
    static let indexValueSize = 92
    static let indexValueSizeV2 = 60
    static let indexValueSizeV1 = 56
    static let indexVersion: UInt8 = 3
    /// Bytes the CRC-32 covers (before the path), by entry version.
    static let indexBodySize: [UInt8: Int] = [2: 56, 3: 88]

    static func encodeIndex(_ e: IndexEntry) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: indexValueSize)
        out.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress!
            raw[0] = indexVersion
            raw[1] = e.split.rawValue
            p.storeBytes(of: e.label.littleEndian, toByteOffset: 4, as: Int32.self)
            p.storeBytes(of: e.fileSize.littleEndian, toByteOffset: 8, as: Int64.self)
            p.storeBytes(of: e.modificationTimeNanoseconds.littleEndian, toByteOffset: 16, as: Int64.self)
            for i in 0..<32 { raw[24 + i] = e.key.bytes[i] }
            p.storeBytes(of: e.changeTimeNanoseconds.littleEndian, toByteOffset: 56, as: Int64.self)
            p.storeBytes(of: e.inode.littleEndian, toByteOffset: 64, as: UInt64.self)
            p.storeBytes(of: e.device.littleEndian, toByteOffset: 72, as: UInt64.self)
            p.storeBytes(of: e.hashedAtNanoseconds.littleEndian, toByteOffset: 80, as: Int64.self)
            let body = indexValueSize - 4
            let crc = indexCRC(UnsafeRawBufferPointer(rebasing: raw[0..<body]), path: e.path)
            p.storeBytes(of: crc.littleEndian, toByteOffset: body, as: UInt32.self)
        }
        return out
    }

    static func indexCRC(_ body: UnsafeRawBufferPointer, path: String) -> UInt32 {
        CRC32.checksum(Array(body) + Array(path.utf8))
    }

    /// The value length of each entry version this build reads.
    static let indexSizes: [UInt8: Int] = [1: indexValueSizeV1, 2: indexValueSizeV2, 3: indexValueSize]

    static func decodeIndex(path: String, _ b: UnsafeRawBufferPointer) -> Result<IndexEntry, RecordFault> {
        guard let version = b.first else { return .failure(RecordFault("value is 0 bytes, expected \(indexValueSize)")) }
        guard let size = indexSizes[version] else {
            // A version above this build's was written by a newer headstart: not damage, and not to be rewritten.
            return .failure(RecordFault("entry version \(version), this build reads 1 to \(indexVersion)",
                                        newerVersion: version > indexVersion ? Int(version) : nil))
        }
        guard b.count == size else { return .failure(RecordFault("value is \(b.count) bytes, entry version \(version) has \(size)")) }
        if let body = indexBodySize[version] {
            let stored = b.loadUnaligned(fromByteOffset: body, as: UInt32.self).littleEndian
            let actual = indexCRC(UnsafeRawBufferPointer(rebasing: b[0..<body]), path: path)
            guard stored == actual else {
                return .failure(RecordFault(String(format: "entry CRC-32 is %08x, stored %08x: its label, split, size, times or key was damaged", actual, stored)))
            }
        }  // version 1 was written before entries carried a CRC: nothing to check it against
        guard let split = Split(rawValue: b[1]) else { return .failure(RecordFault("unknown split code \(b[1])")) }
        func i64(_ o: Int) -> Int64 { Int64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: Int64.self)) }
        var e = IndexEntry(
            path: path, key: ContentKey(bytes: Array(b[24..<56]))!,
            label: Int32(littleEndian: b.loadUnaligned(fromByteOffset: 4, as: Int32.self)), split: split,
            fileSize: i64(8), modificationTimeNanoseconds: i64(16))
        if version == 3 {
            e.changeTimeNanoseconds = i64(56)
            e.inode = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 64, as: UInt64.self))
            e.device = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 72, as: UInt64.self))
            e.hashedAtNanoseconds = i64(80)
        }
        return .success(e)
    }

    // MARK: errors

    /// errors key: the relative path's UTF-8 bytes; value: JSON
    ///
    ///     {"reason": String, "time": seconds since 1970,
    ///      "key": 64 hex digits,            when the file's bytes were read
    ///      "stat": {"size", "mtime_ns", "ctime_ns", "inode", "device", "hashed_at_ns"},   likewise
    ///      "label": Int, "split": "train" | "validation"}   for a file kept out of the index by a rule
    ///
    /// The optional fields are absent in values written before they existed (and for files never read).
    struct ErrorValue: Codable {
        var reason: String
        var time: Double
        var key: String?
        var stat: StatValue?
        var label: Int32?
        var split: String?
    }

    struct StatValue: Codable {
        var size: Int64
        var mtimeNs: Int64, ctimeNs: Int64
        var inode: UInt64, device: UInt64
        var hashedAtNs: Int64
        enum CodingKeys: String, CodingKey {
            case size, inode, device
            case mtimeNs = "mtime_ns", ctimeNs = "ctime_ns", hashedAtNs = "hashed_at_ns"
        }
    }

    static func encodeError(_ e: ErrorEntry) -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var v = ErrorValue(reason: e.reason, time: e.time, key: e.key?.description, label: e.label, split: e.split?.description)
        if let s = e.stat, let at = e.hashedAtNanoseconds {
            v.stat = StatValue(size: s.size, mtimeNs: s.modificationTimeNanoseconds, ctimeNs: s.changeTimeNanoseconds,
                               inode: s.inode, device: s.device, hashedAtNs: at)
        }
        return Array(try! enc.encode(v))
    }

    static func decodeError(path: String, _ b: UnsafeRawBufferPointer) -> Result<ErrorEntry, RecordFault> {
        guard let v = try? JSONDecoder().decode(ErrorValue.self, from: Data(b)) else {
            return .failure(RecordFault("value is not the JSON {\"reason\", \"time\", …}"))
        }
        var e = ErrorEntry(path: path, reason: v.reason, time: v.time)
        if let k = v.key {
            guard let key = ContentKey(hex: k) else { return .failure(RecordFault("key \(k) is not 64 hexadecimal digits")) }
            e.key = key
        }
        if let s = v.stat {
            e.stat = FileStat(size: s.size, modificationTimeNanoseconds: s.mtimeNs, changeTimeNanoseconds: s.ctimeNs,
                              inode: s.inode, device: s.device)
            e.hashedAtNanoseconds = s.hashedAtNs
        }
        e.label = v.label
        if let s = v.split {
            guard let split = Split.allCases.first(where: { $0.description == s }) else {
                return .failure(RecordFault("split \(s) is neither train nor validation"))
            }
            e.split = split
        }
        return .success(e)
    }
}

struct RecordFault: Error {
    var reason: String
    /// Set when the value is of a newer layout version than this build reads (written by a newer headstart).
    var newerVersion: Int?
    init(_ reason: String, newerVersion: Int? = nil) { self.reason = reason; self.newerVersion = newerVersion }
}

/// CRC-32 (IEEE 802.3 polynomial, reflected, init and final xor 0xFFFFFFFF): the same value as zlib.crc32 and
/// Python's `zlib.crc32`. Slicing-by-8 tables, so verifying a 75 KB record costs little next to reading it.
enum CRC32 {
    static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xFF)] }
        }
        return t
    }()

    static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }

    static func checksum(_ b: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        let n = b.count
        var i = 0
        tables.withUnsafeBufferPointer { tt in
            let t0 = tt[0], t1 = tt[1], t2 = tt[2], t3 = tt[3], t4 = tt[4], t5 = tt[5], t6 = tt[6], t7 = tt[7]
            while i + 8 <= n {
                let lo = c ^ (UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24)
                let hi = UInt32(b[i + 4]) | UInt32(b[i + 5]) << 8 | UInt32(b[i + 6]) << 16 | UInt32(b[i + 7]) << 24
                c = t7[Int(lo & 0xFF)] ^ t6[Int((lo >> 8) & 0xFF)] ^ t5[Int((lo >> 16) & 0xFF)] ^ t4[Int(lo >> 24)]
                    ^ t3[Int(hi & 0xFF)] ^ t2[Int((hi >> 8) & 0xFF)] ^ t1[Int((hi >> 16) & 0xFF)] ^ t0[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = t0[Int((c ^ UInt32(b[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return c ^ 0xFFFF_FFFF
    }
}
