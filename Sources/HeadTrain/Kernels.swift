import Foundation
import Numerics
#if arch(x86_64) && canImport(_Builtin_intrinsics)
import _Builtin_intrinsics.intel
#endif

// The head's numerical kernels, one plain function per op in the style of llm.c: outputs first, explicit
// sizes, a layout comment, forward and backward side by side, no allocation. All tensors are row-major
// float32. B = rows in the batch, C = input channels, OC = output channels.
//
// Gradients here *overwrite* their outputs (each parameter is used once per step, so nothing accumulates).
// The loss kernels fold in Keras's "sum_over_batch_size" reduction: the gradient of mean loss over the batch.

// MARK: - Dense

/// out[B,OC] = inp[B,C] · weight[C,OC] + bias[OC].
/// `weight` is in Keras's Dense kernel layout (input, output), row-major, so the file's kernel is used as is.
/// The bias is added after the product, as TensorFlow's MatMul followed by BiasAdd rounds.
public func dense_forward(
    _ out: UnsafeMutablePointer<Float>,
    _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
    B: Int, C: Int, OC: Int
) {
    guard B > 0 else { return }
    sgemm(m: B, n: OC, k: C, a: inp, lda: C, b: weight, ldb: OC, c: out, ldc: OC)
    for b in 0..<B {
        let row = out + b * OC
        for o in 0..<OC { row[o] += bias[o] }
    }
}

/// out[B,OC] = inp[B,C] · weight[C,OC] + bias[OC] as `dense_forward`, one row per GEMM, so a row's sums do not
/// depend on how many rows are computed with it (OpenBLAS's small-matrix kernels on AVX-512 hosts choose their
/// summation by the shape): a sample's logits are the same in a batch of 3 and in a validation chunk of 255. For
/// the output layer, where C·OC is small and B calls cost a few microseconds.
public func dense_forward_rowwise(
    _ out: UnsafeMutablePointer<Float>,
    _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
    B: Int, C: Int, OC: Int
) {
    for b in 0..<B { dense_forward(out + b * OC, inp + b * C, weight, bias, B: 1, C: C, OC: OC) }
}

/// Given dout[B,OC] = ∂L/∂out:
///   dweight[C,OC] = inpᵀ · dout,  dbias[OC] = Σ_b dout[b,:],  dinp[B,C] = dout · weightᵀ (skipped when nil:
///   the first layer has no gradient with respect to the frozen features).
public func dense_backward(
    _ dinp: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>, _ dbias: UnsafeMutablePointer<Float>,
    _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
    B: Int, C: Int, OC: Int
) {
    sgemm(transA: true, m: C, n: OC, k: B, a: inp, lda: C, b: dout, ldb: OC, c: dweight, ldc: OC)
    dense_bias_backward(dbias, dout, B: B, OC: OC)
    if let dinp {
        sgemm(transB: true, m: B, n: C, k: OC, a: dout, lda: OC, b: weight, ldb: OC, c: dinp, ldc: C)
    }
}

/// dbias[OC] = Σ_b dout[b,:] (summed in batch order).
public func dense_bias_backward(_ dbias: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, B: Int, OC: Int) {
    for o in 0..<OC { dbias[o] = 0 }
    for b in 0..<B {
        let row = dout + b * OC
        for o in 0..<OC { dbias[o] += row[o] }
    }
}

// MARK: - ReLU

/// out[N] = max(inp, 0).
public func relu_forward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, N: Int) {
    for i in 0..<N { out[i] = inp[i] > 0 ? inp[i] : 0 }
}

/// dinp[N] = dout where the pre-activation inp > 0, else 0 (TensorFlow's ReluGrad; 0 at exactly 0).
public func relu_backward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>, N: Int) {
    for i in 0..<N { dinp[i] = inp[i] > 0 ? dout[i] : 0 }
}

// MARK: - Dropout (Keras inverted dropout)

/// mask[N] = 1/(1−p) for kept units (uniform u ≥ p, probability 1−p), 0 for dropped ones.
/// Keras scales the kept units in training so that inference needs no rescaling.
public func dropout_mask(_ mask: UnsafeMutablePointer<Float>, N: Int, p: Float, rng: inout SplitMix64) {
    let scale = 1 / (1 - p)
    for i in 0..<N { mask[i] = rng.nextUniform() >= p ? scale : 0 }
}

/// out[N] = inp · mask (training only; at inference dropout is the identity).
public func dropout_forward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ mask: UnsafePointer<Float>, N: Int) {
    for i in 0..<N { out[i] = inp[i] * mask[i] }
}

/// dinp[N] = dout · mask.
public func dropout_backward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>, _ mask: UnsafePointer<Float>, N: Int) {
    for i in 0..<N { dinp[i] = dout[i] * mask[i] }
}

// MARK: - Sigmoid + binary cross-entropy (one output unit)

/// probs[B] = sigmoid(logits), losses[B] = BCE computed from the logits, as Keras 3 does for a sigmoid Dense
/// output (the TensorFlow backend's `_get_logits` recovers the logits and calls
/// `tf.nn.sigmoid_cross_entropy_with_logits`):
///     loss = max(z, 0) − z·y + log1p(exp(−|z|))
/// The probability is computed in the form that keeps relative precision for very negative logits
/// (e^z / (1 + e^z) for z < 0), so tiny probabilities such as 5e-24 are reported exactly.
/// `labels[b]` ∈ {0, 1}. Returns the mean loss over the batch (Keras's sum_over_batch_size).
@discardableResult
public func sigmoid_bce_forward(
    _ probs: UnsafeMutablePointer<Float>, _ losses: UnsafeMutablePointer<Float>,
    _ logits: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>, B: Int
) -> Float {
    var sum = 0.0
    for b in 0..<B {
        let z = logits[b]
        let y = Float(labels[b])
        probs[b] = sigmoid(z)
        let l = (z >= 0 ? z : 0) - z * y + log1p(exp(z >= 0 ? -z : z))
        losses[b] = l
        sum += Double(l)
    }
    return B > 0 ? Float(sum / Double(B)) : 0
}

@inline(__always)
func sigmoid(_ z: Float) -> Float {
    if z >= 0 { return 1 / (1 + exp(-z)) }
    let e = exp(z)
    return e / (1 + e)
}

/// dlogits[B] = ∂(mean BCE)/∂z = (σ(z) − y) / B, written as TensorFlow's autodiff of the logits formula
/// composes it: [z ≥ 0] − y ∓ e/(1+e) with e = exp(−|z|), times the upstream 1/B.
public func sigmoid_bce_backward(_ dlogits: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>, B: Int) {
    let g = 1 / Float(B)
    for b in 0..<B {
        let z = logits[b]
        let y = Float(labels[b])
        let e = exp(z >= 0 ? -z : z)
        let q = e / (1 + e)
        dlogits[b] = g * ((z >= 0 ? 1 : 0) - y + (z >= 0 ? -q : q))
    }
}

// MARK: - Softmax + categorical cross-entropy (C outputs)

/// probs[B,C] = softmax(logits), losses[B] = logsumexp(z) − z[label] (Keras 3 recovers the logits of a
/// softmax output and calls `tf.nn.softmax_cross_entropy_with_logits`). Returns the mean loss.
@discardableResult
public func softmax_cce_forward(
    _ probs: UnsafeMutablePointer<Float>, _ losses: UnsafeMutablePointer<Float>,
    _ logits: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>, B: Int, C: Int
) -> Float {
    var sum = 0.0
    for b in 0..<B {
        let z = logits + b * C
        let p = probs + b * C
        var maxv = z[0]
        for c in 1..<max(C, 1) where z[c] > maxv { maxv = z[c] }
        var s: Float = 0
        for c in 0..<C { let e = exp(z[c] - maxv); p[c] = e; s += e }
        for c in 0..<C { p[c] /= s }
        let l = log(s) - (z[Int(labels[b])] - maxv)
        losses[b] = l
        sum += Double(l)
    }
    return B > 0 ? Float(sum / Double(B)) : 0
}

/// dlogits[B,C] = (probs − onehot(label)) / B.
public func softmax_cce_backward(
    _ dlogits: UnsafeMutablePointer<Float>, _ probs: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>, B: Int, C: Int
) {
    let g = 1 / Float(B)
    for b in 0..<B {
        let p = probs + b * C
        let d = dlogits + b * C
        let y = Int(labels[b])
        for c in 0..<C { d[c] = g * (p[c] - (c == y ? 1 : 0)) }
    }
}

// MARK: - RMSprop (Keras 3: rho 0.9, epsilon 1e-7, no momentum, not centred)

/// Keras 3 `RMSprop.update_step`, velocity initialised to zeros:
///     v ← rho·v + (1 − rho)·g²
///     w ← w − (lr·g) / √(v + ε)          (ε inside the square root)
/// `oneMinusRho` is passed in float32 as Keras casts the Python value 1 − rho (0.09999999999999998 → 0.1f).
/// On x86_64 four lanes at a time with SSE sqrtps/divps: Swift's scalar `squareRoot()` becomes a libm
/// `sqrtf` call (errno semantics) that the optimiser cannot vectorise, and that made this loop compute-bound.
/// IEEE square root and division are correctly rounded in every lane, so the results are the scalar ones.
@inline(__always)
public func rmsprop_update(
    _ w: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, N: Int,
    lr: Float, rho: Float, oneMinusRho: Float, eps: Float
) {
    var i = 0
    #if arch(x86_64) && canImport(_Builtin_intrinsics)
    let lrv = _mm_set1_ps(lr), rhov = _mm_set1_ps(rho), omr = _mm_set1_ps(oneMinusRho), epsv = _mm_set1_ps(eps)
    while i + 4 <= N {
        let gi = _mm_loadu_ps(g + i)
        let vi = _mm_add_ps(_mm_mul_ps(rhov, _mm_loadu_ps(v + i)), _mm_mul_ps(omr, _mm_mul_ps(gi, gi)))
        _mm_storeu_ps(v + i, vi)
        let step = _mm_div_ps(_mm_mul_ps(lrv, gi), _mm_sqrt_ps(_mm_add_ps(vi, epsv)))
        _mm_storeu_ps(w + i, _mm_sub_ps(_mm_loadu_ps(w + i), step))
        i += 4
    }
    #endif
    while i < N {
        let gi = g[i]
        let vi = rho * v[i] + oneMinusRho * (gi * gi)
        v[i] = vi
        w[i] -= (lr * gi) / (vi + eps).squareRoot()
        i += 1
    }
}
