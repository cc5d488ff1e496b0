import CCrypto
import Foundation

/// MD5 through OpenSSL's EVP interface. Only for checking downloads against published digests (Keras publishes
/// an md5 `file_hash` for its application weights); never for content keys, which use SHA-256.
public struct MD5Hasher {
    private var ctx: OpaquePointer

    public init() {
        ctx = EVP_MD_CTX_new()
        EVP_DigestInit_ex(ctx, EVP_md5(), nil)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// The 16-byte digest; the hasher cannot be used afterwards.
    public mutating func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &out, &len)
        EVP_MD_CTX_free(ctx)
        return out
    }

    public static func digest(_ data: Data) -> [UInt8] {
        var h = MD5Hasher()
        h.update(data)
        return h.finish()
    }

    /// Streams a file in 4 MiB chunks.
    public static func digest(fileAt path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var h = MD5Hasher()
        while true {
            let chunk = handle.readData(ofLength: 4 << 20)
            if chunk.isEmpty { break }
            h.update(chunk)
        }
        return h.finish()
    }
}
