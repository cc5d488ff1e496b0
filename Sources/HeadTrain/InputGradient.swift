import Numerics

/// The head's training step for a trainable layer below it (fine-tuning): the same forward and backward as
/// `trainStep`, plus the gradient of the mean batch loss with respect to the head's input,
///     dx[B,F] = ∂L/∂hpre[B,H] · w1ᵀ        (dense_backward's dinp)
/// computed before any parameter changes, as one Keras `train_step` takes every gradient before applying any.
extension HeadStepper {
    /// One RMSprop step on the batch in the workspace (the fused update of w1, no next batch prepared: the
    /// next batch's input depends on the layer below, which has not been updated yet), writing dx first.
    /// Returns the batch's mean loss (before the update).
    @discardableResult
    public func trainStep(B: Int, rng: inout SplitMix64, inputGradient dx: UnsafeMutablePointer<Float>) -> Float {
        let loss = forward(B: B, training: true, rng: &rng, withLoss: true, hiddenReady: false)
        backwardToHidden(B: B)
        inputGradient(dx, B: B)
        updateSmall()
        fusedFirstLayerUpdate(B: B, next: nil)
        return loss
    }

    /// Forward and backward on the batch in the workspace without updating, for an optimiser other than
    /// RMSprop: the gradients of the mean batch loss in the parameters' layout (`head.layout`; `gradients` holds
    /// layout.total floats, padding left as it is) and dx[B,F]. Returns the batch's mean loss.
    @discardableResult
    public func backward(B: Int, rng: inout SplitMix64, gradients g: UnsafeMutablePointer<Float>,
                         inputGradient dx: UnsafeMutablePointer<Float>) -> Float {
        let l = head.layout, ws = workspace
        let loss = forward(B: B, training: true, rng: &rng, withLoss: true, hiddenReady: false)
        backwardToHidden(B: B)
        BLASThreads.set(1)
        let x = UnsafePointer(ws.x), da = UnsafePointer(ws.da), parts = splits(l.F, parallelism.count, align: 16)
        parallelFor(parts.count - 1) { t in  // each thread's rows of w1's gradient: x[:, rows]ᵀ · da
            let f0 = parts[t], n = parts[t + 1] - f0
            if n > 0 { sgemm(transA: true, m: n, n: l.H, k: B, a: x + f0, lda: l.F, b: da, ldb: l.H, c: g + l.w1 + f0 * l.H, ldc: l.H) }
        }
        (g + l.b1).update(from: smallGrads.pointer, count: l.total - l.b1)
        inputGradient(dx, B: B)
        return loss
    }

    /// dx[B,F] = da[B,H] · w1ᵀ, the F columns split over the stepper's threads (each thread's rows of w1, a
    /// single-threaded sgemm per tile of `tileRows` rows, so that OpenBLAS packs each slice of w1 while it is
    /// in cache, as `firstLayerForward` does).
    func inputGradient(_ dx: UnsafeMutablePointer<Float>, B: Int) {
        let l = head.layout, da = UnsafePointer(workspace.da), w1 = UnsafePointer(head.w1), T = max(1, tileRows)
        BLASThreads.set(1)
        let parts = splits(l.F, parallelism.count, align: 16)
        parallelFor(parts.count - 1) { t in
            var r0 = parts[t]
            while r0 < parts[t + 1] {
                let rows = min(T, parts[t + 1] - r0)
                sgemm(transB: true, m: B, n: rows, k: l.H, a: da, lda: l.H, b: w1 + r0 * l.H, ldb: l.H, c: dx + r0, ldc: l.F)
                r0 += rows
            }
        }
    }
}
