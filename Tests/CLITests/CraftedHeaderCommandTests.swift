import Foundation
import Store
import XCTest

/// `headstart extract` over a dataset whose bad files are crafted headers — sizes huge, zero and "negative" in
/// every format — beside good images: each bad file is reported with its reason, every good image lands in the
/// cache, and the process ends by exiting, never by a signal.
final class CraftedHeaderCommandTests: XCTestCase {
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }

    /// Signature and IHDR only (24 bytes are enough for the header check).
    static func png(_ w: UInt32, _ h: UInt32) -> [UInt8] {
        [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + be32(13) + Array("IHDR".utf8) + be32(w) + be32(h) + [8, 2, 0, 0, 0] + be32(0)
    }

    /// File header and a 40-byte info header at 24 bits; `w` and `h` raw u32 (top byte 0xFF in h means top-down).
    static func bmp(_ w: UInt32, _ h: UInt32) -> [UInt8] {
        Array("BM".utf8) + le32(54) + le32(0) + le32(54) + le32(40) + le32(w) + le32(h) + [1, 0, 24, 0] + [UInt8](repeating: 0, count: 24)
    }

    /// SOI and an SOF0 frame header (precision 8, one component).
    static func jpeg(_ w: UInt16, _ h: UInt16) -> [UInt8] {
        [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, UInt8(h >> 8), UInt8(h & 0xFF), UInt8(w >> 8), UInt8(w & 0xFF), 0x01, 0x01, 0x11, 0x00]
    }

    static let crafted: [String: [UInt8]] = [
        "b/png-huge.png": png(.max, .max),
        "b/png-2pow31.png": png(0x8000_0000, 0x8000_0000),
        "b/png-zero-width.png": png(0, 100),
        "b/png-zero-height.png": png(100, 0),
        "b/bmp-huge.bmp": bmp(.max, 0x7FFF_FFFF),
        "b/bmp-negative-width.bmp": bmp(0xFFFF_FFFB, 0x8000_0010),  // -5 as i32; with 2^31 + 16 rows, past 2^63 pixels
        "b/bmp-negative-height.bmp": bmp(16, 0xFFFF_FFF0),  // top-down, 16 rows: the pixels are missing
        "b/bmp-zero-width.bmp": bmp(0, 4) + [UInt8](repeating: 0, count: 16),
        "b/bmp-zero-height.bmp": bmp(4, 0),
        "b/ppm-huge.ppm": Array("P6\n9999999999 9999999999\n255\n".utf8),
        "b/ppm-zero.ppm": Array("P6\n0 7\n255\n".utf8),
        "b/ppm-negative.ppm": Array("P6\n-4 7\n255\n".utf8),
        "b/pgm-zero-height.ppm": Array("P5\n7 0\n255\n".utf8),
        "b/jpeg-huge.jpg": jpeg(.max, .max),
        "b/jpeg-zero-height.jpg": jpeg(64, 0),
        "b/jpeg-zero-width.jpg": jpeg(0, 64),
    ]

    func testEveryCraftedHeaderIsReportedWithItsReasonAndEveryGoodImageLands() throws {
        let dir = try CLI.temporaryDirectory()
        let d = CLIDataset(dir)
        let good = d.addJPEGs(classes: ["a", "b"], count: 3)
        for (path, bytes) in Self.crafted { d.write(path, bytes) }
        let cache = dir.appendingPathComponent("cache").path
        let r = try CLI.run(["extract", d.root.path, "--weights", FeaturesCommandTests.weights, "--cache", cache,
                             "--size", "75", "--batch", "4"])
        XCTAssertEqual(r.status, 0, "exit status \(r.status) (a status above 128 is a signal); stderr:\n\(r.stderr)")
        XCTAssertTrue(r.stdout.contains("\(good.count) extracted"), r.stdout)
        XCTAssertTrue(r.stdout.contains("skipped \(Self.crafted.count) file(s):"), r.stdout)

        let c = try FeatureCache.open(cache)
        XCTAssertEqual(try c.indexEntries().map(\.path).sorted(), good.sorted())
        let errors = Dictionary(uniqueKeysWithValues: try c.errorEntries().map { ($0.path, $0.reason) })
        XCTAssertEqual(Set(errors.keys), Set(Self.crafted.keys))
        for (path, reason) in errors {
            XCTAssertTrue(r.stdout.contains("  \(path): \(reason)"), "\(path) is reported with its reason:\n\(r.stdout)")
            let expected: String
            switch path {
            case _ where path.contains("huge") || path.contains("2pow31") || path.contains("negative-width"):
                expected = "over the limit of 89478485 pixels"
            case _ where path.contains("zero"): expected = "an image has at least one pixel each way"
            case "b/bmp-negative-height.bmp": expected = "truncated BMP file"
            case "b/ppm-negative.ppm": expected = "expected a number in the header"
            default: expected = "?"
            }
            XCTAssertTrue(reason.contains(expected), "\(path): \(reason)")
        }
    }
}
