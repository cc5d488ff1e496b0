import Extract
import Foundation
import Numerics
import XCTest

/// Fixtures from Tools/keras-reference/make_image_fixtures.py (Keras load_img + PIL 13; versions in
/// Tests/Fixtures/images/expected.json).
enum ImageFixtures {
    struct Resized: Decodable { let method: String; let height: Int; let width: Int; let sha256: String; let npy: String? }
    struct Entry: Decodable {
        let file: String; let description: String; let format: String; let width: Int; let height: Int
        let decoded: String; let resized: [Resized]
    }
    struct Bad: Decodable { let kind: String; let detail: String }
    struct Shared: Decodable {
        let relative_path: String; let file_sha256: String; let decoded_sha256: String
        let nearest_150x150_sha256: String; let bilinear_150x150_sha256: String
    }
    struct Manifest: Decodable { let images: [Entry]; let bad: [String: Bad]; let shared_image: Shared }

    static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url = url.deletingLastPathComponent()
        }
        return url
    }()
    static let dir = repoRoot.appendingPathComponent("Tests/Fixtures/images")
    static let manifest: Manifest = {
        let data = try! Data(contentsOf: dir.appendingPathComponent("expected.json"))
        return try! JSONDecoder().decode(Manifest.self, from: data)
    }()
    static func input(_ name: String) -> String { dir.appendingPathComponent("inputs/\(name)").path }
    static func bad(_ name: String) -> String { dir.appendingPathComponent("bad/\(name)").path }
    static func entry(_ name: String) -> Entry { manifest.images.first { $0.file == name }! }
    /// An expected uint8 (H, W, 3) array as an RGBImage.
    static func expected(_ npy: String) throws -> RGBImage {
        let a = try NPY.read(dir.appendingPathComponent("expected/\(npy)").path)
        XCTAssertEqual(a.dtype, .uint8)
        XCTAssertEqual(a.shape.count, 3)
        return RGBImage(width: a.shape[1], height: a.shape[0], pixels: a.bytes)
    }
}

/// Fails with the first differing pixel, so a mismatch says where and by how much.
func assertSameImage(_ got: RGBImage, _ want: RGBImage, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    guard got.width == want.width, got.height == want.height else {
        XCTFail("\(label): size \(got.width)x\(got.height), expected \(want.width)x\(want.height)", file: file, line: line)
        return
    }
    var differing = 0, first = -1, worst = 0
    for i in 0..<got.pixels.count where got.pixels[i] != want.pixels[i] {
        differing += 1
        if first < 0 { first = i }
        worst = max(worst, abs(Int(got.pixels[i]) - Int(want.pixels[i])))
    }
    if differing > 0 {
        let p = first / 3
        XCTFail("\(label): \(differing) of \(got.pixels.count) bytes differ (worst by \(worst)); first at x=\(p % got.width) "
                + "y=\(p / got.width) c=\(first % 3): got \(got.pixels[first]), expected \(want.pixels[first])", file: file, line: line)
    }
}

final class ImageDecoderTests: XCTestCase {
    /// Decodes a fixture and requires every byte to equal Keras load_img(path, color_mode='rgb').
    func assertDecodesAsKeras(_ name: String, format: ImageFormat, file: StaticString = #filePath, line: UInt = #line) throws {
        let entry = ImageFixtures.entry(name)
        let decoded = try ImageDecoder.decode(path: ImageFixtures.input(name))
        XCTAssertEqual(decoded.format, format, "\(name): sniffed format", file: file, line: line)
        XCTAssertEqual(decoded.image.width, entry.width, file: file, line: line)
        XCTAssertEqual(decoded.image.height, entry.height, file: file, line: line)
        assertSameImage(decoded.image, try ImageFixtures.expected(entry.decoded), "\(name) (\(entry.description))", file: file, line: line)
    }

    // JPEG (libjpeg-turbo, ISLOW IDCT, fancy upsampling, as PIL)
    func testJPEGYCbCr420DecodesAsPIL() throws { try assertDecodesAsKeras("rgb.jpg", format: .jpeg) }
    func testJPEGYCbCr444DecodesAsPIL() throws { try assertDecodesAsKeras("rgb444.jpg", format: .jpeg) }
    func testProgressiveJPEGDecodesAsPIL() throws { try assertDecodesAsKeras("progressive.jpg", format: .jpeg) }
    func testGrayscaleJPEGDecodesToEqualChannels() throws { try assertDecodesAsKeras("gray.jpg", format: .jpeg) }
    func testAdobeCMYKJPEGConvertsWithPILFormula() throws { try assertDecodesAsKeras("cmyk.jpg", format: .jpeg) }
    func testRealPhotoJPEGDecodesAsPIL() throws { try assertDecodesAsKeras("horse_photo.jpg", format: .jpeg) }

    // PNG (libpng)
    func testGrayPNGDecodesAsPIL() throws { try assertDecodesAsKeras("gray.png", format: .png) }
    func testGray1BitPNGScalesTo0And255() throws { try assertDecodesAsKeras("gray1.png", format: .png) }
    func testGray2BitPNGScalesBy85() throws { try assertDecodesAsKeras("gray2.png", format: .png) }
    func testGrayPNGWithTRNSIgnoresTransparency() throws { try assertDecodesAsKeras("gray_trns.png", format: .png) }
    func testGrayAlphaPNGDropsAlpha() throws { try assertDecodesAsKeras("gray_alpha.png", format: .png) }
    func testPalettePNGWithTRNSUsesPaletteColours() throws { try assertDecodesAsKeras("palette_trns.png", format: .png) }
    func testPalette4BitPNGDecodesAsPIL() throws { try assertDecodesAsKeras("palette4.png", format: .png) }
    func testRGBPNGDecodesAsPIL() throws { try assertDecodesAsKeras("rgb.png", format: .png) }
    func testRGBAPNGDropsAlphaWithoutCompositing() throws { try assertDecodesAsKeras("rgba.png", format: .png) }
    func testRealRGBAPNGCropDecodesAsPIL() throws { try assertDecodesAsKeras("human_crop.png", format: .png) }
    func testGray16PNGClipsAbove255LikePIL() throws { try assertDecodesAsKeras("gray16.png", format: .png) }
    func testRGB16PNGKeepsHighBytes() throws { try assertDecodesAsKeras("rgb16.png", format: .png) }
    func testRGBA16PNGKeepsHighBytesAndDropsAlpha() throws { try assertDecodesAsKeras("rgba16.png", format: .png) }
    func testGrayAlpha16PNGKeepsHighBytes() throws { try assertDecodesAsKeras("gray_alpha16.png", format: .png) }
    func testInterlacedPNGDecodesAsPIL() throws { try assertDecodesAsKeras("interlaced.png", format: .png) }
    func testInterlacedPalettePNGDecodesAsPIL() throws { try assertDecodesAsKeras("interlaced_palette.png", format: .png) }
    func testPNGNamedJpgIsDecodedAsPNGFromItsBytes() throws { try assertDecodesAsKeras("png_named.jpg", format: .png) }

    // BMP and PPM (Swift)
    func testBMP24BottomUpWithRowPaddingDecodesAsPIL() throws { try assertDecodesAsKeras("rgb24.bmp", format: .bmp) }
    func testBMP32IgnoresFourthByte() throws { try assertDecodesAsKeras("rgba32.bmp", format: .bmp) }
    func testBMP32TopDownDecodesAsPIL() throws { try assertDecodesAsKeras("topdown32.bmp", format: .bmp) }
    func testBMP8BitPaletteDecodesAsPIL() throws { try assertDecodesAsKeras("palette8.bmp", format: .bmp) }
    func testBMP8BitGrayPaletteDecodesAsPIL() throws { try assertDecodesAsKeras("gray8.bmp", format: .bmp) }
    func testBinaryPPMDecodesAsPIL() throws { try assertDecodesAsKeras("rgb.ppm", format: .ppm) }
    func testBinaryPGMDecodesToEqualChannels() throws { try assertDecodesAsKeras("gray.pgm", format: .ppm) }
    func testPPMHeaderCommentIsSkipped() throws { try assertDecodesAsKeras("comment.ppm", format: .ppm) }

    // TIFF (libtiff; samples unpacked as PIL's TiffImagePlugin raw modes, then convert('RGB'))
    func testDeflateRGBTIFFDecodesAsPIL() throws { try assertDecodesAsKeras("rgb.tif", format: .tiff) }
    func testUncompressedRGBTIFFDecodesAsPIL() throws { try assertDecodesAsKeras("rgb_raw.tiff", format: .tiff) }
    func testLZWRGBTIFFDecodesAsPIL() throws { try assertDecodesAsKeras("rgb_lzw.tif", format: .tiff) }
    func testJPEGCompressedRGBTIFFDecodesAsPIL() throws { try assertDecodesAsKeras("rgb_jpeg.tif", format: .tiff) }
    func testJPEGCompressedYCbCrTIFFDecodesAsPIL() throws { try assertDecodesAsKeras("ycbcr_jpeg.tif", format: .tiff) }
    func testRGBATIFFDropsUnassociatedAlpha() throws { try assertDecodesAsKeras("rgba.tif", format: .tiff) }
    func testRGBATIFFWithAssociatedAlphaIsUnpremultipliedLikePIL() throws { try assertDecodesAsKeras("rgba_associated.tif", format: .tiff) }
    func testGrayTIFFDecodesAsPIL() throws { try assertDecodesAsKeras("gray.tif", format: .tiff) }
    func testGray16TIFFClipsAbove255LikePIL() throws { try assertDecodesAsKeras("gray16.tif", format: .tiff) }
    func testGray4BitTIFFScalesBy17() throws { try assertDecodesAsKeras("gray4.tif", format: .tiff) }
    func testMinIsWhiteTIFFIsInverted() throws { try assertDecodesAsKeras("miniswhite.tif", format: .tiff) }
    func testBilevelGroup4TIFFDecodesTo0And255() throws { try assertDecodesAsKeras("bilevel_g4.tif", format: .tiff) }
    func testPaletteTIFFDecodesAsPIL() throws { try assertDecodesAsKeras("palette.tif", format: .tiff) }
    func testPalette4BitTIFFKeepsColourMapHighBytes() throws { try assertDecodesAsKeras("palette4.tif", format: .tiff) }
    func testCMYKTIFFConvertsWithPILFormula() throws { try assertDecodesAsKeras("cmyk.tif", format: .tiff) }
    func testCMYK16TIFFConvertsHighBytesWithPILFormula() throws { try assertDecodesAsKeras("cmyk16.tif", format: .tiff) }
    func testBigEndianRGB16TIFFKeepsHighBytes() throws { try assertDecodesAsKeras("rgb16_be.tif", format: .tiff) }
    func testTiledTIFFWithPartialEdgeTilesDecodesAsPIL() throws { try assertDecodesAsKeras("tiled.tif", format: .tiff) }
    func testMultiPageTIFFGivesItsFirstPage() throws { try assertDecodesAsKeras("multipage.tif", format: .tiff) }
    func testRealPhotoTIFFDecodesAsPIL() throws { try assertDecodesAsKeras("horse_photo.tif", format: .tiff) }

    // GIF (giflib; the first frame on its logical screen, as PIL's GifImagePlugin)
    func testPaletteGIFDecodesAsPIL() throws { try assertDecodesAsKeras("palette.gif", format: .gif) }
    func testGIFTransparentIndexIsDroppedNotComposited() throws { try assertDecodesAsKeras("transparent.gif", format: .gif) }
    func testAnimatedGIFGivesItsFirstFrame() throws { try assertDecodesAsKeras("animated.gif", format: .gif) }
    func testInterlacedGIFDecodesAsPIL() throws { try assertDecodesAsKeras("interlaced.gif", format: .gif) }
    func testGIFFrameWithLocalPaletteOnALargerScreenDecodesAsPIL() throws { try assertDecodesAsKeras("local_palette.gif", format: .gif) }
    func testGIFFrameReachingPastItsScreenGrowsTheImageLikePIL() throws { try assertDecodesAsKeras("frame_outside.gif", format: .gif) }
    func testGIFWithoutAColourTableIsGray() throws { try assertDecodesAsKeras("no_palette.gif", format: .gif) }
    func testGIFIndicesPastTheColourTableAreBlack() throws { try assertDecodesAsKeras("short_palette.gif", format: .gif) }
    func testRealPhotoGIFDecodesAsPIL() throws { try assertDecodesAsKeras("human_photo.gif", format: .gif) }

    // WebP (libwebp's animation decoder in RGBA, as PIL; alpha dropped)
    func testLossyWebPDecodesAsPIL() throws { try assertDecodesAsKeras("lossy.webp", format: .webp) }
    func testLosslessWebPDecodesAsPIL() throws { try assertDecodesAsKeras("lossless.webp", format: .webp) }
    func testLossyWebPWithAlphaDropsAlpha() throws { try assertDecodesAsKeras("lossy_alpha.webp", format: .webp) }
    func testLosslessWebPWithAlphaKeepsColoursUnderTransparentPixels() throws { try assertDecodesAsKeras("lossless_alpha.webp", format: .webp) }
    func testAnimatedWebPGivesItsFirstFrame() throws { try assertDecodesAsKeras("animated.webp", format: .webp) }
    func testRealPhotoWebPDecodesAsPIL() throws { try assertDecodesAsKeras("horse_photo.webp", format: .webp) }

    func testEveryFixtureImageHasANamedDecodeTest() throws {
        // Guards against a fixture added to the script but never checked here.
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        for entry in ImageFixtures.manifest.images {
            XCTAssertTrue(source.contains("assertDecodesAsKeras(\"\(entry.file)\""), "no decode test for fixture \(entry.file)")
        }
    }

    // MARK: warnings

    /// What `body` writes to file descriptor 2.
    func capturingStandardError(_ body: () throws -> Void) throws -> String {
        let stderrCapture = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)")
        XCTAssertTrue(FileManager.default.createFile(atPath: stderrCapture.path, contents: nil))
        defer { try? FileManager.default.removeItem(at: stderrCapture) }
        let saved = dup(2)
        let fd = open(stderrCapture.path, O_WRONLY)
        dup2(fd, 2)
        let result = Result { try body() }
        fflush(stderr)
        dup2(saved, 2)
        close(fd); close(saved)
        try result.get()
        return String(decoding: try Data(contentsOf: stderrCapture), as: UTF8.self)
    }

    func testJPEGWarningsAreCountedAndNotPrinted() throws {
        var decoded: Result<DecodedImage, Error>?
        let printed = try capturingStandardError { decoded = Result { try ImageDecoder.decode(path: ImageFixtures.input("warning.jpg")) } }
        let image = try decoded!.get()
        XCTAssertEqual(image.warningCount, 1, "one 'extraneous bytes before marker' warning")
        XCTAssertEqual(image.firstWarning, "Corrupt JPEG data: 3 extraneous bytes before marker 0xda")
        XCTAssertEqual(printed, "", "the decoder printed")
        assertSameImage(image.image, try ImageFixtures.expected(ImageFixtures.entry("warning.jpg").decoded), "warning.jpg")
    }

    func testJPEGWithRecoverableJunkDecodesAsPIL() throws { try assertDecodesAsKeras("warning.jpg", format: .jpeg) }

    func testCleanJPEGHasNoWarnings() throws {
        XCTAssertEqual(try ImageDecoder.decode(path: ImageFixtures.input("rgb.jpg")).warningCount, 0)
    }

    // MARK: errors

    func reason(_ path: String, pixelLimit: Int = ImageDecoder.defaultPixelLimit) -> ImageError.Reason? {
        do {
            _ = try ImageDecoder.decode(path: path, pixelLimit: pixelLimit)
            XCTFail("\(path) decoded; expected an error")
            return nil
        } catch let error as ImageError {
            XCTAssertEqual(error.path, path, "the error names the file")
            return error.reason
        } catch {
            XCTFail("\(path): not an ImageError: \(error)")
            return nil
        }
    }

    func testEmptyFileIsReportedAsEmpty() {
        XCTAssertEqual(reason(ImageFixtures.bad("empty.jpg")), .empty)
        let message = String(describing: ImageError(path: "a.jpg", reason: .empty))
        XCTAssertEqual(message, "a.jpg: empty file (0 bytes)")
    }

    func testTruncatedJPEGIsAnErrorLikePIL() {
        XCTAssertEqual(reason(ImageFixtures.bad("truncated.jpg")),
                       .truncated(format: "JPEG", detail: "Premature end of JPEG file"))
    }

    func testJPEGMissingOnlyItsEOIMarkerIsTruncated() {
        XCTAssertEqual(reason(ImageFixtures.bad("no_eoi.jpg")),
                       .truncated(format: "JPEG", detail: "Premature end of JPEG file"))
    }

    func testTruncatedPNGIsAnError() {
        XCTAssertEqual(reason(ImageFixtures.bad("truncated.png")),
                       .truncated(format: "PNG", detail: "file ends before the PNG data does"))
    }

    func testCorruptJPEGCarriesLibjpegMessage() {
        XCTAssertEqual(reason(ImageFixtures.bad("corrupt_sof.jpg")),
                       .corrupt(format: "JPEG", detail: "Unsupported JPEG data precision 7"))
    }

    func testUnsupportedFormatMessageListsWhatIsRead() {
        XCTAssertEqual(String(describing: ImageError(path: "x.heic", reason: .unsupportedFormat("HEIF/AVIF"))),
                       "x.heic: unsupported format (HEIF/AVIF); headstart reads JPEG, PNG, TIFF, GIF, WebP, BMP and binary PPM/PGM")
    }

    func testTruncatedTIFFIsAnError() {
        guard case .truncated(format: "TIFF", _)? = reason(ImageFixtures.bad("truncated.tif")) else { return XCTFail("not truncated") }
    }

    func testCorruptTIFFCarriesLibtiffMessage() {
        guard case .corrupt(format: "TIFF", let detail)? = reason(ImageFixtures.bad("corrupt.tif")) else { return XCTFail("not corrupt") }
        XCTAssertTrue(detail.contains("incorrect header check"), detail)
    }

    func testFloatTIFFIsAnUnsupportedLayoutNamedInTheError() {
        XCTAssertEqual(reason(ImageFixtures.bad("float.tif")),
                       .unsupportedFormat("TIFF with photometric interpretation 1, 1 samples of 32 bits (format 3), planar configuration 1"))
    }

    func testTruncatedGIFIsAnError() {
        guard case .truncated(format: "GIF", _)? = reason(ImageFixtures.bad("truncated.gif")) else { return XCTFail("not truncated") }
    }

    func testGIFWithoutAnImageIsCorrupt() {
        XCTAssertEqual(reason(ImageFixtures.bad("no_image.gif")), .corrupt(format: "GIF", detail: "the file ends before its first image"))
    }

    func testTruncatedWebPIsAnError() {
        XCTAssertEqual(reason(ImageFixtures.bad("truncated.webp")),
                       .truncated(format: "WebP", detail: "the RIFF container ends before its chunks do"))
    }

    func testCorruptWebPIsAnError() {
        guard case .corrupt(format: "WebP", _)? = reason(ImageFixtures.bad("corrupt.webp")) else { return XCTFail("not corrupt") }
    }

    /// libtiff's default handlers print to stderr; headstart's must not, on any bad TIFF.
    func testBadTIFFsPrintNothing() throws {
        let printed = try capturingStandardError {
            for name in ["truncated.tif", "corrupt.tif", "float.tif"] { _ = try? ImageDecoder.decode(path: ImageFixtures.bad(name)) }
        }
        XCTAssertEqual(printed, "", "the decoder printed")
    }

    func testGarbageBytesAreUnrecognised() {
        guard case .unsupportedFormat(let what)? = reason(ImageFixtures.bad("garbage.jpg")) else { return XCTFail("wrong reason") }
        XCTAssertTrue(what.hasPrefix("unrecognised; first bytes "), what)
    }

    func testEveryBadFixtureIsRefusedWithItsKind() {
        for (name, bad) in ImageFixtures.manifest.bad {
            let kind: String
            switch reason(ImageFixtures.bad(name)) {
            case .empty?: kind = "empty"
            case .truncated?: kind = "truncated"
            case .corrupt?: kind = "corrupt"
            case .unsupportedFormat?: kind = "unsupported"
            default: kind = "other"
            }
            XCTAssertEqual(kind, bad.kind, name)
        }
    }

    func testMissingFileIsReportedAsMissing() {
        XCTAssertEqual(reason("/nonexistent/dir/horse.png"), .missing)
    }

    func testBrokenSymlinkNamesItsTarget() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("img-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let link = dir.appendingPathComponent("link.png").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "gone.png")
        XCTAssertEqual(reason(link), .brokenSymlink(target: "gone.png"))
    }

    func testDirectoryIsUnreadable() throws {
        XCTAssertEqual(reason(ImageFixtures.dir.path), .unreadable("is a directory"))
    }

    func testFileWithoutReadPermissionIsUnreadable() throws {
        if getuid() == 0 { throw XCTSkip("running as root: permission bits do not stop root from reading") }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("noread-\(UUID().uuidString).png").path
        try Data(contentsOf: URL(fileURLWithPath: ImageFixtures.input("rgb.png"))).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        chmod(path, 0)
        XCTAssertEqual(reason(path), .unreadable("Permission denied"))
    }

    // MARK: pixel limit

    /// A PNG that is only a signature and an IHDR chunk claiming width x height: no pixel data at all.
    static func pngHeaderOnly(width: UInt32, height: UInt32) -> [UInt8] {
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        let ihdr = Array("IHDR".utf8) + be(width) + be(height) + [8, 2, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + be(13) + ihdr + be(0)  // CRC not checked first
    }

    func testPNGHeaderClaiming20000x20000IsRefusedBeforeDecoding() {
        let bytes = Self.pngHeaderOnly(width: 20000, height: 20000)
        XCTAssertThrowsError(try ImageDecoder.decode(data: bytes, name: "bomb.png")) { error in
            XCTAssertEqual((error as? ImageError)?.reason, .tooManyPixels(width: 20000, height: 20000, limit: 89_478_485))
            XCTAssertEqual(String(describing: error),
                           "bomb.png: image is 20000x20000 = 400000000 pixels, over the limit of 89478485 pixels (checked before decoding)")
        }
    }

    func testJPEGFrameHeaderOverTheLimitIsRefusedBeforeDecoding() {
        // SOI, then SOF0: length 11, precision 8, height 30000, width 30000, 1 component; nothing after it.
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x75, 0x30, 0x75, 0x30, 0x01, 0x01, 0x11, 0x00]
        XCTAssertThrowsError(try ImageDecoder.decode(data: bytes, name: "bomb.jpg")) { error in
            XCTAssertEqual((error as? ImageError)?.reason, .tooManyPixels(width: 30000, height: 30000, limit: 89_478_485))
        }
    }

    func testBMPAndPPMHeadersOverTheLimitAreRefusedBeforeDecoding() {
        XCTAssertThrowsError(try ImageDecoder.decode(data: Array("P6\n40000 30000\n255\n".utf8), name: "bomb.ppm")) { error in
            XCTAssertEqual((error as? ImageError)?.reason, .tooManyPixels(width: 40000, height: 30000, limit: 89_478_485))
        }
        var bmp = [UInt8](repeating: 0, count: 54)
        bmp[0] = UInt8(ascii: "B"); bmp[1] = UInt8(ascii: "M"); bmp[10] = 54; bmp[14] = 40
        bmp[18] = 0x20; bmp[19] = 0x4E  // width 20000
        bmp[22] = 0x20; bmp[23] = 0x4E  // height 20000
        bmp[26] = 1; bmp[28] = 24
        XCTAssertThrowsError(try ImageDecoder.decode(data: bmp, name: "bomb.bmp")) { error in
            XCTAssertEqual((error as? ImageError)?.reason, .tooManyPixels(width: 20000, height: 20000, limit: 89_478_485))
        }
    }

    // MARK: crafted headers (sizes are untrusted: huge, zero, "negative")

    /// A BMP of `size` bytes whose 40-byte info header gives `width` and `height` (raw little-endian u32) at 24 bits.
    static func bmpHeader(width: UInt32, height: UInt32, size: Int = 54) -> [UInt8] {
        var bmp = [UInt8](repeating: 0, count: size)
        func le(_ v: UInt32, at i: Int) { for k in 0..<4 { bmp[i + k] = UInt8(v >> (8 * UInt32(k)) & 0xFF) } }
        bmp[0] = UInt8(ascii: "B"); bmp[1] = UInt8(ascii: "M"); bmp[10] = 54; bmp[14] = 40
        le(width, at: 18); le(height, at: 22)
        bmp[26] = 1; bmp[28] = 24
        return bmp
    }

    /// The reason `bytes` is refused for; fails the test if they decode (or if anything but an ImageError is thrown).
    func refusal(_ bytes: [UInt8], _ name: String, pixelLimit: Int = ImageDecoder.defaultPixelLimit) -> ImageError.Reason? {
        do {
            let d = try ImageDecoder.decode(data: bytes, name: name, pixelLimit: pixelLimit)
            XCTFail("\(name) decoded to \(d.image.width)x\(d.image.height); expected a refusal")
        } catch let e as ImageError {
            XCTAssertEqual(e.path, name)
            XCTAssertFalse(e.description.isEmpty)
            return e.reason
        } catch {
            XCTFail("\(name): not an ImageError: \(error)")
        }
        return nil
    }

    func testPNGHeaderOf4294967295SquaredIsTooManyPixelsNotAnOverflow() {
        let max = UInt32.max
        XCTAssertEqual(refusal(Self.pngHeaderOnly(width: max, height: max), "huge.png"),
                       .tooManyPixels(width: Int(max), height: Int(max), limit: ImageDecoder.defaultPixelLimit))
        let text = String(describing: ImageError(path: "huge.png", reason: .tooManyPixels(width: Int.max, height: 2, limit: 10)))
        XCTAssertTrue(text.contains("more than \(Int.max) pixels"), text)
    }

    func testPNGHeaderWithAZeroSideIsCorrupt() {
        XCTAssertEqual(refusal(Self.pngHeaderOnly(width: 0, height: 31), "zero.png"),
                       .corrupt(format: "PNG", detail: "the header gives a size of 0x31 pixels; an image has at least one pixel each way"))
    }

    func testBMPHeaderOfHugeUnsignedSidesIsTooManyPixelsNotAnOverflow() {
        // 0xFFFFFFFB is -5 as a signed width; PIL reads it unsigned, as this does. Their product passes 2^63.
        XCTAssertEqual(refusal(Self.bmpHeader(width: 0xFFFF_FFFB, height: 0x8000_0010), "huge.bmp"),
                       .tooManyPixels(width: 0xFFFF_FFFB, height: 0x8000_0010, limit: ImageDecoder.defaultPixelLimit))
    }

    func testBMPWithZeroWidthIsCorruptNotABlackImage() {
        XCTAssertEqual(refusal(Self.bmpHeader(width: 0, height: 4, size: 70), "zero-width.bmp"),
                       .corrupt(format: "BMP", detail: "the header gives a size of 0x4 pixels; an image has at least one pixel each way"))
        // Height 0xFF000000 is top-down with 2^32 - 0xFF000000 = 16,777,216 rows: within the limit, so the
        // zero width is what refuses it.
        XCTAssertEqual(refusal(Self.bmpHeader(width: 0, height: 0xFF00_0000), "zero-width-topdown.bmp"),
                       .corrupt(format: "BMP", detail: "the header gives a size of 0x16777216 pixels; an image has at least one pixel each way"))
    }

    func testPPMHeaderOfTenDigitSidesIsTooManyPixelsNotAnOverflow() {
        XCTAssertEqual(refusal(Array("P6\n9999999999 9999999999\n255\n".utf8), "huge.ppm"),
                       .tooManyPixels(width: 9_999_999_999, height: 9_999_999_999, limit: ImageDecoder.defaultPixelLimit))
    }

    func testPPMWithZeroWidthIsCorruptNotABlackImage() {
        XCTAssertEqual(refusal(Array("P6\n0 5\n255\n".utf8), "zero.ppm"),
                       .corrupt(format: "PPM", detail: "the header gives a size of 0x5 pixels; an image has at least one pixel each way"))
        XCTAssertEqual(refusal(Array("P5\n3 0\n255\n".utf8), "zero.pgm"),
                       .corrupt(format: "PPM", detail: "the header gives a size of 3x0 pixels; an image has at least one pixel each way"))
    }

    func testJPEGFrameHeaderWithZeroHeightIsCorrupt() {
        // SOF0: length 11, precision 8, height 0, width 16, 1 component.
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x00, 0x00, 0x10, 0x01, 0x01, 0x11, 0x00]
        XCTAssertEqual(refusal(bytes, "zero.jpg"),
                       .corrupt(format: "JPEG", detail: "the header gives a size of 16x0 pixels; an image has at least one pixel each way"))
    }

    func testBMPPixelLimitGivenAsIntMaxCannotOverflowTheRowArithmetic() {
        // (2^32 - 1) × 2^30 pixels fit an Int, but their 24-bit rows of ~3 · 2^32 bytes, 2^30 of them, do not.
        XCTAssertEqual(refusal(Self.bmpHeader(width: 0xFFFF_FFFF, height: 0x4000_0000), "wide.bmp", pixelLimit: .max),
                       .corrupt(format: "BMP", detail: "4294967295x1073741824 at 24 bits is too large to address"))
        guard case .truncated(format: "BMP", _)? = refusal(Self.bmpHeader(width: 0x7FFF_FFFF, height: 1), "wide.bmp", pixelLimit: .max) else {
            return XCTFail("a 2^31 - 1 pixel row of a 54-byte file is truncated")
        }
    }

    /// A GIF89a: a logical screen, no colour table, one image descriptor (left, top, width, height), then a
    /// minimum code size and nothing more: no pixel data.
    static func gifHeaderOnly(screen: (UInt16, UInt16), frame: (UInt16, UInt16, UInt16, UInt16)) -> [UInt8] {
        func le(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        return Array("GIF89a".utf8) + le(screen.0) + le(screen.1) + [0, 0, 0]
            + [0x2C] + le(frame.0) + le(frame.1) + le(frame.2) + le(frame.3) + [0] + [8]
    }

    func testGIFScreenOver65535SquaredIsRefusedBeforeDecoding() {
        XCTAssertEqual(refusal(Self.gifHeaderOnly(screen: (0xFFFF, 0xFFFF), frame: (0, 0, 0xFFFF, 0xFFFF)), "bomb.gif"),
                       .tooManyPixels(width: 0xFFFF, height: 0xFFFF, limit: ImageDecoder.defaultPixelLimit))
    }

    func testGIFFrameFarPastATinyScreenCountsTheGrownImage() {
        // PIL grows the image to hold the first frame: 1x1 screen, frame at (65535, 65535) of 65535x65535.
        XCTAssertEqual(refusal(Self.gifHeaderOnly(screen: (1, 1), frame: (0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)), "far.gif"),
                       .tooManyPixels(width: 131_070, height: 131_070, limit: ImageDecoder.defaultPixelLimit))
    }

    func testGIFWithNoPixelsIsCorrupt() {
        XCTAssertEqual(refusal(Self.gifHeaderOnly(screen: (0, 0), frame: (0, 0, 0, 0)), "zero.gif"),
                       .corrupt(format: "GIF", detail: "the header gives a size of 0x0 pixels; an image has at least one pixel each way"))
    }

    /// A little-endian TIFF whose one directory claims an 8-bit RGB image of width x height in one uncompressed
    /// strip of 3 bytes (which follow the header).
    static func tiffHeaderOnly(width: UInt32, height: UInt32, stripOffset: UInt32 = 8) -> [UInt8] {
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * UInt32($0)) & 0xFF) } }
        let tags: [(UInt16, UInt16, UInt32)] = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 2),
                                                (273, 4, stripOffset), (277, 3, 3), (278, 4, height), (279, 4, 3)]
        var bytes = Array("II".utf8) + le16(42) + le32(12) + [1, 2, 3, 0] + le16(UInt16(tags.count))
        for (tag, type, value) in tags {
            bytes += le16(tag) + le16(type) + le32(1) + (type == 3 ? le16(UInt16(value)) + [0, 0] : le32(value))
        }
        return bytes + le32(0)
    }

    func testTIFFDirectoryClaiming100000SquaredIsRefusedBeforeDecoding() {
        XCTAssertEqual(refusal(Self.tiffHeaderOnly(width: 100_000, height: 100_000), "bomb.tif"),
                       .tooManyPixels(width: 100_000, height: 100_000, limit: ImageDecoder.defaultPixelLimit))
    }

    func testTIFFDirectoryWithAZeroSideIsRefused() {
        // libtiff itself refuses a zero width while reading the directory; either way it is no image.
        XCTAssertNotNil(refusal(Self.tiffHeaderOnly(width: 0, height: 7), "zero.tif"))
    }

    func testTIFFWhoseStripLiesPastTheEndOfTheFileIsTruncated() {
        // 1x1 RGB: the 3 bytes after the header are its strip; then the same with the strip placed at byte 4000.
        XCTAssertEqual(try ImageDecoder.decode(data: Self.tiffHeaderOnly(width: 1, height: 1), name: "one.tif").image.pixels, [1, 2, 3])
        guard case .truncated(format: "TIFF", _)? = refusal(Self.tiffHeaderOnly(width: 1, height: 1, stripOffset: 4000), "short.tif") else {
            return XCTFail("a strip past the end of the file is truncated")
        }
    }

    func testWebPCanvasOver16384SquaredIsRefusedBeforeDecoding() {
        // RIFF (its size claiming 1000 bytes more: a header alone), then a VP8X chunk: flags, 3 reserved bytes,
        // canvas width - 1 and height - 1 as 24-bit values.
        let side: UInt32 = 16384 - 1
        let vp8x: [UInt8] = Array("VP8X".utf8) + [10, 0, 0, 0] + [0, 0, 0, 0]
            + [UInt8(side & 0xFF), UInt8(side >> 8), 0, UInt8(side & 0xFF), UInt8(side >> 8), 0]
        let size = UInt32(4 + vp8x.count + 1000)
        let riff = Array("RIFF".utf8) + (0..<4).map { UInt8(size >> (8 * UInt32($0)) & 0xFF) } + Array("WEBP".utf8) + vp8x
        XCTAssertEqual(refusal(riff, "bomb.webp"), .tooManyPixels(width: 16384, height: 16384, limit: ImageDecoder.defaultPixelLimit))
    }

    func testPixelLimitIsConfigurableAndInclusive() throws {
        let path = ImageFixtures.input("rgb.png")  // 43 x 31 = 1333 pixels
        XCTAssertEqual(reason(path, pixelLimit: 1332), .tooManyPixels(width: 43, height: 31, limit: 1332))
        XCTAssertEqual(try ImageDecoder.decode(path: path, pixelLimit: 1333).image.width, 43)
        XCTAssertEqual(reason(ImageFixtures.input("rgb.jpg"), pixelLimit: 100), .tooManyPixels(width: 37, height: 23, limit: 100))
        for (name, w, h) in [("rgb.tif", 37, 23), ("palette.gif", 38, 27), ("lossy.webp", 38, 26)] {
            XCTAssertEqual(reason(ImageFixtures.input(name), pixelLimit: w * h - 1), .tooManyPixels(width: w, height: h, limit: w * h - 1))
            XCTAssertEqual(try ImageDecoder.decode(path: ImageFixtures.input(name), pixelLimit: w * h).image.width, w)
        }
    }

    // MARK: real data

    func testRealHorseOrHumanPNGMatchesKerasExpectation() throws {
        let shared = ImageFixtures.manifest.shared_image
        let path = ImageFixtures.repoRoot.appendingPathComponent("../shared/data/horse-or-human/\(shared.relative_path)").standardized.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(path) is absent (the Horses-or-Humans data lives in ../shared/data only on team machines)")
        }
        XCTAssertEqual(try SHA256Hasher.digest(fileAt: path).hex, shared.file_sha256, "the file is the one the script used")
        let decoded = try ImageDecoder.decode(path: path)
        XCTAssertEqual(decoded.format, .png)
        XCTAssertEqual(Self.sha(decoded.image), shared.decoded_sha256)
        XCTAssertEqual(Self.sha(ImageResize.resize(decoded.image, height: 150, width: 150, method: .nearest)), shared.nearest_150x150_sha256)
        XCTAssertEqual(Self.sha(ImageResize.resize(decoded.image, height: 150, width: 150, method: .bilinear)), shared.bilinear_150x150_sha256)
    }

    static func sha(_ image: RGBImage) -> String {
        image.pixels.withUnsafeBytes { SHA256Hasher.digest($0).hex }
    }
}
