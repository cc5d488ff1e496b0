import Extract
import Foundation
import XCTest

/// The PNG encoder and the augment-preview grid.
final class AugmentPreviewTests: XCTestCase {
    func pattern(_ h: Int, _ w: Int) -> RGBImage {
        RGBImage(width: w, height: h, pixels: (0..<(h * w * 3)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 / 7) })
    }

    func testPNGRoundTripsThroughTheDecoder() throws {
        let image = pattern(23, 37)
        let bytes = try ImageEncoder.png(image)
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let decoded = try ImageDecoder.decode(data: bytes, name: "round-trip.png")
        XCTAssertEqual(decoded.format, .png)
        XCTAssertEqual(decoded.image, image)
        XCTAssertEqual(decoded.warningCount, 0)
    }

    func testWritePNGWritesADecodableFile() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("grid.png").path
        let image = pattern(5, 9)
        try ImageEncoder.writePNG(image, to: path)
        XCTAssertEqual(try ImageDecoder.decode(path: path).image, image)
    }

    func testWritePNGIntoAMissingDirectoryNamesThePath() {
        let path = "/nonexistent-\(UUID().uuidString)/grid.png"
        XCTAssertThrowsError(try ImageEncoder.writePNG(pattern(2, 2), to: path)) { error in
            XCTAssertEqual((error as? ImageEncodeError)?.path, path)
        }
    }

    /// 7 cells of 20x16 in 3 columns with 2-pixel gaps: 3·16 + 2·2 = 52 wide, 3·20 + 2·2 = 64 high; the two
    /// unused cells of the last row stay white.
    func testGridSizeIsColumnsByRowsOfCellsWithGaps() throws {
        let image = try ImageDecoder.decode(path: Fixtures.path("augment/input.png")).image
        let grid = AugmentPreview.grid(image: image, settings: .book, seed: 1, count: 7, columns: 3, height: 20, width: 16)
        XCTAssertEqual([grid.width, grid.height], [52, 64])
        for r in 44..<64 {
            for c in 18..<52 {
                let i = (r * 52 + c) * 3
                XCTAssertEqual(Array(grid.pixels[i..<(i + 3)]), [255, 255, 255], "unused cell at (\(r), \(c))")
            }
        }
    }

    func cell(_ grid: RGBImage, _ index: Int, columns: Int, height: Int, width: Int, gap: Int = 2) -> RGBImage {
        let top = (index / columns) * (height + gap), left = (index % columns) * (width + gap)
        var pixels: [UInt8] = []
        for r in 0..<height {
            let start = ((top + r) * grid.width + left) * 3
            pixels += grid.pixels[start..<(start + width * 3)]
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    func testFirstCellIsTheResizedOriginal() throws {
        let image = try ImageDecoder.decode(path: Fixtures.path("augment/input.png")).image
        let grid = AugmentPreview.grid(image: image, settings: .book, seed: 1, count: 4, columns: 2, height: 20, width: 16)
        XCTAssertEqual(cell(grid, 0, columns: 2, height: 20, width: 16),
                       ImageResize.resize(image, height: 20, width: 16, method: .nearest))
    }

    /// Cell i is view i of the image under (seed, key): the view `extract --views` would store for that key.
    func testOtherCellsAreTheDrawnViewsOfTheResizedImage() throws {
        let image = try ImageDecoder.decode(path: Fixtures.path("augment/input.png")).image
        let key: [UInt8] = Array(repeating: 7, count: 32)
        let grid = AugmentPreview.grid(image: image, settings: .book, seed: 11, key: key, count: 4, columns: 4,
                                       height: 20, width: 16)
        let base = Augment.floats(ImageResize.resize(image, height: 20, width: 16, method: .nearest))
        for view in 1..<4 {
            let p = AugmentationSettings.book.draw(seed: 11, key: key, view: view, height: 20, width: 16)
            let expected = Augment.bytes(Augment.applyTransform(base, height: 20, width: 16, parameters: p,
                                                                settings: .book), height: 20, width: 16)
            XCTAssertEqual(cell(grid, view, columns: 4, height: 20, width: 16), expected, "view \(view)")
            XCTAssertNotEqual(expected.pixels, cell(grid, 0, columns: 4, height: 20, width: 16).pixels)
        }
    }
}
