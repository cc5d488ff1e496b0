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
        BLASThreads.set(parallelism.count)
        sgemm(transA: true, m: l.F, n: l.H, k: B, a: ws.x, lda: l.F, b: ws.da, ldb: l.H, c: g + l.w1, ldc: l.H)
        (g + l.b1).update(from: smallGrads.pointer, count: l.total - l.b1)
        inputGradient(dx, B: B)
        return loss
    }

    func inputGradient(_ dx: UnsafeMutablePointer<Float>, B: Int) {
        let l = head.layout
        BLASThreads.set(parallelism.count)
        sgemm(transB: true, m: B, n: l.F, k: l.H, a: workspace.da, lda: l.H, b: head.w1, ldb: l.H, c: dx, ldc: l.F)
    }
}
