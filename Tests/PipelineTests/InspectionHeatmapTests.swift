import Extract
import Foundation
import Pipeline
import Store
import XCTest

/// `--heatmap PATH`: the image at the cache's input size with its per-cell mean activation overlaid.
final class InspectionHeatmapTests: XCTestCase {
    /// A 77×77 image of one colour (100, 120, 140) and a 7×7×2 f32 record whose only activation is in cell
    /// (row 2, column 5): 77 = 7·11, so output pixel 11·c + 5 samples cell c's centre exactly.
    func constructed() throws -> (FeatureCache, URL) {
        let dir = InspectionFixture.directory(self)
        let root = dir.appendingPathComponent("dataset")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("train/a"), withIntermediateDirectories: true)
        let image = RGBImage(width: 77, height: 77, pixels: (0..<(77 * 77)).flatMap { _ in [UInt8(100), 120, 140] })
        let file = root.appendingPathComponent("train/a/x.png").path
        try ImageEncoder.writePNG(image, to: file)
        let cache = try FeatureCache(path: dir.appendingPathComponent("c").path,
                                     fingerprint: InspectionFixture.fingerprint(size: 77, shape: [7, 7, 2]))
        var values = [Float](repeating: 0, count: 7 * 7 * 2)
        values[(2 * 7 + 5) * 2 + 0] = 4
        values[(2 * 7 + 5) * 2 + 1] = 2  // cell mean 3
        let key = try ContentKey.of(fileAt: file)
        try cache.commit(batch: Batch(records: [PendingRecord(key: key, values: values)],
                                      entries: [InspectionFixture.entry("train/a/x.png", key)]))
        return (cache, root)
    }

    func pixel(_ image: RGBImage, x: Int, y: Int) -> [UInt8] {
        Array(image.pixels[((y * image.width + x) * 3)..<((y * image.width + x) * 3 + 3)])
    }

    func testTheHotCellsCentreHasTheBlendOfTheHottestColour() throws {
        let (cache, root) = try constructed()
        let h = try Inspection.heatmap(cache, path: "train/a/x.png", datasetRoot: root)
        // v = 1 there: jet(1) = (0.5, 0, 0); out = round(0.5·pixel + 0.5·255·colour)
        //   r = round(50 + 63.75) = 114, g = round(60 + 0) = 60, b = round(70 + 0) = 70.
        XCTAssertEqual(pixel(h.image, x: 11 * 5 + 5, y: 11 * 2 + 5), [114, 60, 70])
    }

    func testFarFromTheHotCellIsTheColdestColour() throws {
        let (cache, root) = try constructed()
        let h = try Inspection.heatmap(cache, path: "train/a/x.png", datasetRoot: root)
        // v = 0: jet(0) = (0, 0, 0.5): r = 50, g = 60, b = round(70 + 63.75) = 134.
        XCTAssertEqual(pixel(h.image, x: 0, y: 0), [50, 60, 134])
        XCTAssertEqual(pixel(h.image, x: 76, y: 76), [50, 60, 134])
    }

    func testBetweenCellsTheActivationIsInterpolatedBilinearly() throws {
        let (cache, root) = try constructed()
        let h = try Inspection.heatmap(cache, path: "train/a/x.png", datasetRoot: root)
        // Row 27 samples row 2 exactly; column 65 samples u = 65.5·7/77 − 0.5 = 5 + 5/11, so v = 6/11:
        //   jet: r = 1.5 − |24/11 − 3| = 15/22, g = min(1, 1.5 − |24/11 − 2|) = 1, b = 1.5 − |24/11 − 1| = 7/22;
        //   r = round(50 + 127.5·15/22 = 136.93) = 137, g = round(60 + 127.5) = 188, b = round(70 + 127.5·7/22 = 110.57) = 111.
        XCTAssertEqual(pixel(h.image, x: 65, y: 27), [137, 188, 111])
    }

    func testOnlyThePixelsSamplingTheHotCellOrItsNeighboursAreColoured() throws {
        let (cache, root) = try constructed()
        let h = try Inspection.heatmap(cache, path: "train/a/x.png", datasetRoot: root)
        // The activation is non-zero where the sampling coordinate is strictly between rows 1 and 3 (pixel rows
        // 17…37) and columns 4 and 6 (pixel columns 50…70); elsewhere the colour is jet(0).
        for y in 0..<77 {
            for x in 0..<77 {
                let cold = pixel(h.image, x: x, y: y) == [50, 60, 134]
                XCTAssertEqual(cold, !((17...37).contains(y) && (50...70).contains(x)), "pixel (\(x), \(y))")
            }
        }
    }

    func testTheViewGivesTheGridAndItsRange() throws {
        let (cache, root) = try constructed()
        let v = try Inspection.heatmap(cache, path: "train/a/x.png", datasetRoot: root).view
        XCTAssertEqual([v.width, v.height], [77, 77])
        XCTAssertEqual(v.grid, [7, 7])
        XCTAssertEqual(v.cellMeans[2][5], 3)
        XCTAssertEqual(v.cellMeans.flatMap { $0 }.filter { $0 != 0 }.count, 1)
        XCTAssertEqual([v.minimum, v.maximum], [0, 3])
        XCTAssertTrue(v.contentMatchesIndex)
        XCTAssertEqual(v.imageFile, root.appendingPathComponent("train/a/x.png").path)
    }

    func testAChangedFileIsFlagged() throws {
        let (cache, root) = try constructed()
        let file = root.appendingPathComponent("train/a/x.png").path
        try ImageEncoder.writePNG(RGBImage(width: 77, height: 77, pixels: [UInt8](repeating: 9, count: 77 * 77 * 3)), to: file)
        XCTAssertFalse(try Inspection.heatmap(cache, path: "train/a/x.png", datasetRoot: root).view.contentMatchesIndex)
    }

    func testWithoutADatasetRootItAsksForOne() throws {
        let (cache, _) = try constructed()
        XCTAssertThrowsError(try Inspection.heatmap(cache, path: "train/a/x.png", datasetRoot: nil)) { e in
            XCTAssertEqual(e as? InspectionError, .noDatasetRoot(cache: cache.path))
        }
    }

    func testAnExtractedImageIsDrawnAtTheCachesInputSizeAndWritesAReadablePNG() throws {
        let (root, path) = try InspectionFixture.extracted(self)
        let h = try Inspection.heatmap(FeatureCache(path: path, fingerprint: nil), path: "train/horses/a.png", datasetRoot: root)
        XCTAssertEqual([h.image.width, h.image.height], [75, 75], "a 300×300 image, cache input size 75")
        XCTAssertEqual(h.view.grid, [3, 3])
        let out = InspectionFixture.directory(self).appendingPathComponent("h.png").path
        try ImageEncoder.writePNG(h.image, to: out)
        let decoded = try ImageDecoder.decode(path: out)
        XCTAssertEqual(decoded.format, .png)
        XCTAssertEqual(decoded.image, h.image)
    }

    func testWithoutADatasetRootTheFolderExtractedFromIsRead() throws {
        let (root, path) = try InspectionFixture.extracted(self)
        let cache = try FeatureCache(path: path, fingerprint: nil)
        let given = try Inspection.heatmap(cache, path: "validation/humans/e.png", datasetRoot: root)
        let recorded = try Inspection.heatmap(cache, path: "validation/humans/e.png", datasetRoot: nil)
        XCTAssertEqual(recorded.view.imageFile, root.standardizedFileURL.appendingPathComponent("validation/humans/e.png").path)
        XCTAssertEqual(recorded.image, given.image)
    }

    func testJetEndsAndMiddle() {
        XCTAssertTrue(Inspection.jet(0) == (0, 0, 0.5))
        XCTAssertTrue(Inspection.jet(0.5) == (0.5, 1, 0.5))
        XCTAssertTrue(Inspection.jet(1) == (0.5, 0, 0))
    }

    func testAFlatGridLeavesTheColdColourEverywhere() {
        let image = RGBImage(width: 4, height: 3, pixels: [UInt8](repeating: 200, count: 36))
        let out = Inspection.overlay(image, cellMeans: [2, 2, 2, 2], gridHeight: 2, gridWidth: 2, alpha: 0.25)
        // 0.75·200 + 0.25·255·(0, 0, 0.5) = (150, 150, 181.875 → 182)
        XCTAssertEqual(out.pixels, (0..<12).flatMap { _ in [UInt8(150), 150, 182] })
    }
}
