import Extract
import FineTune
import Foundation
import Numerics
import XCTest

/// Each kernel against central finite differences of a float64 scalar Σ r·f (small shapes, every entry), and the
/// forward passes against plain definitions.
final class KernelTests: XCTestCase {
    // A spatial size smaller than the 7-tap kernels on one axis, so padding shows on both sides.
    let B = 2, H = 5, W = 4, C = 3, OC = 4

    /// out[b,h,w,o] = Σ_{ky,kx,c} inp[b, h+ky−py, w+kx−px, c]·weight[ky,kx,c,o], zero outside: the definition.
    func directConvolution(_ x: [Float], _ w: [Float], KH: Int, KW: Int) -> [Float] {
        var out = [Float](repeating: 0, count: B * H * W * OC)
        let py = (KH - 1) / 2, px = (KW - 1) / 2
        for b in 0..<B { for h in 0..<H { for x0 in 0..<W { for o in 0..<OC {
            var s: Float = 0
            for ky in 0..<KH { for kx in 0..<KW {
                let y = h + ky - py, xx = x0 + kx - px
                guard y >= 0, y < H, xx >= 0, xx < W else { continue }
                for c in 0..<C { s += x[((b * H + y) * W + xx) * C + c] * w[((ky * KW + kx) * C + c) * OC + o] }
            } }
            out[((b * H + h) * W + x0) * OC + o] = s
        } } } }
        return out
    }

    func convolve(_ x: [Float], _ w: [Float], KH: Int, KW: Int) -> [Float] {
        var out = [Float](repeating: 0, count: B * H * W * OC)
        var col = [Float](repeating: 0, count: B * H * W * KH * KW * C)
        conv2d_forward(&out, &col, x, w, B: B, H: H, W: W, C: C, OC: OC, KH: KH, KW: KW)
        return out
    }

    func testConvolutionForwardEqualsTheDefinitionFor1x1And1x7And7x1() {
        for (kh, kw) in [(1, 1), (1, 7), (7, 1), (3, 3)] {
            let x = uniforms(B * H * W * C, seed: 1), w = uniforms(kh * kw * C * OC, seed: 2)
            let got = convolve(x, w, KH: kh, KW: kw), want = directConvolution(x, w, KH: kh, KW: kw)
            for i in got.indices { XCTAssertEqual(got[i], want[i], accuracy: 1e-5, "\(kh)×\(kw) output \(i)") }
        }
    }

    func testConvolutionGradientsMatchFiniteDifferences() {
        for (kh, kw) in [(1, 1), (1, 7), (7, 1)] {
            var x = uniforms(B * H * W * C, seed: 3), w = uniforms(kh * kw * C * OC, seed: 4)
            let r = uniforms(B * H * W * OC, seed: 5)
            var col = [Float](repeating: 0, count: B * H * W * kh * kw * C)
            var out = [Float](repeating: 0, count: B * H * W * OC)
            conv2d_forward(&out, &col, x, w, B: B, H: H, W: W, C: C, OC: OC, KH: kh, KW: kw)
            var dw = [Float](repeating: .nan, count: w.count), dx = [Float](repeating: .nan, count: x.count)
            var dcol = [Float](repeating: 0, count: col.count)
            let colOrInput = kh * kw == 1 ? x : col
            conv2d_backward(&dx, &dw, &dcol, r, colOrInput, w, B: B, H: H, W: W, C: C, OC: OC, KH: kh, KW: kw)
            let xs = x, ws = w
            assertGradientsMatch(dw, &w, eps: 0.05, "\(kh)×\(kw) dweight") { dot(self.convolve(xs, $0, KH: kh, KW: kw), r) }
            assertGradientsMatch(dx, &x, eps: 0.05, "\(kh)×\(kw) dinput") { dot(self.convolve($0, ws, KH: kh, KW: kw), r) }
        }
    }

    /// Pre-activations kept at least 0.05 away from ReLU's kink, so a step of 0.01 never crosses it (and the loss is
    /// linear in the step).
    func batchNormInputs() -> (z: [Float], mean: [Float], variance: [Float], beta: [Float]) {
        let M = B * H * W
        let mean = uniforms(OC, seed: 10, -0.5, 0.5), variance = uniforms(OC, seed: 11, 0.2, 2), beta = uniforms(OC, seed: 12, -0.3, 0.3)
        var z = uniforms(M * OC, seed: 13, -2, 2)
        for m in 0..<M { for c in 0..<OC {
            let s = 1 / (variance[c] + 1e-3).squareRoot()
            let t = (z[m * OC + c] - mean[c]) * s + beta[c]
            if abs(t) < 0.05 { z[m * OC + c] += 0.2 / s }
        } }
        return (z, mean, variance, beta)
    }

    func batchNormReLU(_ z: [Float], _ mean: [Float], _ variance: [Float], _ beta: [Float]) -> [Float] {
        var scale = [Float](repeating: 0, count: OC), shift = scale, y = z
        batchnorm_scale(&scale, variance, C: OC)
        batchnorm_shift(&shift, beta, mean, scale, C: OC)
        batchnorm_relu_forward(&y, z, scale, shift, M: B * H * W, C: OC)
        return y
    }

    func testBatchNormReLUForwardIsMaxOfZeroAndNormalisedPlusBeta() {
        let (z, mean, variance, beta) = batchNormInputs()
        let y = batchNormReLU(z, mean, variance, beta)
        for i in z.indices {
            let c = i % OC
            let want = max(0, (z[i] - mean[c]) / (variance[c] + 1e-3).squareRoot() + beta[c])
            XCTAssertEqual(y[i], want, accuracy: 1e-5, "output \(i)")
        }
    }

    func testBatchNormReLUGradientsMatchFiniteDifferences() {
        var (z, mean, variance, beta) = batchNormInputs()
        let r = uniforms(z.count, seed: 14)
        let y = batchNormReLU(z, mean, variance, beta)
        var scale = [Float](repeating: 0, count: OC)
        batchnorm_scale(&scale, variance, C: OC)
        var dz = [Float](repeating: .nan, count: z.count), dbeta = [Float](repeating: .nan, count: OC)
        batchnorm_relu_backward(&dz, &dbeta, r, y, scale, M: B * H * W, C: OC)
        let zs = z, betas = beta
        assertGradientsMatch(dbeta, &beta, eps: 0.01, "dbeta") { dot(self.batchNormReLU(zs, mean, variance, $0), r) }
        assertGradientsMatch(dz, &z, eps: 0.01, "dz") { dot(self.batchNormReLU($0, mean, variance, betas), r) }
    }

    func pool(_ x: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        avgpool3x3same_forward(&out, outStride: C, x, inStride: C, c: C, h: H, w: W, bias: nil, lines: 0, B * H)
        return out
    }

    func testAveragePoolDividesByTheInBoundsCountAsTensorFlow() {
        let x = uniforms(B * H * W * C, seed: 20)
        let y = pool(x)
        func at(_ b: Int, _ h: Int, _ w: Int, _ c: Int) -> Float { x[((b * H + h) * W + w) * C + c] }
        // Corner (0,0): a 2×2 window; edge (0,1): 2×3; inside (2,1): 3×3.
        let corner = (at(1, 0, 0, 2) + at(1, 0, 1, 2) + at(1, 1, 0, 2) + at(1, 1, 1, 2)) / 4
        XCTAssertEqual(y[((1 * H + 0) * W + 0) * C + 2], corner, accuracy: 1e-6)
        var edge: Float = 0
        for h in 0...1 { for w in 0...2 { edge += at(0, h, w, 1) } }
        XCTAssertEqual(y[(0 * W + 1) * C + 1], edge / 6, accuracy: 1e-6)
        var inside: Float = 0
        for h in 1...3 { for w in 0...2 { inside += at(0, h, w, 0) } }
        XCTAssertEqual(y[(2 * W + 1) * C + 0], inside / 9, accuracy: 1e-6)
    }

    func testAveragePoolGradientMatchesFiniteDifferences() {
        var x = uniforms(B * H * W * C, seed: 21)
        let r = uniforms(x.count, seed: 22)
        var dx = [Float](repeating: .nan, count: x.count)
        avgpool3x3_same_backward(&dx, r, B: B, H: H, W: W, C: C)
        assertGradientsMatch(dx, &x, eps: 0.05, "avgpool dinput") { dot(self.pool($0), r) }
    }

    func testConcatenationBackwardIsTheAdjointOfItsForward() {
        let M = 6, C = 3, OC = 8, offset = 2
        let x = uniforms(M * C, seed: 30), r = uniforms(M * OC, seed: 31)
        var out = [Float](repeating: 0, count: M * OC), dx = [Float](repeating: .nan, count: M * C)
        concat_forward(&out, x, M: M, C: C, offset: offset, OC: OC)
        concat_backward(&dx, r, M: M, C: C, offset: offset, OC: OC)
        for m in 0..<M { for c in 0..<C {
            XCTAssertEqual(out[m * OC + offset + c], x[m * C + c])
            XCTAssertEqual(dx[m * C + c], r[m * OC + offset + c])
        } }
        XCTAssertEqual(dot(out, r), dot(x, dx), accuracy: 1e-9)
    }

    func testSGDMomentumUpdatesAsKeras3() {
        // Keras 3 SGD(learning_rate=0.1, momentum=0.9): m = 0.9·m − 0.1·g; w = w + m.
        var w: [Float] = [1, -2], m: [Float] = [0, 0]
        sgd_momentum_update(&w, &m, [0.5, -1], N: 2, lr: 0.1, momentum: 0.9)
        XCTAssertEqual(m, [-0.05, 0.1])
        XCTAssertEqual(w, [0.95, -1.9])
        sgd_momentum_update(&w, &m, [0.5, -1], N: 2, lr: 0.1, momentum: 0.9)
        XCTAssertEqual(m[0], 0.9 * -0.05 - 0.1 * 0.5)
        XCTAssertEqual(w[0], 0.95 + m[0])
        XCTAssertEqual(m[1], 0.9 * 0.1 + 0.1)
        XCTAssertEqual(w[1], -1.9 + m[1])
    }
}
