import Extract
import Foundation
import Pipeline
import Store
import XCTest

/// One extraction over a dataset with every kind of bad input beside good images: each bad file is either decoded
/// correctly or recorded in the errors table with its specific reason, and the run goes on to extract the rest.
final class BadInputTests: XCTestCase {
    static let isRoot = geteuid() == 0

    /// Good images: six distinct JPEGs in class a.
    static let good = (0..<6).map { "a/a-\(String(format: "%03d", $0)).jpg" }

    /// Files that must decode (as the format they really are), whatever their name says.
    static let decodable = [
        "b/png-named.jpg": "images/inputs/png_named.jpg",  // a PNG
        "b/bmp-named.jpg": "images/inputs/rgb24.bmp",
        "b/cmyk.jpg": "images/inputs/cmyk.jpg",
        "b/gray.jpg": "images/inputs/gray.jpg",
        "b/gray16.png": "images/inputs/gray16.png",
        "b/palette.png": "images/inputs/palette4.png",
        "b/warning.jpg": "images/inputs/warning.jpg",  // libjpeg warns "Corrupt JPEG data" but decodes
        "b/gif-named.jpg": "images/inputs/transparent.gif",
        "b/webp-named.jpg": "images/inputs/lossy_alpha.webp",
        "b/cmyk.tif": "images/inputs/cmyk.tif",
        "b/animated.webp": "images/inputs/animated.webp",
    ]

    struct Run { var summary: ExtractionSummary; var cache: URL; var root: URL; var top: URL }
    nonisolated(unsafe) static var shared: Run?

    /// The dataset and the run, made once for all the tests of this class.
    func outcome() throws -> Run {
        if let r = Self.shared { return r }
        let top = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-badinput-\(UUID().uuidString)")
        let d = TestDataset(root: top.appendingPathComponent("dataset"))
        for (i, path) in Self.good.enumerated() { d.write(path, TestImages.jpegVariant(i)) }
        for (path, source) in Self.decodable { d.write(path, fixtureBytes(source)) }
        d.write("b/empty.jpg", [])
        d.write("b/truncated.jpg", fixtureBytes("images/bad/truncated.jpg"))
        d.write("b/truncated.png", fixtureBytes("images/bad/truncated.png"))
        d.write("b/corrupt.jpg", fixtureBytes("images/bad/corrupt_sof.jpg"))
        for name in ["truncated.tif", "corrupt.tif", "float.tif", "truncated.gif", "no_image.gif", "truncated.webp", "corrupt.webp"] {
            d.write("b/\(name)", fixtureBytes("images/bad/\(name)"))
        }
        d.write("b/huge.png", TestImages.pngHeader(width: 20000, height: 20000))
        d.symlink("b/broken-link.jpg", to: "no-such-target.jpg")
        // Root can read a file whatever its mode, but not this one: reading /proc/self/mem at offset 0 fails
        // with EIO (the first page of the address space is never mapped).
        d.symlink("b/io-error.jpg", to: "/proc/self/mem")
        if !Self.isRoot {
            let url = d.write("b/no-permission.jpg", TestImages.jpegVariant(99))
            try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: url.path)
        }
        let cache = top.appendingPathComponent("cache")
        let summary = try extract(d, cache: cache, dtype: .f32, batch: 4)
        let r = Run(summary: summary, cache: cache, root: d.root, top: top)
        Self.shared = r
        return r
    }

    override class func tearDown() {
        if let r = shared { try? FileManager.default.removeItem(at: r.top) }
        shared = nil
        super.tearDown()
    }

    func reason(_ path: String) throws -> String {
        let reasons = try FeatureCache.open(outcome().cache).errorReasons()
        return try XCTUnwrap(reasons[path], "\(path) is not in the errors table: \(reasons)")
    }

    func testTheRunGoesOnAndExtractsEveryUsableImage() throws {
        let r = try outcome()
        let c = try FeatureCache.open(r.cache)
        let indexed = Set(try c.indexEntries().map(\.path))
        XCTAssertEqual(indexed, Set(Self.good).union(Self.decodable.keys))
        XCTAssertEqual(r.summary.extracted, Self.good.count + Self.decodable.count)
        XCTAssertEqual(Set(try c.errorEntries().map(\.path)).intersection(indexed), [], "no file is both indexed and failed")
        XCTAssertEqual(r.summary.failed.count, try c.errorEntries().count, "the summary lists what the errors table holds")
        XCTAssertEqual(try c.verify(), [])
    }

    func testAZeroByteFileIsRecordedAsEmpty() throws {
        XCTAssertEqual(try reason("b/empty.jpg"), "empty file (0 bytes)")
    }

    func testATruncatedJPEGIsRecordedAsTruncated() throws {
        let r = try reason("b/truncated.jpg")
        XCTAssertTrue(r.hasPrefix("truncated JPEG file: the data ends before the image does"), r)
    }

    func testATruncatedPNGIsRecordedAsTruncated() throws {
        let r = try reason("b/truncated.png")
        XCTAssertTrue(r.hasPrefix("truncated PNG file: the data ends before the image does"), r)
    }

    func testACorruptJPEGIsRecordedAsCorrupt() throws {
        let r = try reason("b/corrupt.jpg")
        XCTAssertTrue(r.hasPrefix("corrupt JPEG data: "), r)
    }

    func testTruncatedAndCorruptTIFFGIFAndWebPAreRecordedWithTheirFormat() throws {
        for (name, prefix) in [("truncated.tif", "truncated TIFF file"), ("corrupt.tif", "corrupt TIFF data: "),
                               ("truncated.gif", "truncated GIF file"), ("no_image.gif", "corrupt GIF data: "),
                               ("truncated.webp", "truncated WebP file"), ("corrupt.webp", "corrupt WebP data: ")] {
            let r = try reason("b/\(name)")
            XCTAssertTrue(r.hasPrefix(prefix), "\(name): \(r)")
        }
    }

    func testATIFFLayoutHeadstartDoesNotReadIsRecordedAsUnsupportedNamingIt() throws {
        XCTAssertEqual(try reason("b/float.tif"), "unsupported format (TIFF with photometric interpretation 1, 1 samples of 32 bits "
                       + "(format 3), planar configuration 1); headstart reads JPEG, PNG, TIFF, GIF, WebP, BMP and binary PPM/PGM")
    }

    func testAnImageOverThePixelLimitIsRefusedFromItsHeader() throws {
        XCTAssertEqual(try reason("b/huge.png"),
                       "image is 20000x20000 = 400000000 pixels, over the limit of 89478485 pixels (checked before decoding)")
    }

    func testABrokenSymbolicLinkIsRecordedWithItsTarget() throws {
        XCTAssertEqual(try reason("b/broken-link.jpg"), "broken symbolic link (target no-such-target.jpg does not exist)")
    }

    func testAFileThatFailsToReadIsRecordedWithTheSystemsReason() throws {
        XCTAssertEqual(try reason("b/io-error.jpg"), "cannot read the file (Input/output error)")
    }

    func testAFileWithoutReadPermissionIsRecordedAsNotReadable() throws {
        if Self.isRoot { throw XCTSkip("root reads files whatever their permissions; run the tests as another user to check this") }
        XCTAssertEqual(try reason("b/no-permission.jpg"), "not readable (Permission denied)")
    }

    /// PNG, BMP, GIF and WebP named .jpg, CMYK and gray JPEG, 16-bit and palette PNG, CMYK TIFF, animated WebP:
    /// decoded by what they are, with the
    /// features FeatureExtractor computes for the same file (same decoder, same network; the network's batch is
    /// different, which changes float32 sums in the last bits: tolerance 1e-5 of the largest value).
    func testMislabelledCMYKGray16BitAndPaletteImagesAreDecodedCorrectly() throws {
        let r = try outcome()
        let c = try FeatureCache.open(r.cache)
        for (path, _) in Self.decodable.sorted(by: { $0.key < $1.key }) {
            let entry = try XCTUnwrap(c.indexEntry(path: path), "\(path) not indexed")
            let stored = try XCTUnwrap(c.record(key: entry.key)).values
            let direct = try smallExtractor.features(paths: [r.root.appendingPathComponent(path).path])
            let scale = direct.map(abs).max()!
            XCTAssertGreaterThan(scale, 0)
            let worst = zip(stored, direct).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-5 * scale, "\(path): max difference \(worst) of \(scale)")
        }
    }

    func testLibjpegWarningsAreCountedPerFileNotFatal() throws {
        let r = try outcome()
        let w = try XCTUnwrap(r.summary.warnings.first { $0.path == "b/warning.jpg" }, "\(r.summary.warnings)")
        XCTAssertGreaterThanOrEqual(w.count, 1)
        XCTAssertTrue(w.first.contains("Corrupt JPEG data"), w.first)
        XCTAssertEqual(r.summary.warnings.map(\.path), ["b/warning.jpg"], "only the file that warned")
    }
}
