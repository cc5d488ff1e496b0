import CShims
import Foundation

/// Why an image could not be encoded or written, naming the destination.
public struct ImageEncodeError: Error, Equatable, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String

    public var description: String { "\(path): cannot write PNG (\(reason))" }
}

public enum ImageEncoder {
    /// The image as PNG bytes (8-bit RGB, not interlaced, libpng's default filters and compression).
    /// `name` is only used in error messages.
    public static func png(_ image: RGBImage, name: String = "<memory>") throws -> [UInt8] {
        var info = hs_codec_info()
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        let status = image.pixels.withUnsafeBufferPointer { px in
            hs_png_encode_rgb(px.baseAddress, Int32(image.width), Int32(image.height), &out, &size, &info)
        }
        guard status == HS_CODEC_OK, let bytes = out else {
            let message = withUnsafeBytes(of: info.message) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            throw ImageEncodeError(path: name, reason: status == HS_CODEC_NO_MEMORY ? "out of memory" : message)
        }
        defer { hs_codec_free(bytes) }
        return [UInt8](UnsafeBufferPointer(start: bytes, count: size))
    }

    /// Writes the image as a PNG file at `path` (replacing it atomically).
    public static func writePNG(_ image: RGBImage, to path: String) throws {
        let bytes = try png(image, name: path)
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ImageEncodeError(path: path, reason: (error as NSError).localizedDescription)
        }
    }
}
