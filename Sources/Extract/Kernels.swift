/// The network's numerical kernels, one plain function per operation (inference only: the base is frozen, so
/// there is no backward pass). Tensors are NHWC float32. A tensor may be a channel slice of a wider buffer:
/// `stride` is the buffer's channel count per pixel and the pointer already points at the slice's first channel,
/// which is how branches write straight into their place in a concatenation.
///
/// Rows: a "row" is one output pixel, flat over (N, OH, OW); a "line" is one output image row, flat over (N, OH).
/// Functions take a row or line range so callers can split work across threads and chunks.

/// Lays out the receptive fields of output rows `r0..<r1` as a matrix, so a convolution becomes one GEMM.
/// col: (r1 − r0, kh·kw·cin) row-major, column index (dy·kw + dx)·cin + ci — the row-major order of a Keras
/// kernel (kh, kw, cin, cout), so the kernel is the GEMM's B matrix as stored. Cells outside the image are 0.
/// inp: (N, H, W, stride) with the cin input channels at the start of each pixel.
@inline(__always)
public func im2col(
    _ col: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, rows r0: Int, _ r1: Int,
    h: Int, w: Int, stride: Int, cin: Int, oh: Int, ow: Int,
    kh: Int, kw: Int, s: Int, padTop: Int, padLeft: Int
) {
    let k = kh * kw * cin
    let rowBytes = cin * MemoryLayout<Float>.stride
    var n = r0 / (oh * ow)
    var oy = (r0 / ow) % oh
    var ox = r0 % ow
    for r in 0..<(r1 - r0) {
        let dstRow = col + r * k
        let image = inp + n * h * w * stride
        for dy in 0..<kh {
            let iy = oy * s - padTop + dy
            let dstY = dstRow + dy * kw * cin
            if iy < 0 || iy >= h {
                dstY.update(repeating: 0, count: kw * cin)
                continue
            }
            for dx in 0..<kw {
                let ix = ox * s - padLeft + dx
                let dst = dstY + dx * cin
                if ix < 0 || ix >= w {
                    dst.update(repeating: 0, count: cin)
                } else {
                    UnsafeMutableRawPointer(dst).copyMemory(
                        from: image + (iy * w + ix) * stride, byteCount: rowBytes)
                }
            }
        }
        ox += 1
        if ox == ow { ox = 0; oy += 1; if oy == oh { oy = 0; n += 1 } }
    }
}

/// The convolution epilogue, in place: out[r, j] = max(0, out[r, j] + bias[j]).
/// out: (rows, ld) with n ≤ ld used columns; bias: (n,) — the folded BatchNorm shift.
@inline(__always)
func bias_relu_forward(_ out: UnsafeMutablePointer<Float>, ld: Int, _ bias: UnsafePointer<Float>, rows: Int, n: Int) {
    for r in 0..<rows {
        let o = out + r * ld
        for j in 0..<n { o[j] = max(o[j] + bias[j], 0) }
    }
}

/// The epilogue writing elsewhere: dst[r, j] = max(0, src[r, j] + bias[j]).
/// dst: (rows, ldd); src: (rows, lds); bias: (n,).
@inline(__always)
func bias_relu_copy(
    _ dst: UnsafeMutablePointer<Float>, ldd: Int, _ src: UnsafePointer<Float>, lds: Int,
    _ bias: UnsafePointer<Float>, rows: Int, n: Int
) {
    for r in 0..<rows {
        let d = dst + r * ldd
        let s = src + r * lds
        for j in 0..<n { d[j] = max(s[j] + bias[j], 0) }
    }
}

/// Max pooling 3×3, stride 2, 'valid', for output lines l0..<l1 (flat over N, OH).
/// out: (N, OH, OW, outStride); inp: (N, H, W, inStride); c channels from each pointer.
public func maxpool3x3s2_forward(
    _ out: UnsafeMutablePointer<Float>, outStride: Int, _ inp: UnsafePointer<Float>, inStride: Int,
    c: Int, h: Int, w: Int, oh: Int, ow: Int, lines l0: Int, _ l1: Int
) {
    for line in l0..<l1 {
        let n = line / oh, oy = line % oh
        for ox in 0..<ow {
            let o = out + ((n * oh + oy) * ow + ox) * outStride
            let base = inp + ((n * h + oy * 2) * w + ox * 2) * inStride
            for j in 0..<c { o[j] = base[j] }
            for dy in 0..<3 {
                for dx in 0..<3 where dy != 0 || dx != 0 {
                    let p = base + (dy * w + dx) * inStride
                    for j in 0..<c { o[j] = max(o[j], p[j]) }
                }
            }
        }
    }
}

/// Average pooling 3×3, stride 1, 'same', dividing by the number of cells inside the image (Keras/TF
/// AveragePooling2D does not count padding), for output lines l0..<l1 (flat over N, H).
/// With `bias`, applies the epilogue max(0, avg + bias[j]) — used when the pool branch's 1×1 convolution was
/// moved before the pooling (both are linear, and the weights of a mean sum to one, so the bias commutes too).
/// out: (N, H, W, outStride); inp: (N, H, W, inStride); c channels.
public func avgpool3x3same_forward(
    _ out: UnsafeMutablePointer<Float>, outStride: Int, _ inp: UnsafePointer<Float>, inStride: Int,
    c: Int, h: Int, w: Int, bias: UnsafePointer<Float>?, lines l0: Int, _ l1: Int
) {
    for line in l0..<l1 {
        let n = line / h, y = line % h
        let y0 = max(y - 1, 0), y1 = min(y + 1, h - 1)
        for x in 0..<w {
            let x0 = max(x - 1, 0), x1 = min(x + 1, w - 1)
            let count = Float((y1 - y0 + 1) * (x1 - x0 + 1))
            let o = out + ((n * h + y) * w + x) * outStride
            for j in 0..<c { o[j] = 0 }
            for iy in y0...y1 {
                for ix in x0...x1 {
                    let p = inp + ((n * h + iy) * w + ix) * inStride
                    for j in 0..<c { o[j] += p[j] }
                }
            }
            if let bias {
                for j in 0..<c { o[j] = max(o[j] / count + bias[j], 0) }
            } else {
                for j in 0..<c { o[j] /= count }
            }
        }
    }
}

/// Reference convolution + bias (the folded BatchNorm) + ReLU by direct loops with float64 sums — slow and
/// plain, the yardstick the kernels are tested against (ConvolutionKernelTests) and the float64 network of
/// `ReferenceNetwork.forward(float64Sums:)`.
/// out: (N, OH, OW, cout); inp: (N, H, W, cin); kernel: (kh, kw, cin, cout); bias: (cout,).
public func conv2d_reference_forward(
    _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ kernel: UnsafePointer<Float>,
    _ bias: UnsafePointer<Float>, n: Int, h: Int, w: Int, cin: Int, cout: Int,
    kh: Int, kw: Int, stride s: Int, padTop: Int, padLeft: Int, oh: Int, ow: Int, relu: Bool = true
) {
    var acc = [Double](repeating: 0, count: cout)
    for b in 0..<n {
        for oy in 0..<oh {
            for ox in 0..<ow {
                for j in 0..<cout { acc[j] = Double(bias[j]) }
                for dy in 0..<kh {
                    let iy = oy * s - padTop + dy
                    if iy < 0 || iy >= h { continue }
                    for dx in 0..<kw {
                        let ix = ox * s - padLeft + dx
                        if ix < 0 || ix >= w { continue }
                        let px = inp + ((b * h + iy) * w + ix) * cin
                        let kk = kernel + (dy * kw + dx) * cin * cout
                        for ci in 0..<cin {
                            let v = Double(px[ci])
                            if v == 0 { continue }
                            let row = kk + ci * cout
                            for j in 0..<cout { acc[j] += v * Double(row[j]) }
                        }
                    }
                }
                let o = out + ((b * oh + oy) * ow + ox) * cout
                for j in 0..<cout { o[j] = Float(relu ? max(acc[j], 0) : acc[j]) }
            }
        }
    }
}
