import Extract
import Numerics
import XCTest

/// Resizing against Keras load_img(target_size=..., interpolation=...) on every fixture: exact equality.
final class ImageResizeTests: XCTestCase {
    func assertEveryFixtureResizesAsPIL(_ method: ResizeMethod, file: StaticString = #filePath, line: UInt = #line) throws {
        var checked = 0
        for entry in ImageFixtures.manifest.images {
            let decoded = try ImageDecoder.decode(path: ImageFixtures.input(entry.file)).image
            for target in entry.resized where target.method == method.rawValue {
                let got = ImageResize.resize(decoded, height: target.height, width: target.width, method: method)
                let label = "\(entry.file) \(entry.width)x\(entry.height) -> \(target.width)x\(target.height) \(method)"
                if let npy = target.npy {
                    assertSameImage(got, try ImageFixtures.expected(npy), label, file: file, line: line)
                }
                XCTAssertEqual(ImageDecoderTests.sha(got), target.sha256, label, file: file, line: line)
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 3 * ImageFixtures.manifest.images.count, "targets per image")
    }

    func testNearestEqualsPILOnEveryFixtureAndTarget() throws { try assertEveryFixtureResizesAsPIL(.nearest) }
    func testBilinearEqualsPILOnEveryFixtureAndTarget() throws { try assertEveryFixtureResizesAsPIL(.bilinear) }

    func testSameSizeResizeReturnsTheImageUnchanged() throws {
        let image = try ImageDecoder.decode(path: ImageFixtures.input("rgb.png")).image
        for method in ResizeMethod.allCases {
            XCTAssertEqual(ImageResize.resize(image, height: image.height, width: image.width, method: method), image)
        }
    }

    func testLoadDecodesThenResizesLikeKerasLoadImg() throws {
        let entry = ImageFixtures.entry("horse_photo.jpg")
        let target = entry.resized.first { $0.method == "bilinear" && $0.height == 31 }!
        let loaded = try ImageDecoder.load(path: ImageFixtures.input(entry.file), height: 31, width: 17, method: .bilinear)
        assertSameImage(loaded.image, try ImageFixtures.expected(target.npy!), "load horse_photo.jpg 31x17 bilinear")
    }

    func testNearestPicksPixelCentresOnAnExactTwofoldShrink() {
        // 4x1 -> 2x1: centres of output pixels map to source x = 1.0 and 3.0 -> columns 1 and 3.
        let image = RGBImage(width: 4, height: 1, pixels: [0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30])
        XCTAssertEqual(ImageResize.resize(image, height: 1, width: 2, method: .nearest).pixels, [10, 10, 10, 30, 30, 30])
    }

    func testBilinearTwofoldShrinkAveragesWithTriangleWeights() {
        // 4x1 -> 2x1: scale 2 widens the triangle's support to 2. Output 0 (centre 1.0) covers sources 0, 1, 2
        // with weights 1 - |x + 0.5 - 1| / 2 = 0.75, 0.75, 0.25 -> (0 * 0.75 + 10 * 0.75 + 20 * 0.25) / 1.75
        // = 7.14 -> 7 (a plain two-tap average would give 5).
        let image = RGBImage(width: 4, height: 1, pixels: [0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30])
        XCTAssertEqual(ImageResize.resize(image, height: 1, width: 2, method: .bilinear).pixels[0], 7)
    }
}
