import Numerics
import XCTest

/// Cached float16 features are decoded through a lookup table; it must equal the conversion for every value.
final class HalfTableTests: XCTestCase {
    func testTheTableEqualsTheConversionForAll65536Values() {
        for h in 0...0xFFFF {
            XCTAssertEqual(Half.table[h].bitPattern, Half.float(UInt16(h)).bitPattern, String(format: "half 0x%04x", h))
        }
    }

    func testUnalignedDecodingReadsLittleEndianValues() {
        let values: [Float] = [0, -0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08]
        var bytes: [UInt8] = [0xAA]  // one byte of padding: the halves start unaligned
        for v in values { let b = Half.bits(v); bytes += [UInt8(b & 0xFF), UInt8(b >> 8)] }
        var out = [Float](repeating: .nan, count: values.count)
        bytes.withUnsafeBytes { Half.decode($0, offset: 1, &out, count: values.count) }
        XCTAssertEqual(out.map(\.bitPattern), values.map(\.bitPattern))
    }
}
