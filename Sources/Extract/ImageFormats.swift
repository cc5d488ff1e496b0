// Format recognition from magic bytes, header dimensions (for the pixel limit), and the two formats simple
// enough to decode in Swift: uncompressed BMP and binary PPM/PGM, each read the way PIL 13 reads them.

enum ImageSniffer {
    enum Verdict: Equatable {
        case supported(ImageFormat)
        case unsupported(String)
    }

    static func sniff(_ b: [UInt8]) -> Verdict {
        func starts(_ prefix: [UInt8]) -> Bool { b.count >= prefix.count && Array(b[0..<prefix.count]) == prefix }
        if starts([0xFF, 0xD8, 0xFF]) { return .supported(.jpeg) }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .supported(.png) }
        if starts(Array("BM".utf8)) { return .supported(.bmp) }
        if b.count >= 3, b[0] == UInt8(ascii: "P"), isSpace(b[2]) {
            switch b[1] {
            case UInt8(ascii: "5"), UInt8(ascii: "6"): return .supported(.ppm)
            case UInt8(ascii: "1"), UInt8(ascii: "2"), UInt8(ascii: "3"): return .unsupported("plain-text PNM")
            case UInt8(ascii: "4"): return .unsupported("PBM bitmap")
            default: break
            }
        }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .supported(.gif) }
        if b.count >= 12, starts(Array("RIFF".utf8)), Array(b[8..<12]) == Array("WEBP".utf8) { return .supported(.webp) }
        // Classic TIFF and BigTIFF (version 43), both byte orders; libtiff reads both, as PIL does.
        for version: UInt8 in [0x2A, 0x2B] where starts([0x49, 0x49, version, 0x00]) || starts([0x4D, 0x4D, 0x00, version]) {
            return .supported(.tiff)
        }
        if b.count >= 12, Array(b[4..<8]) == Array("ftyp".utf8) { return .unsupported("HEIF/AVIF") }
        if starts([0x00, 0x00, 0x01, 0x00]) { return .unsupported("ICO") }
        let head = b.prefix(8).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        return .unsupported("unrecognised; first bytes " + head.joined(separator: " "))
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C }

    /// Refuses a size read from a header before anything is allocated from it: a side of 0 pixels (PIL's
    /// ImageFile refuses those: "not identified by this driver"), or width × height over `pixelLimit` — computed
    /// with an overflow check, since header fields reach 2^32 - 1 (PNG, BMP) or 10^10 (PPM).
    static func checkSize(width: Int, height: Int, format: ImageFormat, name: String, pixelLimit: Int) throws {
        guard width > 0, height > 0 else {
            throw ImageError(path: name, reason: .corrupt(format: format.rawValue,
                detail: "the header gives a size of \(width)x\(height) pixels; an image has at least one pixel each way"))
        }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        if overflow || pixels > pixelLimit {
            throw ImageError(path: name, reason: .tooManyPixels(width: width, height: height, limit: pixelLimit))
        }
    }

    /// Width and height from the header alone, or nil when the header does not say (the decoder then checks:
    /// TIFF's size sits in a directory anywhere in the file, a GIF's first frame may grow its screen, and a
    /// WebP's canvas comes from whichever chunk comes first; their C glue checks before allocating).
    static func dimensions(_ b: [UInt8], format: ImageFormat, name: String) throws -> (Int, Int)? {
        switch format {
        case .png:
            // Signature (8), then IHDR must come first: length (4) "IHDR" (4) width (4) height (4), big-endian.
            guard b.count >= 24, Array(b[12..<16]) == Array("IHDR".utf8) else { return nil }
            return (Int(be32(b, 16)), Int(be32(b, 20)))
        case .jpeg: return jpegFrameSize(b)
        case .bmp: return try BMPDecoder.header(b, name: name).map { ($0.width, $0.height) }
        case .ppm: return try PNMDecoder.header(b, name: name).map { ($0.width, $0.height) }
        case .tiff, .gif, .webp: return nil
        }
    }

    /// Walks JPEG marker segments from SOI to the first SOFn and returns (width, height) from it.
    /// Segment layout: 0xFF, marker, big-endian length (including itself), payload; SOFn payload is
    /// precision (1), height (2), width (2), components (1), ...
    static func jpegFrameSize(_ b: [UInt8]) -> (Int, Int)? {
        var i = 2
        while i + 3 < b.count {
            guard b[i] == 0xFF else { return nil }
            var m = b[i + 1]
            i += 2
            while m == 0xFF, i < b.count { m = b[i]; i += 1 }  // fill bytes
            if m == 0xD8 || m == 0x01 || (0xD0...0xD7).contains(m) { continue }
            if m == 0xD9 || m == 0xDA { return nil }
            guard i + 1 < b.count else { return nil }
            let length = Int(b[i]) << 8 | Int(b[i + 1])
            let isSOF = (0xC0...0xCF).contains(m) && m != 0xC4 && m != 0xC8 && m != 0xCC
            if isSOF {
                guard i + 6 < b.count else { return nil }
                let h = Int(b[i + 3]) << 8 | Int(b[i + 4])
                let w = Int(b[i + 5]) << 8 | Int(b[i + 6])
                return (w, h)
            }
            i += length
        }
        return nil
    }

    static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }
    static func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
    static func le16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
}

/// a · b, or nil when it overflows Int.
func checked(_ a: Int, _ b: Int) -> Int? {
    let (p, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? nil : p
}

/// Windows BMP as PIL's BmpImagePlugin reads it: BI_RGB with 1, 4, 8 (palette), 24 (BGR) or 32 (BGRX: the
/// fourth byte is ignored, not alpha) bits, and BI_BITFIELDS with the two 32-bit BGRX/BGRA masks.
/// File layout: "BM", size u32, reserved u32, pixel offset u32 (offset 10); info header from offset 14
/// (its first u32 is its size); palette right after the info header; rows of ((width * bits + 31) / 32) * 4
/// bytes, bottom-up unless the height is negative.
enum BMPDecoder {
    struct Header {
        var width: Int, height: Int, topDown: Bool, bits: Int, compression: UInt32
        var headerSize: Int, pixelOffset: Int, colors: Int, paletteEntrySize: Int
    }

    static func header(_ b: [UInt8], name: String) throws -> Header? {
        func truncated() -> ImageError { ImageError(path: name, reason: .truncated(format: "BMP", detail: "header")) }
        guard b.count >= 18 else { throw truncated() }
        let headerSize = Int(ImageSniffer.le32(b, 14))
        guard b.count >= 14 + headerSize else { throw truncated() }
        var h = Header(width: 0, height: 0, topDown: false, bits: 0, compression: 0, headerSize: headerSize,
                       pixelOffset: Int(ImageSniffer.le32(b, 10)), colors: 0, paletteEntrySize: 4)
        if headerSize == 12 {  // BITMAPCOREHEADER: u16 width, u16 height, planes, bits; 3-byte palette entries
            h.width = ImageSniffer.le16(b, 18)
            h.height = ImageSniffer.le16(b, 20)
            h.bits = ImageSniffer.le16(b, 24)
            h.paletteEntrySize = 3
        } else if [40, 52, 56, 64, 108, 124].contains(headerSize) {
            h.width = Int(ImageSniffer.le32(b, 18))
            let rawHeight = ImageSniffer.le32(b, 22)
            h.topDown = b[25] == 0xFF  // PIL's test: the top byte of the height is 0xFF
            h.height = h.topDown ? Int((1 << 32) - UInt64(rawHeight)) : Int(rawHeight)
            h.bits = ImageSniffer.le16(b, 28)
            h.compression = ImageSniffer.le32(b, 30)
            h.colors = Int(ImageSniffer.le32(b, 46))
        } else {
            throw ImageError(path: name, reason: .unsupportedFormat("BMP with a \(headerSize)-byte info header"))
        }
        if h.colors == 0 { h.colors = 1 << min(h.bits, 24) }
        return h
    }

    static func decode(_ b: [UInt8], name: String, pixelLimit: Int) throws -> RGBImage {
        guard let h = try header(b, name: name) else { throw ImageError(path: name, reason: .truncated(format: "BMP", detail: "header")) }
        try ImageSniffer.checkSize(width: h.width, height: h.height, format: .bmp, name: name, pixelLimit: pixelLimit)
        switch h.compression {
        case 0: break
        case 3:
            // Masks follow the 40-byte header (or sit inside the longer ones) at file offset 54: R, G, B[, A].
            guard h.bits == 32, b.count >= 66 else { throw ImageError(path: name, reason: .unsupportedFormat("BMP bitfields layout")) }
            let masks = (0..<3).map { ImageSniffer.le32(b, 54 + 4 * $0) }
            guard masks == [0xFF0000, 0xFF00, 0xFF] else {
                throw ImageError(path: name, reason: .unsupportedFormat("BMP bitfields layout"))
            }
        case 1, 2: throw ImageError(path: name, reason: .unsupportedFormat("BMP with RLE compression"))
        default: throw ImageError(path: name, reason: .unsupportedFormat("BMP compression \(h.compression)"))
        }
        guard [1, 4, 8, 24, 32].contains(h.bits) else {
            throw ImageError(path: name, reason: .unsupportedFormat("BMP with \(h.bits) bits per pixel"))
        }
        var palette = [UInt8](repeating: 0, count: 256 * 3)  // entries the file does not define stay black
        var offset = h.pixelOffset
        if h.bits <= 8 {
            guard h.colors > 0, h.colors <= 65536 else { throw ImageError(path: name, reason: .corrupt(format: "BMP", detail: "palette size \(h.colors)")) }
            let start = 14 + h.headerSize
            let n = min(h.colors, 256)
            guard b.count >= start + n * h.paletteEntrySize else { throw ImageError(path: name, reason: .truncated(format: "BMP", detail: "palette")) }
            for i in 0..<n {  // stored B, G, R[, reserved]
                let p = start + i * h.paletteEntrySize
                palette[3 * i] = b[p + 2]; palette[3 * i + 1] = b[p + 1]; palette[3 * i + 2] = b[p]
            }
            // PIL's repair for writers whose pixel offset forgot the palette.
            if offset == 14 + h.headerSize { offset += h.paletteEntrySize * h.colors }
        }
        if offset == 0 { offset = 14 + h.headerSize + (h.bits <= 8 ? h.paletteEntrySize * h.colors : 0) }
        // Rows of ((width · bits + 31) / 32) · 4 bytes. width · height is within the pixel limit, but the limit is
        // the caller's: every product is checked.
        guard let rowBits = checked(h.width, h.bits), let pixelBytes = checked(((rowBits + 31) >> 3) & ~3, h.height),
              offset <= Int.max - pixelBytes else {
            throw ImageError(path: name, reason: .corrupt(format: "BMP", detail: "\(h.width)x\(h.height) at \(h.bits) bits is too large to address"))
        }
        let stride = ((rowBits + 31) >> 3) & ~3
        guard offset >= 0, b.count >= offset + pixelBytes else {
            throw ImageError(path: name, reason: .truncated(format: "BMP", detail: "needs \(pixelBytes) bytes of pixels from offset \(offset), file has \(max(0, b.count - offset))"))
        }
        var out = [UInt8](repeating: 0, count: h.width * h.height * 3)
        for y in 0..<h.height {
            let row = offset + stride * (h.topDown ? y : h.height - 1 - y)
            let o = y * h.width * 3
            for x in 0..<h.width {
                switch h.bits {
                case 24, 32:
                    let p = row + x * (h.bits / 8)
                    out[o + 3 * x] = b[p + 2]; out[o + 3 * x + 1] = b[p + 1]; out[o + 3 * x + 2] = b[p]
                default:
                    let bitPos = x * h.bits  // most significant bits first
                    let byte = b[row + bitPos >> 3]
                    let index = Int(byte >> UInt8(8 - h.bits - bitPos & 7)) & ((1 << h.bits) - 1)
                    out[o + 3 * x] = palette[3 * index]; out[o + 3 * x + 1] = palette[3 * index + 1]
                    out[o + 3 * x + 2] = palette[3 * index + 2]
                }
            }
        }
        return RGBImage(width: h.width, height: h.height, pixels: out)
    }
}

/// Binary PGM (P5) and PPM (P6) with maxval 255, as PIL's PpmImagePlugin reads them: magic, then width, height
/// and maxval as decimal tokens separated by whitespace, with `#` comments running to the end of a line; exactly
/// one whitespace byte after maxval; then width * height * (1 or 3) bytes, rows top to bottom.
enum PNMDecoder {
    struct Header { var width: Int, height: Int, channels: Int, maxval: Int, dataOffset: Int }

    static func header(_ b: [UInt8], name: String) throws -> Header? {
        var i = 2
        func token() throws -> Int {
            while i < b.count {
                if b[i] == UInt8(ascii: "#") {
                    while i < b.count, b[i] != 0x0A, b[i] != 0x0D { i += 1 }
                } else if ImageSniffer.isSpace(b[i]) {
                    i += 1
                } else { break }
            }
            var value = 0, digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39, digits < 10 {
                value = value * 10 + Int(b[i] - 0x30); i += 1; digits += 1
            }
            if digits == 0 {
                if i >= b.count { throw ImageError(path: name, reason: .truncated(format: "PPM", detail: "header")) }
                throw ImageError(path: name, reason: .corrupt(format: "PPM", detail: "expected a number in the header at byte \(i)"))
            }
            return value
        }
        let w = try token(), h = try token(), maxval = try token()
        guard i < b.count, ImageSniffer.isSpace(b[i]) else { throw ImageError(path: name, reason: .truncated(format: "PPM", detail: "header")) }
        return Header(width: w, height: h, channels: b[1] == UInt8(ascii: "6") ? 3 : 1, maxval: maxval, dataOffset: i + 1)
    }

    static func decode(_ b: [UInt8], name: String, pixelLimit: Int) throws -> RGBImage {
        guard let h = try header(b, name: name) else { throw ImageError(path: name, reason: .truncated(format: "PPM", detail: "header")) }
        try ImageSniffer.checkSize(width: h.width, height: h.height, format: .ppm, name: name, pixelLimit: pixelLimit)
        guard h.maxval == 255 else { throw ImageError(path: name, reason: .unsupportedFormat("PPM with maxval \(h.maxval) (only 255 is read)")) }
        let n = h.width * h.height  // within the pixel limit (checked above)
        guard let bytes = checked(n, h.channels), b.count - h.dataOffset >= bytes else {
            throw ImageError(path: name, reason: .truncated(format: "PPM", detail: "needs \(n * h.channels) bytes of pixels, file has \(b.count - h.dataOffset)"))
        }
        if h.channels == 3 { return RGBImage(width: h.width, height: h.height, pixels: Array(b[h.dataOffset..<(h.dataOffset + 3 * n)])) }
        var out = [UInt8](repeating: 0, count: 3 * n)
        for p in 0..<n { let v = b[h.dataOffset + p]; out[3 * p] = v; out[3 * p + 1] = v; out[3 * p + 2] = v }
        return RGBImage(width: h.width, height: h.height, pixels: out)
    }
}
