import Foundation
import Numerics

/// A published digest a downloaded file must match, as lower-case hexadecimal.
public enum Checksum: Equatable, CustomStringConvertible {
    /// MD5, 32 hex digits: what Keras publishes (`file_hash`) for its application weights.
    case md5(String)
    /// SHA-256, 64 hex digits.
    case sha256(String)

    public var algorithm: String {
        switch self {
        case .md5: return "md5"
        case .sha256: return "sha256"
        }
    }

    public var hex: String {
        switch self {
        case .md5(let h), .sha256(let h): return h.lowercased()
        }
    }

    public var description: String { "\(algorithm) \(hex)" }

    /// The same algorithm's digest of the file at `path`, streamed in 4 MiB chunks, as lower-case hex.
    public func digest(ofFileAt path: String) throws -> String {
        switch self {
        case .md5: return try MD5Hasher.digest(fileAt: path).hex
        case .sha256: return try SHA256Hasher.digest(fileAt: path).hex
        }
    }
}
