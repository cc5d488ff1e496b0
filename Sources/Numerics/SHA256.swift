import CCrypto
import Foundation

/// SHA-256 through OpenSSL's EVP interface, for content keys and weights-file fingerprints.
public final class SHA256Hasher: EVPHasher {
    public init() { super.init(algorithm: EVP_sha256(), length: 32) }

    public static func digest(_ data: Data) -> [UInt8] {
        let h = SHA256Hasher()
        h.update(data)
        return h.finish()
    }

    public static func digest(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let h = SHA256Hasher()
        h.update(bytes)
        return h.finish()
    }

    /// Streams a file in 4 MiB chunks.
    public static func digest(fileAt path: String) throws -> [UInt8] {
        let h = SHA256Hasher()
        try h.update(fileAt: path)
        return h.finish()
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hexadecimal.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var s = [UInt8]()
        s.reserveCapacity(count * 2)
        for b in self { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
        return String(decoding: s, as: UTF8.self)
    }
}
