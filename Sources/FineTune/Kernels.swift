import Extract
import Foundation
import Numerics

// The kernels mixed7 needs to train, one plain function per op in the style of llm.c (and of HeadTrain's
// Kernels.swift): outputs first, then inputs, then explicit sizes; a layout comment per buffer; forward and
// backward side by side; no allocation (scratch buffers are the caller's, sized as the comments say).
// All tensors are NHWC float32, row-major: B = batch, H×W = spatial size (7×7 at a 150 input), C = input
// channels, OC = output channels, M = B·H·W (the rows of a convolution's GEMM).
//
// Backward kernels *overwrite* their gradient outputs unless a comment says they accumulate.

// MARK: - Convolution, stride 1, padding same, no bias (Keras Conv2D(use_bias=False))

/// TensorFlow's "same" padding at stride 1: k − 1 padding in all, floor((k − 1)/2) before (3 for a 7-tap kernel).
@inline(__always)
func samePaddingBefore(_ k: Int) -> Int { (k - 1) / 2 }

/// The adjoint of Extract's `im2col` at stride 1, padding same (col[M, KH·KW·C]: row m = (b, h, w) holds the
/// receptive field of output pixel (h, w) in (ky, kx, c) order, zeros in the padding):
/// dinp[B,H,W,C] = Σ over the places each input pixel appears in col of dcol (overwritten; padding dropped).
public func col2im(_ dinp: UnsafeMutablePointer<Float>, _ dcol: UnsafePointer<Float>,
                   B: Int, H: Int, W: Int, C: Int, KH: Int, KW: Int) {
    let py = samePaddingBefore(KH), px = samePaddingBefore(KW), K = KH * KW * C
    dinp.update(repeating: 0, count: B * H * W * C)
    for b in 0..<B {
        for h in 0..<H {
            for w in 0..<W {
                var src = dcol + ((b * H + h) * W + w) * K
                for ky in 0..<KH {
                    let y = h + ky - py
                    for kx in 0..<KW {
                        let x = w + kx - px
                        if y >= 0 && y < H && x >= 0 && x < W {
                            let dst = dinp + ((b * H + y) * W + x) * C
                            for c in 0..<C { dst[c] += src[c] }
                        }
                        src += C
                    }
                }
            }
        }
    }
}

/// out[B,H,W,OC] = conv(inp[B,H,W,C], weight[KH,KW,C,OC]), stride 1, padding same:
///     out[M,OC] = col[M, KH·KW·C] · weight[KH·KW·C, OC]
/// with col = im2col(inp), written into `col` (M × KH·KW·C floats) and left there for the backward pass.
/// A 1×1 convolution is a plain GEMM on inp (`col` is not touched and may be nil).
public func conv2d_forward(
    _ out: UnsafeMutablePointer<Float>, _ col: UnsafeMutablePointer<Float>?,
    _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
    B: Int, H: Int, W: Int, C: Int, OC: Int, KH: Int, KW: Int
) {
    let M = B * H * W, K = KH * KW * C
    guard M > 0 else { return }
    var a = inp
    if KH * KW > 1 {
        guard let col else { preconditionFailure("a \(KH)×\(KW) convolution needs an im2col buffer") }
        im2col(col, inp, rows: 0, M, h: H, w: W, stride: C, cin: C, oh: H, ow: W, kh: KH, kw: KW, s: 1,
               padTop: samePaddingBefore(KH), padLeft: samePaddingBefore(KW))
        a = UnsafePointer(col)
    }
    sgemm(m: M, n: OC, k: K, a: a, lda: K, b: weight, ldb: OC, c: out, ldc: OC)
}

/// Given dout[B,H,W,OC] = ∂L/∂out, with `col` as `conv2d_forward` left it (or inp itself for a 1×1):
///     dweight[KH·KW·C, OC] = colᵀ · dout                          (overwritten)
///     dinp[B,H,W,C] = col2im(dcol),  dcol[M, KH·KW·C] = dout · weightᵀ   (overwritten; skipped when dinp is nil)
/// For a 1×1 convolution dinp = dout · weightᵀ directly and `dcol` is not touched (may be nil).
public func conv2d_backward(
    _ dinp: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>, _ dcol: UnsafeMutablePointer<Float>?,
    _ dout: UnsafePointer<Float>, _ col: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
    B: Int, H: Int, W: Int, C: Int, OC: Int, KH: Int, KW: Int
) {
    let M = B * H * W, K = KH * KW * C
    sgemm(transA: true, m: K, n: OC, k: M, a: col, lda: K, b: dout, ldb: OC, c: dweight, ldc: OC)
    guard let dinp, M > 0 else { return }
    if KH * KW == 1 {
        sgemm(transB: true, m: M, n: C, k: OC, a: dout, lda: OC, b: weight, ldb: OC, c: dinp, ldc: C)
        return
    }
    guard let dcol else { preconditionFailure("a \(KH)×\(KW) convolution's input gradient needs a dcol buffer") }
    sgemm(transB: true, m: M, n: K, k: OC, a: dout, lda: OC, b: weight, ldb: OC, c: dcol, ldc: K)
    col2im(dinp, dcol, B: B, H: H, W: W, C: C, KH: KH, KW: KW)
}

// MARK: - BatchNormalization in inference mode (no gamma) + ReLU

/// Keras BatchNormalization epsilon in `conv2d_bn`.
public let batchNormEpsilon: Float = 1e-3

/// scale[C] = 1/√(variance + ε) (frozen), as Extract's Network folds it; recomputed only when the statistics
/// change, which in fine-tuning they never do.
public func batchnorm_scale(_ scale: UnsafeMutablePointer<Float>, _ variance: UnsafePointer<Float>, C: Int) {
    for c in 0..<C { scale[c] = 1 / (variance[c] + batchNormEpsilon).squareRoot() }
}

/// shift[C] = beta − mean·scale: with it y = z·scale + shift is tf.nn.batch_normalization's
/// x·inv + (offset − mean·inv). Recomputed before every forward, since beta trains.
public func batchnorm_shift(_ shift: UnsafeMutablePointer<Float>, _ beta: UnsafePointer<Float>,
                            _ mean: UnsafePointer<Float>, _ scale: UnsafePointer<Float>, C: Int) {
    for c in 0..<C { shift[c] = beta[c] - mean[c] * scale[c] }
}

/// y[M,C] = max(0, z·scale[c] + shift[c])  (= max(0, (z − mean)·s + beta)). y may alias z.
public func batchnorm_relu_forward(_ y: UnsafeMutablePointer<Float>, _ z: UnsafePointer<Float>,
                                   _ scale: UnsafePointer<Float>, _ shift: UnsafePointer<Float>, M: Int, C: Int) {
    for m in 0..<M {
        let zr = z + m * C, yr = y + m * C
        for c in 0..<C {
            let t = zr[c] * scale[c] + shift[c]
            yr[c] = t > 0 ? t : 0
        }
    }
}

/// Given dy[M,C] = ∂L/∂y and the forward's output y (y > 0 exactly where the pre-activation was > 0; ReLU's
/// gradient is 0 at 0, as TensorFlow's ReluGrad):
///     dbeta[C] = Σ_m dy·[y > 0]        (overwritten)
///     dz[M,C]  = dy·[y > 0]·scale      (dz may alias dy)
public func batchnorm_relu_backward(_ dz: UnsafeMutablePointer<Float>, _ dbeta: UnsafeMutablePointer<Float>,
                                    _ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                                    _ scale: UnsafePointer<Float>, M: Int, C: Int) {
    dbeta.update(repeating: 0, count: C)
    for m in 0..<M {
        let dyr = dy + m * C, yr = y + m * C, dzr = dz + m * C
        for c in 0..<C {
            let g = yr[c] > 0 ? dyr[c] : 0
            dbeta[c] += g
            dzr[c] = g * scale[c]
        }
    }
}

// MARK: - AveragePooling2D 3×3, stride 1, padding same

/// The adjoint of Extract's `avgpool3x3same_forward` (the mean over each 3×3 window's in-bounds cells, as
/// TensorFlow's AvgPool with SAME padding divides by that count, not by 9):
/// dinp[B,H,W,C] = Σ over the windows containing each pixel of dout/count(window)  (overwritten).
public func avgpool3x3_same_backward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                     B: Int, H: Int, W: Int, C: Int) {
    dinp.update(repeating: 0, count: B * H * W * C)
    for b in 0..<B {
        for h in 0..<H {
            let y0 = max(h - 1, 0), y1 = min(h + 1, H - 1)
            for w in 0..<W {
                let x0 = max(w - 1, 0), x1 = min(w + 1, W - 1)
                let inv = 1 / Float((y1 - y0 + 1) * (x1 - x0 + 1))
                let g = dout + ((b * H + h) * W + w) * C
                for y in y0...y1 {
                    for x in x0...x1 {
                        let d = dinp + ((b * H + y) * W + x) * C
                        for c in 0..<C { d[c] += g[c] * inv }
                    }
                }
            }
        }
    }
}

// MARK: - Concatenation along channels

/// out[M, OC][:, offset ..< offset + C] = inp[M, C]: one branch into its channel slice of the block output.
public func concat_forward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                           M: Int, C: Int, offset: Int, OC: Int) {
    for m in 0..<M { (out + m * OC + offset).update(from: inp + m * C, count: C) }
}

/// dinp[M, C] = dout[M, OC][:, offset ..< offset + C]  (overwritten).
public func concat_backward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                            M: Int, C: Int, offset: Int, OC: Int) {
    for m in 0..<M { (dinp + m * C).update(from: dout + m * OC + offset, count: C) }
}

// MARK: - SGD with momentum (Keras 3, not Nesterov)

/// Keras 3 `SGD.update_step` with momentum > 0 and nesterov False, the momentum buffer initialised to zeros:
///     m ← momentum·m − lr·g
///     w ← w + m
/// (RMSprop is HeadTrain's `rmsprop_update`, shared with the head.)
public func sgd_momentum_update(_ w: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                                _ g: UnsafePointer<Float>, N: Int, lr: Float, momentum: Float) {
    for i in 0..<N {
        let mi = momentum * m[i] - lr * g[i]
        m[i] = mi
        w[i] += mi
    }
}
