import Extract
import Foundation
import XCTest

/// Settings, their canonical form, and the per-view parameter draws.
final class AugmentSettingsTests: XCTestCase {
    let key: [UInt8] = Array(0..<32)

    func testSameSeedKeyAndViewGiveTheSameView() {
        let a = AugmentationSettings.book.draw(seed: 42, key: key, view: 3, height: 150, width: 150)
        let b = AugmentationSettings.book.draw(seed: 42, key: key, view: 3, height: 150, width: 150)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, .identity)
    }

    func testDifferentViewIndexGivesADifferentView() {
        let x = (0..<(30 * 30 * 3)).map { Float($0 % 251) }
        let s = AugmentationSettings.book
        let p1 = s.draw(seed: 42, key: key, view: 1, height: 30, width: 30)
        let p2 = s.draw(seed: 42, key: key, view: 2, height: 30, width: 30)
        XCTAssertNotEqual(p1.theta, p2.theta)
        XCTAssertNotEqual(p1.tx, p2.tx)
        XCTAssertNotEqual(p1.zx, p2.zx)
        XCTAssertNotEqual(Augment.applyTransform(x, height: 30, width: 30, parameters: p1, settings: s),
                          Augment.applyTransform(x, height: 30, width: 30, parameters: p2, settings: s))
    }

    /// A view depends on the image (content key) and the global seed, not only on the view number.
    func testViewsDependOnTheContentKeyAndTheSeed() {
        let s = AugmentationSettings.book
        let base = s.draw(seed: 42, key: key, view: 1, height: 150, width: 150)
        var otherKey = key; otherKey[31] ^= 1
        XCTAssertNotEqual(base, s.draw(seed: 42, key: otherKey, view: 1, height: 150, width: 150))
        XCTAssertNotEqual(base, s.draw(seed: 43, key: key, view: 1, height: 150, width: 150))
    }

    /// Drawing is a pure function of (seed, key, view): views drawn in any order, for interleaved images
    /// (as shards would), are the same.
    func testDrawsAreIndependentOfOrderAndInterleaving() {
        let s = AugmentationSettings.book
        let keys: [[UInt8]] = (0..<4).map { i in (0..<32).map { UInt8(($0 * 7 + i) % 256) } }
        var forward: [String: TransformParameters] = [:]
        for k in keys.indices { for v in 1...6 { forward["\(k)/\(v)"] = s.draw(seed: 5, key: keys[k], view: v, height: 150, width: 150) } }
        for v in (1...6).reversed() {
            for k in keys.indices.reversed() {
                XCTAssertEqual(s.draw(seed: 5, key: keys[k], view: v, height: 150, width: 150), forward["\(k)/\(v)"])
            }
        }
    }

    func testViewZeroIsTheOriginal() {
        XCTAssertEqual(AugmentationSettings.book.draw(seed: 42, key: key, view: 0, height: 150, width: 150), .identity)
    }

    /// Over 4000 views of the book's settings at 150x150, every parameter stays in its Keras range and fills it:
    /// |theta| ≤ 40, |tx|, |ty| ≤ 0.2 · 150, |shear| ≤ 0.2, zx, zy in [0.8, 1.2], no vertical flip, about half
    /// horizontally flipped (binomial, 4000 draws: 0.45...0.55 is over 6 standard deviations).
    func testDrawsStayInsideAndSpanTheKerasRanges() {
        let s = AugmentationSettings.book
        let views = (1...4000).map { s.draw(seed: 9, key: key, view: $0, height: 150, width: 150) }
        func check(_ name: String, _ values: [Double], _ low: Double, _ high: Double) {
            XCTAssertGreaterThanOrEqual(values.min()!, low, name)
            XCTAssertLessThanOrEqual(values.max()!, high, name)
            XCTAssertLessThan(values.min()!, low + 0.05 * (high - low), "\(name) reaches its lower end")
            XCTAssertGreaterThan(values.max()!, high - 0.05 * (high - low), "\(name) reaches its upper end")
        }
        check("theta", views.map(\.theta), -40, 40)
        check("tx", views.map(\.tx), -30, 30)
        check("ty", views.map(\.ty), -30, 30)
        check("shear", views.map(\.shear), -0.2, 0.2)
        check("zx", views.map(\.zx), 0.8, 1.2)
        check("zy", views.map(\.zy), 0.8, 1.2)
        XCTAssertFalse(views.contains { $0.flipVertical })
        let flipped = Double(views.filter(\.flipHorizontal).count) / Double(views.count)
        XCTAssertTrue((0.45...0.55).contains(flipped), "horizontal flips: \(flipped)")
        XCTAssertTrue(views.allSatisfy { $0.channelShiftIntensity == nil && $0.brightness == nil })
    }

    /// Keras: a shift range below 1 is a fraction of the image size (tx of the height, ty of the width);
    /// 1 or more is pixels.
    func testShiftRangesBelowOneAreFractionsAndAboveArePixels() {
        let fraction = AugmentationSettings(widthShift: 0.5, heightShift: 0.25)
        let pixels = AugmentationSettings(widthShift: 3, heightShift: 2)
        let f = (1...500).map { fraction.draw(seed: 1, key: key, view: $0, height: 40, width: 100) }
        let p = (1...500).map { pixels.draw(seed: 1, key: key, view: $0, height: 40, width: 100) }
        XCTAssertLessThanOrEqual(f.map { abs($0.tx) }.max()!, 10)
        XCTAssertGreaterThan(f.map { abs($0.tx) }.max()!, 9)
        XCTAssertLessThanOrEqual(f.map { abs($0.ty) }.max()!, 50)
        XCTAssertGreaterThan(f.map { abs($0.ty) }.max()!, 45)
        XCTAssertLessThanOrEqual(p.map { abs($0.tx) }.max()!, 2)
        XCTAssertLessThanOrEqual(p.map { abs($0.ty) }.max()!, 3)
        XCTAssertGreaterThan(p.map { abs($0.ty) }.max()!, 2.8)
    }

    /// Turning one range on does not change the draws of the others (each parameter has its own slot).
    func testEnablingOneRangeLeavesTheOtherDrawsUnchanged() {
        let a = AugmentationSettings(rotation: 30)
        let b = AugmentationSettings(rotation: 30, shear: 10, brightness: Interval(0.5, 1.5))
        for v in 1...50 {
            XCTAssertEqual(a.draw(seed: 2, key: key, view: v, height: 150, width: 150).theta,
                           b.draw(seed: 2, key: key, view: v, height: 150, width: 150).theta)
        }
    }

    func testCanonicalDescriptionIsStableAndChangesWithEverySetting() {
        let base = AugmentationSettings.book
        XCTAssertEqual(base.canonicalDescription,
                       "augment/v1 rotation=40.0 width_shift=0.2 height_shift=0.2 shear=0.2 zoom=0.8:1.2 "
                       + "horizontal_flip=true vertical_flip=false brightness=none channel_shift=0.0 fill=nearest "
                       + "cval=0.0 order=1 draw=v1")
        var variants: [AugmentationSettings] = []
        var s = base; s.rotation = 41; variants.append(s)
        s = base; s.widthShift = 0.1; variants.append(s)
        s = base; s.heightShift = 0.1; variants.append(s)
        s = base; s.shear = 0.3; variants.append(s)
        s = base; s.zoom = Interval(0.8, 1.25); variants.append(s)
        s = base; s.horizontalFlip = false; variants.append(s)
        s = base; s.verticalFlip = true; variants.append(s)
        s = base; s.brightness = Interval(0.9, 1.1); variants.append(s)
        s = base; s.channelShift = 5; variants.append(s)
        s = base; s.fill = .reflect; variants.append(s)
        s = base; s.cval = 1; variants.append(s)
        let strings = Set(variants.map(\.canonicalDescription) + [base.canonicalDescription])
        XCTAssertEqual(strings.count, variants.count + 1)
    }

    /// JSON (and so the pipeline YAML's `augment:` section) may give zoom as one number (Keras's zoom_range=z)
    /// or as a pair, and may leave keys out; encoding round-trips.
    func testSettingsDecodeZoomAsNumberOrPairAndRoundTrip() throws {
        let json = #"{"rotation": 40, "widthShift": 0.2, "heightShift": 0.2, "shear": 0.2, "zoom": 0.2, "horizontalFlip": true}"#
        let decoded = try JSONDecoder().decode(AugmentationSettings.self, from: Data(json.utf8))
        XCTAssertEqual(decoded, .book)
        let pair = try JSONDecoder().decode(AugmentationSettings.self,
                                            from: Data(#"{"zoom": [0.5, 1.5], "fill": "wrap", "brightness": [0.8, 1.2]}"#.utf8))
        XCTAssertEqual(pair, AugmentationSettings(zoom: Interval(0.5, 1.5), brightness: Interval(0.8, 1.2), fill: .wrap))
        let again = try JSONDecoder().decode(AugmentationSettings.self, from: JSONEncoder().encode(pair))
        XCTAssertEqual(again, pair)
    }

    func testValidateNamesTheBadSettingWithExpectedAndFound() {
        XCTAssertNoThrow(try AugmentationSettings.book.validate())
        func failure(_ s: AugmentationSettings) -> AugmentationError? {
            do { try s.validate(); return nil } catch { return error as? AugmentationError }
        }
        XCTAssertEqual(failure(AugmentationSettings(rotation: -1))?.setting, "rotation")
        XCTAssertEqual(failure(AugmentationSettings(shear: .nan))?.setting, "shear")
        let zoom = failure(AugmentationSettings(zoom: Interval(1.2, 0.8)))
        XCTAssertEqual(zoom?.setting, "zoom")
        XCTAssertEqual(zoom?.found, "1.2:0.8")
        XCTAssertEqual(failure(AugmentationSettings(brightness: Interval(1.5, 0.5)))?.setting, "brightness")
        XCTAssertEqual(failure(AugmentationSettings(cval: .infinity))?.setting, "cval")
    }
}
