import Foundation

/// NumPy `.npy` files (format 1.0, little-endian, C order) for the element types headstart exchanges.
public enum NPY {
    public enum DType: String {
        case float32 = "<f4", int32 = "<i4", uint8 = "|u1", float16 = "<f2"
        var size: Int { switch self { case .float32, .int32: 4; case .uint8: 1; case .float16: 2 } }
    }

    public struct Array {
        public var dtype: DType
        public var shape: [Int]
        public var data: Data  // raw little-endian elements
        public init(dtype: DType, shape: [Int], data: Data) {
            self.dtype = dtype; self.shape = shape; self.data = data
        }
        public var count: Int { shape.reduce(1, *) }
        public var floats: [Float] {
            precondition(dtype == .float32)
            return data.withUnsafeBytes { Swift.Array($0.bindMemory(to: Float.self)) }
        }
        public var bytes: [UInt8] { Swift.Array(data) }
        public var int32s: [Int32] {
            precondition(dtype == .int32)
            return data.withUnsafeBytes { Swift.Array($0.bindMemory(to: Int32.self)) }
        }
    }

    public struct FormatError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): not a readable .npy file: \(reason)" }
    }

    /// The header block: magic, version 1.0, header length, and a Python dict literal padded to 64 bytes.
    public static func header(dtype: DType, shape: [Int]) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Swift.Array("NUMPY".utf8) + [1, 0])
        let len = UInt16(dict.utf8.count)
        out.append(contentsOf: [UInt8(len & 0xFF), UInt8(len >> 8)])
        out.append(contentsOf: Swift.Array(dict.utf8))
        return out
    }

    public static func write(_ array: Array, to path: String) throws {
        precondition(array.data.count == array.count * array.dtype.size, "npy data does not match its shape")
        var out = header(dtype: array.dtype, shape: array.shape)
        out.append(array.data)
        try out.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func write(floats: [Float], shape: [Int], to path: String) throws {
        let data = floats.withUnsafeBufferPointer { Data(buffer: $0) }
        try write(Array(dtype: .float32, shape: shape, data: data), to: path)
    }

    public static func read(_ path: String) throws -> Array {
        let file: Data
        do { file = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError(path: path, reason: "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(file, name: path)
    }

    /// Parses the bytes of a .npy file (`name` only for errors). The header is untrusted: the shape must be
    /// non-negative integers whose product, times the element size, neither overflows nor differs from the
    /// bytes that follow.
    public static func parse(_ file: Data, name path: String) throws -> Array {
        let b = [UInt8](file.prefix(12))
        guard b.count >= 10, b[0] == 0x93, Swift.Array(b[1..<6]) == Swift.Array("NUMPY".utf8) else {
            throw FormatError(path: path, reason: "no NUMPY magic")
        }
        let major = b[6]
        let headerLen: Int
        let start: Int
        switch major {
        case 1:
            headerLen = Int(b[8]) | Int(b[9]) << 8; start = 10
        case 2, 3:
            guard b.count >= 12 else { throw FormatError(path: path, reason: "short header") }
            headerLen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12
        default:
            throw FormatError(path: path, reason: "format version \(major); this reads 1, 2 and 3")
        }
        guard file.count - start >= headerLen else { throw FormatError(path: path, reason: "truncated header") }
        let base = file.startIndex
        let dict = String(decoding: file[(base + start)..<(base + start + headerLen)], as: UTF8.self)
        guard let descr = field(dict, "descr"), let dtype = DType(rawValue: descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))) else {
            throw FormatError(path: path, reason: "unsupported dtype in header \(dict)")
        }
        if dict.contains("'fortran_order': True") { throw FormatError(path: path, reason: "Fortran order is not supported") }
        guard let open = dict.firstIndex(of: "("), let close = dict[open...].firstIndex(of: ")") else {
            throw FormatError(path: path, reason: "no shape in header")
        }
        var shape: [Int] = []
        var expected = dtype.size
        for item in dict[dict.index(after: open)..<close].split(separator: ",") {
            let text = item.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            guard let d = Int(text), d >= 0 else {
                throw FormatError(path: path, reason: "shape entry '\(text)' is not a size")
            }
            let (p, overflow) = expected.multipliedReportingOverflow(by: d)
            guard !overflow else { throw FormatError(path: path, reason: "shape \(dict[open...close]) is too large") }
            shape.append(d)
            expected = p
        }
        let body = file.subdata(in: (base + start + headerLen)..<file.endIndex)
        guard body.count == expected else {
            throw FormatError(path: path, reason: "expected \(expected) data bytes for shape \(shape), found \(body.count)")
        }
        return Array(dtype: dtype, shape: shape, data: body)
    }

    private static func field(_ dict: String, _ key: String) -> String? {
        guard let r = dict.range(of: "'\(key)':") else { return nil }
        let rest = dict[r.upperBound...]
        guard let end = rest.firstIndex(of: ",") else { return nil }
        return String(rest[..<end])
    }
}
