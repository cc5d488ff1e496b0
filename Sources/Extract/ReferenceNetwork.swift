import Numerics

/// InceptionV3 run the plain way, node by node as Keras runs it: convolution (im2col + GEMM, no folding), then
/// BatchNorm `x·s + (β − μ·s)` with s = 1/√(σ² + ε), then ReLU, every tensor in its own buffer, concatenation by
/// copying. No fusion, no views, no reordering: it is the yardstick `Network` is tested against, and the
/// calibration pass of `SeededWeights` (which sets each BatchNorm from the statistics of its own input).
public enum ReferenceNetwork {
    /// Per-channel statistics of a convolution's output over (N, H, W), before its BatchNorm.
    public struct ChannelStatistics {
        public var mean: [Double]
        public var variance: [Double]  // population variance
    }

    /// Runs `batch` images (N, H, W, 3) to `cut`, returning (N, h, w, c) contiguous.
    /// `calibrate`, when given, is called for every convolution in order with the statistics of its output and
    /// returns the BatchNorm parameters to use; otherwise `weights` must hold them.
    /// `float64Sums` computes each convolution by direct loops with float64 sums instead of a float32 GEMM (slow):
    /// the yardstick for the error each fast path adds (`headstart-bench accuracy`).
    public static func forward(
        _ input: [Float], batch: Int, height: Int, width: Int, cut: CutLayer, weights: inout [ConvBNParameters],
        float64Sums: Bool = false,
        calibrate: ((_ convIndex: Int, _ stats: ChannelStatistics) -> (beta: [Float], mean: [Float], variance: [Float]))? = nil
    ) -> [Float] {
        let g = inceptionV3Graph(height: height, width: width, cut: cut)
        var values = [[Float]?](repeating: nil, count: g.tensors.count)
        values[0] = input
        for node in g.nodes {
            switch node {
            case let .conv(c):
                let x = g.tensors[c.input], y = g.tensors[c.output]
                let rows = batch * y.h * y.w
                let k = c.kh * c.kw * c.cin
                var out = [Float](repeating: 0, count: rows * c.cout)
                if float64Sums {
                    let zeros = [Float](repeating: 0, count: c.cout)
                    conv2d_reference_forward(&out, values[c.input]!, weights[c.index].kernel, zeros, n: batch, h: x.h, w: x.w,
                                             cin: c.cin, cout: c.cout, kh: c.kh, kw: c.kw, stride: c.stride,
                                             padTop: c.padTop, padLeft: c.padLeft, oh: y.h, ow: y.w, relu: false)
                } else {
                    var col = [Float](repeating: 0, count: rows * k)
                    values[c.input]!.withUnsafeBufferPointer { inp in
                        col.withUnsafeMutableBufferPointer { colp in
                            im2col(colp.baseAddress!, inp.baseAddress!, rows: 0, rows, h: x.h, w: x.w, stride: x.c,
                                   cin: c.cin, oh: y.h, ow: y.w, kh: c.kh, kw: c.kw, s: c.stride,
                                   padTop: c.padTop, padLeft: c.padLeft)
                        }
                    }
                    weights[c.index].kernel.withUnsafeBufferPointer { kp in
                        sgemm(m: rows, n: c.cout, k: k, a: col, lda: k, b: kp.baseAddress!, ldb: c.cout, c: &out, ldc: c.cout)
                    }
                }
                if let calibrate {
                    let stats = channelStatistics(out, rows: rows, channels: c.cout)
                    let bn = calibrate(c.index, stats)
                    weights[c.index].beta = bn.beta
                    weights[c.index].movingMean = bn.mean
                    weights[c.index].movingVariance = bn.variance
                }
                let u = weights[c.index]
                for j in 0..<c.cout {
                    let s = 1 / (u.movingVariance[j] + batchNormEpsilon).squareRoot()
                    let shift = u.beta[j] - u.movingMean[j] * s
                    for r in 0..<rows { out[r * c.cout + j] = max(out[r * c.cout + j] * s + shift, 0) }
                }
                values[c.output] = out
            case let .maxPool(input, output):
                let x = g.tensors[input], y = g.tensors[output]
                var out = [Float](repeating: 0, count: batch * y.h * y.w * y.c)
                values[input]!.withUnsafeBufferPointer { inp in
                    maxpool3x3s2_forward(&out, outStride: y.c, inp.baseAddress!, inStride: x.c, c: x.c, h: x.h, w: x.w,
                                         oh: y.h, ow: y.w, lines: 0, batch * y.h)
                }
                values[output] = out
            case let .avgPool(input, output):
                let x = g.tensors[input]
                var out = [Float](repeating: 0, count: batch * x.h * x.w * x.c)
                values[input]!.withUnsafeBufferPointer { inp in
                    avgpool3x3same_forward(&out, outStride: x.c, inp.baseAddress!, inStride: x.c, c: x.c, h: x.h,
                                           w: x.w, bias: nil, lines: 0, batch * x.h)
                }
                values[output] = out
            case let .concat(inputs, output, _):
                let y = g.tensors[output]
                let pixels = batch * y.h * y.w
                var out = [Float](repeating: 0, count: pixels * y.c)
                var offset = 0
                for t in inputs {
                    let c = g.tensors[t].c
                    let v = values[t]!
                    for p in 0..<pixels {
                        for j in 0..<c { out[p * y.c + offset + j] = v[p * c + j] }
                    }
                    offset += c
                }
                values[output] = out
            }
        }
        return values[g.output.id]!
    }

    static func channelStatistics(_ x: [Float], rows: Int, channels: Int) -> ChannelStatistics {
        var sum = [Double](repeating: 0, count: channels)
        for r in 0..<rows { for j in 0..<channels { sum[j] += Double(x[r * channels + j]) } }
        let mean = sum.map { $0 / Double(rows) }
        var sq = [Double](repeating: 0, count: channels)
        for r in 0..<rows {
            for j in 0..<channels {
                let d = Double(x[r * channels + j]) - mean[j]
                sq[j] += d * d
            }
        }
        return ChannelStatistics(mean: mean, variance: sq.map { $0 / Double(rows) })
    }
}
