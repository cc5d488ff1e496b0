import CCrypto
import Foundation

/// A digest in progress through OpenSSL's EVP interface. It owns its `EVP_MD_CTX` and frees it once, in `deinit`:
/// a class, so a hasher is never copied (a copied struct would free the context twice) and one dropped before
/// `finish()` does not leak it. `MD5Hasher` and `SHA256Hasher` choose the algorithm.
public class EVPHasher {
    private let ctx: OpaquePointer
    private let length: Int

    init(algorithm: OpaquePointer?, length: Int) {
        ctx = EVP_MD_CTX_new()
        self.length = length
        EVP_DigestInit_ex(ctx, algorithm, nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public final func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    public final func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// Streams a file in 4 MiB chunks.
    public final func update(fileAt path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        while true {
            let chunk = handle.readData(ofLength: 4 << 20)
            if chunk.isEmpty { break }
            update(chunk)
        }
    }

    /// The digest (16 bytes for MD5, 32 for SHA-256); the hasher cannot be updated afterwards.
    public final func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &out, &len)
        return out
    }
}
