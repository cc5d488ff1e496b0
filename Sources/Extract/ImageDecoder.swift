import CShims
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An 8-bit RGB image, row-major HWC: `pixels[(y * width + x) * 3 + c]`.
public struct RGBImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// The container format, recognised from the file's first bytes (never from its name).
public enum ImageFormat: String, Sendable {
    case jpeg = "JPEG", png = "PNG", bmp = "BMP", ppm = "PPM", tiff = "TIFF", gif = "GIF", webp = "WebP"
}

/// A decoded image with what the decoder noticed on the way.
public struct DecodedImage: Sendable {
    public var image: RGBImage
    public var format: ImageFormat
    /// Warnings the codec recovered from (libjpeg's "Corrupt JPEG data: ..." and the like). PIL decodes such
    /// files silently; we count the warnings so callers can report them, and never print them.
    public var warningCount: Int
    /// The codec's first warning message, when `warningCount > 0` and the codec gives one.
    public var firstWarning: String?
}

/// Why an image could not be decoded, always with the file it concerns.
public struct ImageError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Reason: Equatable, Sendable {
        case missing
        case brokenSymlink(target: String)
        case unreadable(String)                 // the OS's reason: permission denied, is a directory, I/O error
        case empty
        case truncated(format: String, detail: String)
        case corrupt(format: String, detail: String)
        case unsupportedFormat(String)          // "HEIF/AVIF", "BMP with RLE8 compression", "TIFF with photometric ...", ...
        case tooManyPixels(width: Int, height: Int, limit: Int)
        case symlinkLoop(target: String)
        case notRegular(kind: String)           // "a FIFO", "a socket", "a character device", ...
        case tooLarge(bytes: Int64, limit: Int)
    }

    public var path: String
    public var reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        let why: String
        switch reason {
        case .missing: why = "no such file"
        case .brokenSymlink(let target): why = "broken symbolic link (it points to \(target), which does not exist)"
        case .unreadable(let os): why = "cannot read the file (\(os))"
        case .empty: why = "empty file (0 bytes)"
        case .truncated(let format, let detail):
            why = "truncated \(format) file: the data ends before the image does" + (detail.isEmpty ? "" : " (\(detail))")
        case .corrupt(let format, let detail): why = "corrupt \(format) data: \(detail)"
        case .unsupportedFormat(let what):
            why = "unsupported format (\(what)); headstart reads JPEG, PNG, TIFF, GIF, WebP, BMP and binary PPM/PGM"
        case .symlinkLoop(let target):
            why = "symbolic link loop (\(target) leads back to itself: too many levels of symbolic links)"
        case .notRegular(let kind): why = "not a regular file (\(kind)): not read"
        case .tooLarge(let bytes, let limit):
            why = "the file is \(bytes) bytes; no image within the pixel limit takes more than \(limit), so it is not read"
        case .tooManyPixels(let w, let h, let limit):
            let (count, overflow) = w.multipliedReportingOverflow(by: h)
            let pixels = overflow ? "more than \(Int.max)" : "\(count)"
            why = "image is \(w)x\(h) = \(pixels) pixels, over the limit of \(limit) pixels (checked before decoding)"
        }
        return "\(path): \(why)"
    }
}

public enum ImageDecoder {
    /// PIL's `Image.MAX_IMAGE_PIXELS` (1024 * 1024 * 1024 // 4 // 3). PIL warns above it and raises above twice
    /// it; headstart refuses anything above the limit it is given.
    public static let defaultPixelLimit = 89_478_485

    /// Decodes the file at `path` to RGB exactly as Keras `load_img(path, color_mode='rgb')` does with PIL.
    public static func decode(path: String, pixelLimit: Int = defaultPixelLimit) throws -> DecodedImage {
        let bytes = try readFile(fileSystemPath: Array(path.utf8), name: path, maxBytes: maxFileBytes(pixelLimit: pixelLimit))
        return try decode(data: bytes, name: path, pixelLimit: pixelLimit)
    }

    /// Keras `load_img(path, color_mode='rgb', target_size=(height, width), interpolation=method)`: decode, then
    /// resize when the size differs.
    public static func load(path: String, height: Int, width: Int, method: ResizeMethod,
                            pixelLimit: Int = defaultPixelLimit) throws -> DecodedImage {
        var decoded = try decode(path: path, pixelLimit: pixelLimit)
        decoded.image = ImageResize.resize(decoded.image, height: height, width: width, method: method)
        return decoded
    }

    /// Decodes bytes already in memory; `name` is only used in error messages.
    public static func decode(data: [UInt8], name: String, pixelLimit: Int = defaultPixelLimit) throws -> DecodedImage {
        if data.isEmpty { throw ImageError(path: name, reason: .empty) }
        let format: ImageFormat
        switch ImageSniffer.sniff(data) {
        case .supported(let f): format = f
        case .unsupported(let what): throw ImageError(path: name, reason: .unsupportedFormat(what))
        }
        // Refuse empty and oversized images from the header alone, before any pixel data is touched.
        if let (w, h) = try ImageSniffer.dimensions(data, format: format, name: name) {
            try ImageSniffer.checkSize(width: w, height: h, format: format, name: name, pixelLimit: pixelLimit)
        }
        switch format {
        case .jpeg, .png, .tiff, .gif, .webp:
            return try decodeWithCodec(data, format: format, name: name, pixelLimit: pixelLimit)
        case .bmp: return DecodedImage(image: try BMPDecoder.decode(data, name: name, pixelLimit: pixelLimit),
                                       format: .bmp, warningCount: 0, firstWarning: nil)
        case .ppm: return DecodedImage(image: try PNMDecoder.decode(data, name: name, pixelLimit: pixelLimit),
                                       format: .ppm, warningCount: 0, firstWarning: nil)
        }
    }

    private static func decodeWithCodec(_ data: [UInt8], format: ImageFormat, name: String,
                                        pixelLimit: Int) throws -> DecodedImage {
        var info = hs_codec_info()
        var rgb: UnsafeMutablePointer<UInt8>? = nil
        let codec: (UnsafePointer<UInt8>?, Int, UInt64, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                    UnsafeMutablePointer<hs_codec_info>?) -> hs_codec_status
        switch format {
        case .jpeg: codec = hs_jpeg_decode_rgb
        case .png: codec = hs_png_decode_rgb
        case .tiff: codec = hs_tiff_decode_rgb
        case .gif: codec = hs_gif_decode_rgb
        case .webp: codec = hs_webp_decode_rgb
        case .bmp, .ppm: preconditionFailure("\(format.rawValue) is decoded in Swift")
        }
        let status = data.withUnsafeBufferPointer { buf in
            codec(buf.baseAddress, buf.count, UInt64(pixelLimit), &rgb, &info)
        }
        let message = withUnsafeBytes(of: info.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        switch status {
        case HS_CODEC_OK:
            let w = Int(info.width), h = Int(info.height)
            defer { hs_codec_free(rgb) }
            let pixels = [UInt8](UnsafeBufferPointer(start: rgb, count: w * h * 3))
            let warnings = Int(info.warnings)
            return DecodedImage(image: RGBImage(width: w, height: h, pixels: pixels), format: format,
                                warningCount: warnings, firstWarning: warnings > 0 && !message.isEmpty ? message : nil)
        case HS_CODEC_TRUNCATED:
            throw ImageError(path: name, reason: .truncated(format: format.rawValue, detail: message))
        case HS_CODEC_UNSUPPORTED:
            throw ImageError(path: name, reason: .unsupportedFormat(message))
        case HS_CODEC_TOO_MANY_PIXELS:
            throw ImageError(path: name, reason: .tooManyPixels(width: Int(info.width), height: Int(info.height),
                                                                 limit: pixelLimit))
        case HS_CODEC_NO_MEMORY:
            throw ImageError(path: name, reason: .corrupt(format: format.rawValue,
                                                          detail: "out of memory for \(info.width)x\(info.height)"))
        default:
            throw ImageError(path: name, reason: .corrupt(format: format.rawValue, detail: message))
        }
    }

    /// The most bytes a file within `pixelLimit` pixels can reasonably take: 8 per pixel (16-bit RGBA PNG stored
    /// uncompressed) and 64 MiB of metadata. Larger files are refused from their size, unread.
    public static func maxFileBytes(pixelLimit: Int) -> Int {
        let (pixels, o1) = pixelLimit.multipliedReportingOverflow(by: 8)
        let (total, o2) = pixels.addingReportingOverflow(64 << 20)
        return o1 || o2 ? Int.max : total
    }

    /// Reads a whole file, turning each way it can fail into a specific `ImageError`.
    public static func readFile(_ path: String) throws -> [UInt8] {
        try readFile(fileSystemPath: Array(path.utf8), name: path)
    }

    /// `readFile` for a path given as the file system's bytes (names need not be UTF-8); `name` is what errors
    /// show. Only regular files are opened (a FIFO would block the reader for ever), and only up to `maxBytes`
    /// (a sparse 3 GiB file is refused from its size, not read).
    public static func readFile(fileSystemPath path: [UInt8], name: String,
                                maxBytes: Int = maxFileBytes(pixelLimit: defaultPixelLimit)) throws -> [UInt8] {
        func fail(_ reason: ImageError.Reason) -> ImageError { ImageError(path: name, reason: reason) }
        func os() -> ImageError { fail(.unreadable(String(cString: strerror(errno)))) }
        var st = stat()
        if withCPath(path, { lstat($0, &st) }) != 0 {
            if errno == ENOENT || errno == ENOTDIR { throw fail(.missing) }
            throw os()
        }
        if (st.st_mode & S_IFMT) == S_IFLNK {
            var target = [CChar](repeating: 0, count: 4097)
            let n = withCPath(path) { readlink($0, &target, 4096) }
            let dest = n > 0 ? FileName.display(target[0..<n].map { UInt8(bitPattern: $0) }) : "?"
            if withCPath(path, { stat($0, &st) }) != 0 {
                switch errno {
                case ENOENT, ENOTDIR: throw fail(.brokenSymlink(target: dest))
                case ELOOP: throw fail(.symlinkLoop(target: dest))
                default: throw os()
                }
            }
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw fail(.unreadable("is a directory")) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw fail(.notRegular(kind: fileKind(st.st_mode))) }
        guard Int64(st.st_size) <= Int64(maxBytes) else { throw fail(.tooLarge(bytes: Int64(st.st_size), limit: maxBytes)) }
        // O_NONBLOCK: should the path have become a FIFO since the stat, opening it must not wait for a writer.
        let fd = withCPath(path) { open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        if fd < 0 { throw os() }
        defer { close(fd) }
        var fst = stat()
        if fstat(fd, &fst) != 0 { throw os() }
        if (fst.st_mode & S_IFMT) == S_IFDIR { throw fail(.unreadable("is a directory")) }
        guard (fst.st_mode & S_IFMT) == S_IFREG else { throw fail(.notRegular(kind: fileKind(fst.st_mode))) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(Int(min(Int64(fst.st_size), Int64(maxBytes))))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw os()
            }
            if n == 0 { break }
            guard bytes.count + n <= maxBytes else { throw fail(.tooLarge(bytes: Int64(bytes.count + n), limit: maxBytes)) }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }
}
