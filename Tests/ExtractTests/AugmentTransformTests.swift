import Extract
import XCTest

/// Exact expectations for the transforms (issue 5 "Proof"), on small synthetic images whose values are all distinct.
final class AugmentTransformTests: XCTestCase {
    /// (h, w, 3) with value (r·w + c)·3 + k: every pixel of an image up to 85 pixels is distinct.
    func ramp(_ h: Int, _ w: Int) -> [Float] { (0..<(h * w * 3)).map { Float($0) } }

    func pixel(_ x: [Float], _ w: Int, _ r: Int, _ c: Int) -> [Float] {
        Array(x[((r * w + c) * 3)..<((r * w + c) * 3 + 3)])
    }

    func apply(_ x: [Float], _ h: Int, _ w: Int, _ p: TransformParameters,
               _ s: AugmentationSettings = AugmentationSettings()) -> [Float] {
        Augment.applyTransform(x, height: h, width: w, parameters: p, settings: s)
    }

    func testHorizontalFlipMirrorsEveryRow() {
        let (h, w) = (5, 7), x = ramp(5, 7)
        let y = apply(x, h, w, TransformParameters(flipHorizontal: true))
        for r in 0..<h { for c in 0..<w { XCTAssertEqual(pixel(y, w, r, c), pixel(x, w, r, w - 1 - c), "(\(r), \(c))") } }
    }

    func testVerticalFlipReversesTheRows() {
        let (h, w) = (5, 7), x = ramp(5, 7)
        let y = apply(x, h, w, TransformParameters(flipVertical: true))
        for r in 0..<h { for c in 0..<w { XCTAssertEqual(pixel(y, w, r, c), pixel(x, w, h - 1 - r, c), "(\(r), \(c))") } }
    }

    /// theta = 90 on an n x n image: out[r][c] = in[c][n−1−r], i.e. the transpose with its rows reversed
    /// (content turns a quarter counter-clockwise); theta = −90: out[r][c] = in[n−1−c][r], the transpose with its
    /// columns reversed. Bit for bit except where the expected value is 0: cos(π/2) is 6.1e-17 in double, which
    /// leaves weights of ~1e-16 on neighbours; that vanishes in float32 except next to a 0 (Keras gives the very
    /// same 1.07e-14 at (7, 0) of this image), so there the tolerance is 1e-13.
    func testRotationBy90DegreesIsATransposeWithRowsOrColumnsReversed() {
        let n = 8, x = ramp(8, 8)
        let ccw = apply(x, n, n, TransformParameters(theta: 90))
        let cw = apply(x, n, n, TransformParameters(theta: -90))
        func check(_ got: [Float], _ want: [Float], _ what: String) {
            for (g, w) in zip(got, want) {
                if w == 0 { XCTAssertEqual(g, w, accuracy: 1e-13, what) } else { XCTAssertEqual(g, w, what) }
            }
        }
        for r in 0..<n {
            for c in 0..<n {
                check(pixel(ccw, n, r, c), pixel(x, n, c, n - 1 - r), "+90 at (\(r), \(c))")
                check(pixel(cw, n, r, c), pixel(x, n, n - 1 - c, r), "−90 at (\(r), \(c))")
            }
        }
    }

    /// A whole-pixel shift tx = +2, ty = −2 on 5 x 7 (Keras 3 axes: tx moves content 2 columns left, ty = −2 moves
    /// it 2 rows down): out[r][c] = in[rowSource[r]][colSource[c]], nil meaning cval.
    func checkShift(_ fill: FillMode, rowSource: [Int?], colSource: [Int?], file: StaticString = #filePath, line: UInt = #line) {
        let (h, w) = (5, 7), x = ramp(5, 7), cval: Float = 200.5
        let y = apply(x, h, w, TransformParameters(tx: 2, ty: -2), AugmentationSettings(fill: fill, cval: Double(cval)))
        for r in 0..<h {
            for c in 0..<w {
                let expected: [Float]
                if let sr = rowSource[r], let sc = colSource[c] { expected = pixel(x, w, sr, sc) } else { expected = [cval, cval, cval] }
                XCTAssertEqual(pixel(y, w, r, c), expected, "\(fill) at (\(r), \(c))", file: file, line: line)
            }
        }
    }

    func testWholePixelShiftWithNearestFillRepeatsTheEdge() {
        checkShift(.nearest, rowSource: [0, 0, 0, 1, 2], colSource: [2, 3, 4, 5, 6, 6, 6])
    }

    /// scipy 'reflect' is half-sample symmetric: index −1 reads 0, −2 reads 1, n reads n−1, n+1 reads n−2.
    func testWholePixelShiftWithReflectFillMirrorsAboutTheEdge() {
        checkShift(.reflect, rowSource: [1, 0, 0, 1, 2], colSource: [2, 3, 4, 5, 6, 6, 5])
    }

    /// scipy 'wrap' (what Keras passes; not 'grid-wrap') has period n − 1: index n reads 1, n+1 reads 2, −1 reads n−2.
    func testWholePixelShiftWithWrapFillUsesScipysPeriodOfNMinusOne() {
        checkShift(.wrap, rowSource: [2, 3, 0, 1, 2], colSource: [2, 3, 4, 5, 6, 1, 2])
    }

    func testWholePixelShiftWithConstantFillWritesCval() {
        checkShift(.constant, rowSource: [nil, nil, 0, 1, 2], colSource: [2, 3, 4, 5, 6, nil, nil])
    }

    /// zoom [1, 1] with every other range 0 (and zoom z = 0, Keras's [1 − 0, 1 + 0]) is the identity: every view's
    /// parameters are neutral and the output equals the input bit for bit (Keras builds no matrix then).
    func testZoomOneAndAllRangesZeroAreTheIdentity() {
        let x = ramp(6, 9).map { $0 + 0.25 }
        for settings in [AugmentationSettings(), AugmentationSettings(zoom: Interval(zoom: 0)),
                         AugmentationSettings(zoom: Interval(1, 1), fill: .constant, cval: 9)] {
            XCTAssertTrue(settings.isIdentity)
            for view in 0..<20 {
                let p = settings.draw(seed: 3, key: [1, 2, 3], view: view, height: 6, width: 9)
                XCTAssertEqual(p, .identity, "view \(view)")
                XCTAssertEqual(apply(x, 6, 9, p, settings), x, "view \(view)")
            }
        }
    }

    /// apply_channel_shift adds one intensity to every channel and clips to the image's own min...max.
    func testChannelShiftAddsAndClipsToTheImageRange() {
        let x = ramp(4, 5)  // 0...59
        let y = apply(x, 4, 5, TransformParameters(channelShiftIntensity: 10.5))
        XCTAssertEqual(y, x.map { min($0 + 10.5, 59) })
        let down = apply(x, 4, 5, TransformParameters(channelShiftIntensity: -1000))
        XCTAssertEqual(down, [Float](repeating: 0, count: 60))
    }

    /// Brightness goes through an 8-bit PIL image: fractions are truncated even with factor 1, and
    /// v' = trunc(float32(f) · v), clipped to 255 for f > 1.
    func testBrightnessTruncatesThroughEightBitsAsPILDoes() {
        let x: [Float] = [100.7, 0.2, 254.9, 10, 200, 255]
        XCTAssertEqual(apply(x, 1, 2, TransformParameters(brightness: 1.0)), [100, 0, 254, 10, 200, 255])
        XCTAssertEqual(apply(x, 1, 2, TransformParameters(brightness: 0.5)), [50, 0, 127, 5, 100, 127])
        XCTAssertEqual(apply(x, 1, 2, TransformParameters(brightness: 1.5)), [150, 0, 255, 15, 255, 255])
    }

    /// Keras applies the flips after the affine step: a shift then a horizontal flip is not a flip then a shift.
    func testFlipsApplyAfterTheAffineTransform() {
        let (h, w) = (1, 7), x = ramp(1, 7)
        let y = apply(x, h, w, TransformParameters(tx: 2, flipHorizontal: true))
        // shift first: columns [2, 3, 4, 5, 6, 6, 6]; then mirrored.
        let shifted = [2, 3, 4, 5, 6, 6, 6].map { pixel(x, w, 0, $0) }
        XCTAssertEqual((0..<w).map { pixel(y, w, 0, $0) }, shifted.reversed())
    }

    /// The affine step does not touch the input buffer and fills the output completely (no stale values).
    func testApplyTransformLeavesTheInputUnchangedAndOverwritesTheOutput() {
        let x = ramp(6, 6)
        var out = [Float](repeating: .nan, count: x.count)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                Augment.applyTransform(dst.baseAddress!, src.baseAddress!, height: 6, width: 6,
                                       parameters: TransformParameters(theta: 17, zx: 1.3, zy: 0.9),
                                       settings: AugmentationSettings(fill: .reflect))
            }
        }
        XCTAssertEqual(x, ramp(6, 6))
        XCTAssertFalse(out.contains { $0.isNaN })
    }
}
