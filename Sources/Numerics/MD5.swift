import CCrypto
import Foundation

/// MD5 through OpenSSL's EVP interface. Only for checking downloads against published digests (Keras publishes
/// an md5 `file_hash` for its application weights); never for content keys, which use SHA-256.
public final class MD5Hasher: EVPHasher {
    public init() { super.init(algorithm: EVP_md5(), length: 16) }

    public static func digest(_ data: Data) -> [UInt8] {
        let h = MD5Hasher()
        h.update(data)
        return h.finish()
    }

    /// Streams a file in 4 MiB chunks.
    public static func digest(fileAt path: String) throws -> [UInt8] {
        let h = MD5Hasher()
        try h.update(fileAt: path)
        return h.finish()
    }
}
