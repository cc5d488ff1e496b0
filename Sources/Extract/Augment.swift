// Keras `ImageDataGenerator.apply_transform` on one float32 image, operation for operation.
//
// Layout: images are (H, W, C) float32, row-major, `x[(r * W + c) * C + k]`, values on the 0–255 scale
// (Keras augments `img_to_array(load_img(...))`, before `rescale`).
//
// Where Keras applies it (keras/src/legacy/preprocessing/image.py, DirectoryIterator
// `_get_batches_of_transformed_samples`): `load_img(path, target_size=...)` decodes AND resizes, `img_to_array`
// makes float32, then `get_random_transform(x.shape)`, `apply_transform`, `standardize` (rescale). So the
// augmentation runs on the already-resized image; the fixture script checks this with a real
// flow_from_directory iterator.
//
// apply_transform's order: affine (scipy.ndimage.affine_transform, order 1, per channel) → channel shift →
// horizontal flip → vertical flip → brightness (through an 8-bit PIL image).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Augment {
    // MARK: the affine matrix

    /// The 2x2 matrix and offset scipy receives: input (row, col) = A · output (row, col) + offset.
    public struct Affine: Equatable, Sendable {
        public var a00: Double, a01: Double, a10: Double, a11: Double
        public var offset0: Double, offset1: Double
    }

    /// 3x3 product as numpy's `np.dot` computes it for float64 on the reference machine (OpenBLAS dgemm with FMA):
    /// c[i][j] = fma(a[i][2], b[2][j], fma(a[i][1], b[1][j], a[i][0] * b[0][j])). Matching it keeps the
    /// coordinates bit-identical to Keras's (the fixture cases agree exactly).
    static func matmul3(_ a: [Double], _ b: [Double]) -> [Double] {
        var c = [Double](repeating: 0, count: 9)
        for i in 0..<3 {
            for j in 0..<3 {
                var acc = a[i * 3] * b[j]
                acc.addProduct(a[i * 3 + 1], b[3 + j])
                acc.addProduct(a[i * 3 + 2], b[6 + j])
                c[i * 3 + j] = acc
            }
        }
        return c
    }

    /// Keras `apply_affine_transform`'s matrix for an image of `height` x `width`, or nil when Keras builds none
    /// (all parameters neutral: the image is returned unchanged, not resampled).
    ///   M = R(theta) · T(tx, ty) · Sh(shear) · Z(zx, zy)   (each factor only when not neutral)
    ///   R = [[cos, −sin, 0], [sin, cos, 0], [0, 0, 1]], theta in radians = degrees · (π / 180)
    ///   T = [[1, 0, tx], [0, 1, ty], [0, 0, 1]];  Sh = [[1, −sin s, 0], [0, cos s, 0], [0, 0, 1]];  Z = diag(zx, zy, 1)
    ///   M' = [[1, 0, ox], [0, 1, oy], [0, 0, 1]] · M · [[1, 0, −ox], [0, 1, −oy], [0, 0, 1]],
    ///        ox = height / 2 − 0.5, oy = width / 2 − 0.5   (transform_matrix_offset_center(M, h, w))
    ///   then, because col_axis > row_axis, M'' = P M' P with P swapping the first two coordinates. Note that
    ///   the centring used the height for M's first coordinate, which P then sends to the columns: for a
    ///   non-square image Keras's "centre" is (row (w − 1) / 2, col (h − 1) / 2). We reproduce that.
    public static func affine(_ p: TransformParameters, height: Int, width: Int) -> Affine? {
        var m: [Double]? = nil
        func compose(_ f: [Double]) { m = m.map { matmul3($0, f) } ?? f }
        if p.theta != 0 {
            let t = p.theta * (Double.pi / 180)
            compose([cos(t), -sin(t), 0, sin(t), cos(t), 0, 0, 0, 1])
        }
        if p.tx != 0 || p.ty != 0 { compose([1, 0, p.tx, 0, 1, p.ty, 0, 0, 1]) }
        if p.shear != 0 {
            let s = p.shear * (Double.pi / 180)
            compose([1, -sin(s), 0, 0, cos(s), 0, 0, 0, 1])
        }
        if p.zx != 1 || p.zy != 1 { compose([p.zx, 0, 0, 0, p.zy, 0, 0, 0, 1]) }
        guard let core = m else { return nil }
        let ox = Double(height) / 2 - 0.5, oy = Double(width) / 2 - 0.5
        let t = matmul3(matmul3([1, 0, ox, 0, 1, oy, 0, 0, 1], core), [1, 0, -ox, 0, 1, -oy, 0, 0, 1])
        return Affine(a00: t[4], a01: t[3], a10: t[1], a11: t[0], offset0: t[5], offset1: t[2])
    }

    // MARK: scipy.ndimage boundary handling (ni_interpolation.c, scipy 1.17)

    /// map_coordinate: brings a coordinate outside [0, n − 1] back inside for the mode; −1 means "use cval".
    /// `mirror` is scipy's whole-sample symmetric mode, used for the two neighbours of constant and wrap modes.
    enum Boundary { case nearest, reflect, wrap, constant, mirror }

    @inline(__always)
    static func mapCoordinate(_ x0: Double, _ n: Int, _ mode: Boundary) -> Double {
        var x = x0
        if x < 0 {
            switch mode {
            case .mirror:
                if n <= 1 { return 0 }
                let sz2 = 2 * n - 2
                x = Double(sz2 * Int(-x / Double(sz2))) + x
                return x <= Double(1 - n) ? x + Double(sz2) : -x
            case .reflect:
                if n <= 1 { return 0 }
                let sz2 = 2 * n
                if x < Double(-sz2) { x = Double(sz2 * Int(-x / Double(sz2))) + x }
                // scipy: `-1e-15` check so that (−x − 1) never rounds to exactly −1.
                return x < Double(-n) ? x + Double(sz2) : (x > -1e-15 ? 1e-15 : -x) - 1
            case .wrap:
                if n <= 1 { return 0 }
                let sz = n - 1
                return x + Double(sz * (Int(-x / Double(sz)) + 1))
            case .nearest: return 0
            case .constant: return -1
            }
        } else if x > Double(n - 1) {
            switch mode {
            case .mirror:
                if n <= 1 { return 0 }
                let sz2 = 2 * n - 2
                x -= Double(sz2 * Int(x / Double(sz2)))
                return x >= Double(n) ? Double(sz2) - x : x
            case .reflect:
                if n <= 1 { return 0 }
                let sz2 = 2 * n
                x -= Double(sz2 * Int(x / Double(sz2)))
                return x >= Double(n) ? Double(sz2) - x - 1 : x
            case .wrap:
                if n <= 1 { return 0 }
                let sz = n - 1
                return x - Double(sz * Int(x / Double(sz)))
            case .nearest: return Double(n - 1)
            case .constant: return -1
            }
        }
        return x
    }

    /// One axis of order-1 interpolation: the two source indices and their weights, or nil for cval.
    /// scipy: cc = map_coordinate(c) (not for nearest); start = floor(cc); when a neighbour falls outside
    /// [0, n − 1] both are mapped with the spline mode (mirror for constant and wrap, else the mode itself);
    /// weights w0 = 1 − (cc − floor(cc)), w1 = 1 − w0 (get_spline_interpolation_weights).
    @inline(__always)
    static func taps(_ c: Double, _ n: Int, _ mode: Boundary, _ splineMode: Boundary)
        -> (i0: Int, i1: Int, w0: Double, w1: Double)? {
        var cc = c
        if mode != .nearest {
            cc = mapCoordinate(cc, n, mode)
            if !(cc > -1.0) { return nil }
        }
        let f = floor(cc)
        let start = Int(f)
        var i0 = start, i1 = start + 1
        if start < 0 || start + 1 >= n {
            i0 = Int(mapCoordinate(Double(i0), n, splineMode))
            i1 = Int(mapCoordinate(Double(i1), n, splineMode))
        }
        let w0 = 1.0 - (cc - f)
        return (i0, i1, w0, 1.0 - w0)
    }

    // MARK: the steps of apply_transform

    /// out = scipy.ndimage.affine_transform(x, A, offset, order=1, mode=fill, cval=cval) per channel.
    /// For output (r, c): input row = offset0 + r·a00 + c·a01, col = offset1 + r·a10 + c·a11 (in that order of
    /// additions, as NI_GeometricTransform); value = Σ over (row tap i, col tap j), i outer, of
    /// (x[i][j] · wr_i) · wc_j accumulated in double from 0, then stored as float32. `out` must not alias `x`.
    public static func affineForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                     height h: Int, width w: Int, channels ch: Int,
                                     _ m: Affine, fill: FillMode, cval: Double) {
        let mode: Boundary, splineMode: Boundary
        switch fill {
        case .nearest: mode = .nearest; splineMode = .nearest
        case .reflect: mode = .reflect; splineMode = .reflect
        case .wrap: mode = .wrap; splineMode = .mirror
        case .constant: mode = .constant; splineMode = .mirror
        }
        let fillValue = Float(cval)
        for r in 0..<h {
            for c in 0..<w {
                var y = m.offset0
                y += Double(r) * m.a00
                y += Double(c) * m.a01
                var xx = m.offset1
                xx += Double(r) * m.a10
                xx += Double(c) * m.a11
                let o = out + (r * w + c) * ch
                guard let rt = taps(y, h, mode, splineMode), let ct = taps(xx, w, mode, splineMode) else {
                    for k in 0..<ch { o[k] = fillValue }
                    continue
                }
                let p00 = x + (rt.i0 * w + ct.i0) * ch, p01 = x + (rt.i0 * w + ct.i1) * ch
                let p10 = x + (rt.i1 * w + ct.i0) * ch, p11 = x + (rt.i1 * w + ct.i1) * ch
                for k in 0..<ch {
                    var t = 0.0
                    t += Double(p00[k]) * rt.w0 * ct.w0
                    t += Double(p01[k]) * rt.w0 * ct.w1
                    t += Double(p10[k]) * rt.w1 * ct.w0
                    t += Double(p11[k]) * rt.w1 * ct.w1
                    o[k] = Float(t)
                }
            }
        }
    }

    /// apply_channel_shift in place: x = clip(x + Float(intensity), min(x), max(x)), min and max over the whole
    /// image (all channels), in float32 (numpy adds a Python float to a float32 array in float32).
    public static func channelShiftForward(_ x: UnsafeMutablePointer<Float>, count n: Int, intensity: Double) {
        guard n > 0 else { return }
        var lo = x[0], hi = x[0]
        for i in 0..<n { lo = min(lo, x[i]); hi = max(hi, x[i]) }
        let d = Float(intensity)
        for i in 0..<n { x[i] = min(max(x[i] + d, lo), hi) }
    }

    /// flip_axis(x, col) in place: each row reversed.
    public static func flipHorizontalForward(_ x: UnsafeMutablePointer<Float>, height h: Int, width w: Int, channels ch: Int) {
        for r in 0..<h {
            var a = r * w, b = r * w + w - 1
            while a < b {
                for k in 0..<ch { swap(&x[a * ch + k], &x[b * ch + k]) }
                a += 1; b -= 1
            }
        }
    }

    /// flip_axis(x, row) in place: rows in reverse order.
    public static func flipVerticalForward(_ x: UnsafeMutablePointer<Float>, height h: Int, width w: Int, channels ch: Int) {
        let rowLength = w * ch
        var a = 0, b = h - 1
        while a < b {
            for i in 0..<rowLength { swap(&x[a * rowLength + i], &x[b * rowLength + i]) }
            a += 1; b -= 1
        }
    }

    /// apply_brightness_shift(x, brightness, scale=False) in place, through PIL as Keras does:
    ///   lo, hi = min(x), max(x); rescaled = lo < 0 or hi > 255
    ///   to 8 bits: rescaled ? uint8(((x − lo) / (hi − lo)) · 255) : uint8(x)   (float32 math, truncation;
    ///               array_to_img skips the division when hi − lo == 0)
    ///   ImageEnhance.Brightness(f) = Image.blend(black, img, f): v' = (uint8)(float32(f) · float32(v)),
    ///               clipped to 0...255 first when f is outside [0, 1] (libImaging Blend.c, in float)
    ///   back: rescaled ? v' / 255 · (hi − lo) + lo (float32) : v'
    public static func brightnessForward(_ x: UnsafeMutablePointer<Float>, count n: Int, factor: Double) {
        guard n > 0 else { return }
        var lo = x[0], hi = x[0]
        for i in 0..<n { lo = min(lo, x[i]); hi = max(hi, x[i]) }
        let rescaled = lo < 0 || hi > 255
        let range = hi - lo
        let alpha = Float(factor)
        let extrapolate = !(factor >= 0 && factor <= 1)
        for i in 0..<n {
            var v = x[i]
            if rescaled {
                v = v - lo
                if range != 0 { v /= range }
                v *= 255
            }
            let byte = Float(UInt8(truncatingFloat: v))
            var t = Float(0) + alpha * (byte - Float(0))
            if extrapolate { t = t <= 0 ? 0 : t >= 255 ? 255 : t }
            let out = Float(UInt8(truncatingFloat: t))
            x[i] = rescaled ? out / 255 * range + lo : out
        }
    }

    /// Keras `apply_transform(x, parameters)` for `settings.fill` / `settings.cval`: `out` receives the result;
    /// `x` is only read. (H, W, C) float32 as above. Allocates nothing.
    public static func applyTransform(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                      height h: Int, width w: Int, channels ch: Int = 3,
                                      parameters p: TransformParameters, settings: AugmentationSettings) {
        let n = h * w * ch
        if let m = affine(p, height: h, width: w) {
            affineForward(out, x, height: h, width: w, channels: ch, m, fill: settings.fill, cval: settings.cval)
        } else {
            out.update(from: x, count: n)
        }
        if let intensity = p.channelShiftIntensity { channelShiftForward(out, count: n, intensity: intensity) }
        if p.flipHorizontal { flipHorizontalForward(out, height: h, width: w, channels: ch) }
        if p.flipVertical { flipVerticalForward(out, height: h, width: w, channels: ch) }
        if let b = p.brightness { brightnessForward(out, count: n, factor: b) }
    }

    /// Convenience: a fresh array.
    public static func applyTransform(_ x: [Float], height: Int, width: Int, channels: Int = 3,
                                      parameters: TransformParameters, settings: AugmentationSettings) -> [Float] {
        precondition(x.count == height * width * channels,
                     "applyTransform: \(x.count) floats for \(height)x\(width)x\(channels)")
        var out = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                applyTransform(dst.baseAddress!, src.baseAddress!, height: height, width: width, channels: channels,
                               parameters: parameters, settings: settings)
            }
        }
        return out
    }

    // MARK: the pipeline around it

    /// `img_to_array`: the 8-bit image as float32 0–255, (H, W, 3). Writes width·height·3 floats to `out`.
    public static func floats(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        image.pixels.withUnsafeBufferPointer { px in
            for i in 0..<px.count { out[i] = Float(px[i]) }
        }
    }

    public static func floats(_ image: RGBImage) -> [Float] { image.pixels.map { Float($0) } }

    /// `standardize` after augmentation: the preprocessing of a float value, with the same float32 operations
    /// as `PreprocessMode.value` on a byte (so integral values give exactly the table's numbers).
    @inline(__always)
    public static func preprocess(_ v: Float, _ mode: PreprocessMode) -> Float {
        switch mode {
        case .rescale: return v * Float(1.0 / 255.0)
        case .inception: return v / Float(127.5) - Float(1.0)
        }
    }

    /// One training view into slot `slot` of a caller-owned NHWC batch (N, H, W, 3), the Keras
    /// flow_from_directory order: `image` is already resized (load_img's target_size), then img_to_array,
    /// apply_transform, standardize. `scratch` holds at least 2·H·W·3 floats. Allocates nothing.
    public static func writeAugmented(_ image: RGBImage, parameters: TransformParameters,
                                      settings: AugmentationSettings, mode: PreprocessMode,
                                      into batch: UnsafeMutableBufferPointer<Float>, slot: Int,
                                      scratch: UnsafeMutableBufferPointer<Float>) {
        let n = image.width * image.height * 3
        precondition(slot >= 0 && (slot + 1) * n <= batch.count,
                     "batch of \(batch.count) floats has no slot \(slot) for a \(image.height)x\(image.width)x3 image")
        precondition(scratch.count >= 2 * n, "scratch needs \(2 * n) floats, has \(scratch.count)")
        let src = scratch.baseAddress!, tmp = scratch.baseAddress! + n
        floats(image, into: src)
        applyTransform(tmp, src, height: image.height, width: image.width, channels: 3,
                       parameters: parameters, settings: settings)
        let dst = batch.baseAddress! + slot * n
        for i in 0..<n { dst[i] = preprocess(tmp[i], mode) }
    }

    /// A float image back to 8 bits for display: rounded to nearest, clamped to 0...255.
    public static func bytes(_ x: [Float], height: Int, width: Int) -> RGBImage {
        RGBImage(width: width, height: height, pixels: x.map { v in
            v.isNaN ? 0 : UInt8(max(0, min(255, v.rounded(.toNearestOrAwayFromZero))))
        })
    }
}

extension UInt8 {
    /// C's (uint8_t) conversion of a float in [0, 256): truncation toward zero. numpy's astype('uint8') and
    /// PIL's (UINT8) casts do this for in-range values; out-of-range values are clamped here (C leaves them
    /// undefined, and Keras never produces them on these paths).
    @inline(__always)
    init(truncatingFloat v: Float) {
        self = v.isNaN ? 0 : v <= 0 ? 0 : v >= 255 ? 255 : UInt8(v.rounded(.towardZero))
    }
}
