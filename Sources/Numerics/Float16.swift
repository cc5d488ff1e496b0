/// IEEE half-precision conversion for cached features. Swift's `Float16` is unavailable on some x86_64
/// toolchains' Foundation-free paths, so the conversion is written out; it rounds to nearest even, keeps
/// subnormals, infinities and NaN.
public enum Half {
    /// float32 → float16 bits, round to nearest even.
    @inline(__always)
    public static func bits(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        let sign = UInt16((x >> 16) & 0x8000)
        let exp = Int((x >> 23) & 0xFF)
        var mant = x & 0x7F_FFFF
        if exp == 0xFF {  // inf / nan
            return sign | 0x7C00 | (mant != 0 ? 0x200 | UInt16(mant >> 13) : 0)
        }
        let e = exp - 127 + 15
        if e >= 0x1F { return sign | 0x7C00 }  // overflow → inf
        if e <= 0 {  // subnormal or zero in half
            if e < -10 { return sign }
            mant |= 0x80_0000
            let shift = UInt32(14 - e)
            var h = mant >> shift
            let rem = mant & ((1 << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            if rem > halfway || (rem == halfway && (h & 1) == 1) { h += 1 }
            return sign | UInt16(h)
        }
        var h = UInt32(e << 10) | (mant >> 13)
        let rem = mant & 0x1FFF
        if rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1) { h += 1 }  // may carry into exponent: correct
        return sign | UInt16(h)
    }

    /// float16 bits → float32 (exact).
    @inline(__always)
    public static func float(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = UInt32((h >> 10) & 0x1F)
        let mant = UInt32(h & 0x3FF)
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            // subnormal: mant · 2^-24
            let v = Float(mant) * (1.0 / 16_777_216.0)
            return sign != 0 ? -v : v
        }
        if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    }

    /// Converts `count` floats to half bits.
    public static func encode(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { dst[i] = bits(src[i]) }
    }

    /// Every half value as a float, indexed by its bits (256 KB): decoding a batch of cached features is then
    /// one load per value, several times faster than the branchy conversion, and exact by construction.
    public static let table: [Float] = (0...0xFFFF).map { float(UInt16($0)) }

    /// Converts `count` half bits to floats.
    public static func decode(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        table.withUnsafeBufferPointer { t in
            for i in 0..<count { dst[i] = t[Int(src[i])] }
        }
    }

    /// Converts `count` little-endian half values starting at byte `offset` of `bytes` (no alignment needed).
    public static func decode(_ bytes: UnsafeRawBufferPointer, offset: Int, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        table.withUnsafeBufferPointer { t in
            for i in 0..<count {
                dst[i] = t[Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 2 * i, as: UInt16.self)))]
            }
        }
    }
}
