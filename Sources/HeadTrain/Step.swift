import CKernels
import Dispatch
import Foundation
import Numerics

/// Activations for up to `maxBatch` samples, allocated once (B = maxBatch, H = hidden, O = outputs):
///     x[B,F]  xNext[B,F] (the next batch, while a fused step prepares its hidden pre-activations)  hpre[B,H]  a1[B,H]  mask[B,H]  a1d[B,H]  logits[B,O]  probs[B,O]  losses[B]  labels[B]
///     dlogits[B,O]  da[B,H] (∂L/∂a1d, then in place ∂L/∂a1 and ∂L/∂hpre)
/// With dropout 0, a1d aliases a1 and mask is unused. `inputBuffers` says which of x and xNext have storage: 2
/// both (training), 1 only x (xNext aliases it: inference), 0 neither (the caller points x at its own B×F buffer
/// before each forward, as a group of heads sharing one batch does).
public final class Workspace {
    public let config: HeadConfig
    public let maxBatch: Int
    let storage: AlignedFloats
    public internal(set) var x, xNext: UnsafeMutablePointer<Float>
    public let hpre, a1, mask, a1d, logits, probs, losses, dlogits, da: UnsafeMutablePointer<Float>
    public let labels: UnsafeMutablePointer<Int32>

    public init(config: HeadConfig, maxBatch: Int, inputBuffers: Int = 2) {
        precondition((0...2).contains(inputBuffers), "a workspace has 0, 1 or 2 input buffers")
        self.config = config
        self.maxBatch = maxBatch
        let B = maxBatch, F = config.featureCount, H = config.hidden, O = config.outputs
        func up(_ n: Int) -> Int { (n + 15) & ~15 }
        let input = inputBuffers >= 1 ? B * F : 1, next = inputBuffers == 2 ? B * F : 0
        let sizes = [input, B * H, B * H, B * H, B * H, B * O, B * O, B, B * O, B * H, B, next].map(up)
        storage = AlignedFloats(count: sizes.reduce(0, +))
        var p = storage.pointer
        var ptrs: [UnsafeMutablePointer<Float>] = []
        for s in sizes { ptrs.append(p); p += s }
        x = ptrs[0]; hpre = ptrs[1]; a1 = ptrs[2]; mask = ptrs[3]
        a1d = config.dropout > 0 ? ptrs[4] : ptrs[2]
        logits = ptrs[5]; probs = ptrs[6]; losses = ptrs[7]; dlogits = ptrs[8]; da = ptrs[9]
        labels = UnsafeMutableRawPointer(ptrs[10]).bindMemory(to: Int32.self, capacity: B)
        xNext = inputBuffers == 2 ? ptrs[11] : ptrs[0]
    }

    /// The next batch becomes the current one.
    func swapBatches() { swap(&x, &xNext) }
}

/// Which GEMMs run the first layer (the two passes over w1 that are nearly all of a step).
public enum HeadBackend: Equatable, Sendable {
    /// headstart's kernels (`CKernels`): the update computes each gradient tile in registers and applies RMSprop
    /// from them, and feeds the next batch's forward from the updated tile while it is in cache.
    case kernels(InstructionSet)
    /// OpenBLAS sgemm on tiles, the gradient tile through an L2 buffer (the plain fused step).
    case openBLAS

    /// headstart's kernels on the instruction set HEADSTART_ISA names (else the CPU's widest).
    public static var preferred: HeadBackend { .kernels((try? InstructionSet.fromEnvironment()) ?? .detected) }
}

/// How the two big passes over w1 use the cores.
public enum Parallelism: Equatable, Sendable {
    /// Our own threads over disjoint slices of w1, each calling a single-threaded OpenBLAS.
    case threads(Int)
    /// One OpenBLAS call with OpenBLAS's own threads for the forward GEMM; the fused update still splits its
    /// row tiles over `n` of our threads (the tile GEMMs are too small for OpenBLAS threading to pay).
    case openBLAS(Int)

    var count: Int { switch self { case .threads(let n), .openBLAS(let n): return max(1, n) } }
}

/// RMSprop hyper-parameters (Keras 3 defaults except the learning rate, whose Keras default is 1e-3; the book
/// and headstart use 1e-4).
public struct RMSpropConfig: Equatable, Sendable {
    public var learningRate = Float(Recipe.book.learningRate)
    public var rho: Double = 0.9
    public var epsilon: Double = 1e-7
    public init(learningRate: Float = Float(Recipe.book.learningRate), rho: Double = 0.9, epsilon: Double = 1e-7) {
        self.learningRate = learningRate; self.rho = rho; self.epsilon = epsilon
    }
    // Keras casts each Python float to float32 at use: rho, 1 − rho (computed in Double), epsilon.
    var rho32: Float { Float(rho) }
    var oneMinusRho32: Float { Float(1 - rho) }
    var eps32: Float { Float(epsilon) }
}

/// Forward (inference or training) and one optimisation step of the head over a batch in a workspace.
/// The optimiser state (RMSprop velocity, zeros initially, in the parameters' layout) lives here.
public final class HeadStepper {
    public let head: Head
    public let workspace: Workspace
    public var optimizer: RMSpropConfig
    public let parallelism: Parallelism
    public let backend: HeadBackend
    /// Rows of w1 per fused tile: the tile's gradient (rows·H floats) stays in L2 while w and v stream past.
    public let tileRows: Int
    /// Rows of w1 per sgemm in the forward pass (see `firstLayerForward`).
    public var forwardTileRows = 32
    /// The size of the batch in `workspace.x` whose hpre the previous fused step computed, if any.
    var preparedBatch: Int?

    /// [w1 | b1 | w2 | b2] like the parameters; allocated (zeros) by the first update, so inference-only
    /// steppers do not carry the 154 MB state.
    lazy var velocity = AlignedFloats(count: head.layout.total)
    let smallGrads: AlignedFloats        // gradients of b1, w2, b2 at the parameters' offsets minus layout.b1
    var fullGradW1: AlignedFloats?       // only for the reference step: the whole F×H gradient
    let tiles: AlignedFloats             // one tile buffer per thread (OpenBLAS backend)
    let partials: AlignedFloats          // one B×H forward partial sum per thread
    /// The kernels' per-thread scratch (xᵀ and packed w1 of a tile) and ∂L/∂hpre packed once per step.
    let kernelScratch: [UnsafeMutableRawPointer]
    let packedGradient: AlignedFloats

    /// `inputBuffers` as `Workspace`'s: 2 to train (the fused step prepares the next batch), 1 or 0 for inference.
    public init(head: Head, maxBatch: Int, optimizer: RMSpropConfig = RMSpropConfig(),
                parallelism: Parallelism = .threads(2), tileRows: Int = 64, backend: HeadBackend = .preferred,
                inputBuffers: Int = 2) {
        self.head = head
        self.workspace = Workspace(config: head.config, maxBatch: maxBatch, inputBuffers: inputBuffers)
        self.optimizer = optimizer
        self.parallelism = parallelism
        self.backend = backend
        self.tileRows = tileRows
        smallGrads = AlignedFloats(count: head.layout.total - head.layout.b1)
        partials = AlignedFloats(count: parallelism.count * maxBatch * head.layout.H)
        if case let .kernels(isa) = backend {
            tiles = AlignedFloats(count: 0)
            let bytes = hs_head_scratch_bytes(isa.c, Int32(maxBatch), Int32(head.layout.H), Int32(max(tileRows, forwardTileRows)))
            kernelScratch = (0..<parallelism.count).map { _ in UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) }
            packedGradient = AlignedFloats(count: hs_packed_floats(isa.c, Int32(maxBatch), Int32(head.layout.H)))
        } else {
            tiles = AlignedFloats(count: parallelism.count * tileRows * head.layout.H)
            kernelScratch = []
            packedGradient = AlignedFloats(count: 0)
        }
    }

    deinit { for s in kernelScratch { s.deallocate() } }

    /// The kernels' description of a first-layer pass over rows of w1 (pointers the caller completes).
    func headDescriptor(B: Int, partial: UnsafeMutablePointer<Float>, tileRows T: Int) -> hs_head_desc {
        let l = head.layout, o = optimizer
        return hs_head_desc(
            x: workspace.x, ldx: l.F, B: Int32(B), H: Int32(l.H), dh_packed: packedGradient.pointer,
            w1: head.w1, v1: nil, ldw: l.H, lr: o.learningRate, rho: o.rho32, one_minus_rho: o.oneMinusRho32,
            eps: o.eps32, x_next: nil, B_next: 0, partial: partial, tile_rows: Int32(T))
    }

    /// Clears the RMSprop state (a fresh optimiser).
    public func resetOptimizer() {
        velocity.pointer.update(repeating: 0, count: velocity.count)
    }

    var gb1: UnsafeMutablePointer<Float> { smallGrads.pointer }
    var gw2: UnsafeMutablePointer<Float> { smallGrads.pointer + (head.layout.w2 - head.layout.b1) }
    var gb2: UnsafeMutablePointer<Float> { smallGrads.pointer + (head.layout.b2 - head.layout.b1) }

    // MARK: forward

    /// hpre[B,H] = x[B,F]·w1 + b1, on the configured cores.
    /// With our own threads, thread t takes a contiguous range of w1's rows (the F axis) and accumulates
    /// partial[t][B,H] = Σ over tiles of `forwardTileRows` rows of x[:, tile] · w1[tile, :] (sgemm with beta 1
    /// after the first tile); then hpre = Σ_t partial[t] + b1. Small k-tiles keep each w1 slice in cache while
    /// OpenBLAS packs and uses it: measured ~1.5× faster than one sgemm with k = F at B = 20. The summation
    /// order is fixed by F, the thread count and the tile size, so results are deterministic.
    func firstLayerForward(B: Int) {
        let l = head.layout, ws = workspace
        if case let .kernels(isa) = backend, case let .threads(n) = parallelism {
            let parts = splits(l.F, n, align: 1)
            let stride = ws.maxBatch * l.H
            parallelFor(parts.count - 1) { t in
                let partial = partials.pointer + t * stride
                if parts[t] == parts[t + 1] { partial.update(repeating: 0, count: B * l.H); return }
                var d = headDescriptor(B: B, partial: partial, tileRows: forwardTileRows)
                hs_head_forward(isa.c, &d, parts[t], parts[t + 1], 0, kernelScratch[t])
            }
            reducePartials(B: B, threads: parts.count - 1)
            return
        }
        switch parallelism {
        case .openBLAS(let n):
            BLASThreads.set(n)
            dense_forward(ws.hpre, ws.x, head.w1, head.b1, B: B, C: l.F, OC: l.H)
            BLASThreads.set(1)
        case .threads(let n):
            BLASThreads.set(1)
            let parts = splits(l.F, n, align: 1)
            let x = ws.x, w1 = head.w1, H = l.H, F = l.F, T = max(1, forwardTileRows)
            let partialBase = partials.pointer, stride = ws.maxBatch * H
            parallelFor(parts.count - 1) { t in
                let out = partialBase + t * stride
                var r0 = parts[t]
                let end = parts[t + 1]
                if r0 == end { out.update(repeating: 0, count: B * H) }
                var beta: Float = 0
                while r0 < end {
                    let rows = min(T, end - r0)
                    sgemm(m: B, n: H, k: rows, a: x + r0, lda: F, b: w1 + r0 * H, ldb: H, beta: beta, c: out, ldc: H)
                    beta = 1
                    r0 += rows
                }
            }
            reducePartials(B: B, threads: parts.count - 1)
        }
    }

    /// hpre[B,H] = Σ_t partial[t][B,H] + b1 (threads in order, then the bias, as MatMul then BiasAdd).
    func reducePartials(B: Int, threads n: Int) {
        let H = head.layout.H, hpre = workspace.hpre, b1 = head.b1
        let partialBase = partials.pointer, stride = workspace.maxBatch * H
        for b in 0..<B {
            let row = hpre + b * H
            let p0 = partialBase + b * H
            for o in 0..<H { row[o] = p0[o] }
            for t in 1..<max(n, 1) {
                let pt = partialBase + t * stride + b * H
                for o in 0..<H { row[o] += pt[o] }
            }
            for o in 0..<H { row[o] += b1[o] }
        }
    }

    /// Forward over the batch in the workspace (x and, for training, labels filled). With `training`, dropout
    /// masks come from `rng`. Leaves hpre, a1, a1d, logits, probs, losses; returns the mean loss (labels must be
    /// filled) — pass `withLoss: false` to skip the loss when labels are unknown.
    @discardableResult
    public func forward(B: Int, training: Bool, rng: inout SplitMix64, withLoss: Bool = true) -> Float {
        forward(B: B, training: training, rng: &rng, withLoss: withLoss, hiddenReady: false)
    }

    func forward(B: Int, training: Bool, rng: inout SplitMix64, withLoss: Bool, hiddenReady: Bool) -> Float {
        let l = head.layout, ws = workspace, c = head.config
        precondition(B >= 1 && B <= ws.maxBatch, "batch \(B) outside 1...\(ws.maxBatch)")
        if !hiddenReady { firstLayerForward(B: B) }
        preparedBatch = nil
        relu_forward(ws.a1, ws.hpre, N: B * l.H)
        if c.dropout > 0 {
            if training {
                dropout_mask(ws.mask, N: B * l.H, p: c.dropout, rng: &rng)
                dropout_forward(ws.a1d, ws.a1, ws.mask, N: B * l.H)
            } else {
                ws.a1d.update(from: ws.a1, count: B * l.H)
            }
        }
        dense_forward_rowwise(ws.logits, ws.a1d, head.w2, head.b2, B: B, C: l.H, OC: l.O)
        if c.isBinary {
            if withLoss { return sigmoid_bce_forward(ws.probs, ws.losses, ws.logits, ws.labels, B: B) }
            for b in 0..<B { ws.probs[b] = sigmoid(ws.logits[b]) }
        } else {
            if withLoss { return softmax_cce_forward(ws.probs, ws.losses, ws.logits, ws.labels, B: B, C: l.O) }
            // Probabilities only: the loss kernel with label 0 gives the same probabilities.
            for b in 0..<B { ws.labels[b] = 0 }
            softmax_cce_forward(ws.probs, ws.losses, ws.logits, ws.labels, B: B, C: l.O)
        }
        return 0
    }

    /// Correct predictions in the batch as Keras's `acc` counts them: binary, p > 0.5 (strict) predicts 1;
    /// categorical, the first index of the largest probability.
    public func correctCount(B: Int) -> Int { correctCount(from: 0, count: B) }

    /// `correctCount` over samples [first, first + count) of the workspace.
    public func correctCount(from first: Int, count: Int) -> Int {
        let ws = workspace, O = head.layout.O
        var n = 0
        for b in first..<(first + count) {
            if O == 1 {
                if (ws.probs[b] > 0.5 ? 1 : 0) == ws.labels[b] { n += 1 }
            } else if argmax(ws.probs + b * O, O) == Int(ws.labels[b]) { n += 1 }
        }
        return n
    }

    // MARK: backward + update

    /// Backward through everything except w1's gradient; leaves ∂L/∂hpre in `da` and the gradients of b1, w2,
    /// b2 in `smallGrads`. Must run before any parameter changes (it reads w2).
    func backwardToHidden(B: Int) {
        let l = head.layout, ws = workspace, c = head.config
        if c.isBinary {
            sigmoid_bce_backward(ws.dlogits, ws.logits, ws.labels, B: B)
        } else {
            softmax_cce_backward(ws.dlogits, ws.probs, ws.labels, B: B, C: l.O)
        }
        dense_backward(ws.da, gw2, gb2, ws.dlogits, ws.a1d, head.w2, B: B, C: l.H, OC: l.O)
        if c.dropout > 0 { dropout_backward(ws.da, ws.da, ws.mask, N: B * l.H) }
        relu_backward(ws.da, ws.da, ws.hpre, N: B * l.H)
        dense_bias_backward(gb1, ws.da, B: B, OC: l.H)
    }

    func updateSmall() {
        let l = head.layout, o = optimizer
        let v = velocity.pointer
        rmsprop_update(head.b1, v + l.b1, gb1, N: l.H, lr: o.learningRate, rho: o.rho32, oneMinusRho: o.oneMinusRho32, eps: o.eps32)
        rmsprop_update(head.w2, v + l.w2, gw2, N: l.H * l.O, lr: o.learningRate, rho: o.rho32, oneMinusRho: o.oneMinusRho32, eps: o.eps32)
        rmsprop_update(head.b2, v + l.b2, gb2, N: l.O, lr: o.learningRate, rho: o.rho32, oneMinusRho: o.oneMinusRho32, eps: o.eps32)
    }

    /// One training step on the batch in the workspace, the fused way: after the small layers, w1's gradient is
    /// computed one tile of `tileRows` rows at a time (tile[r,H] = x[:, r0:r1]ᵀ · ∂L/∂hpre, an sgemm with k = B
    /// into a buffer that stays in L2) and w1, v1 for that tile are updated at once, so each step streams w1 and
    /// v1 through memory once (read + write) instead of writing and re-reading a 154 MB gradient. The rows are
    /// split into one contiguous range per thread.
    ///
    /// With `next` (the size of a batch already in `workspace.xNext`), each freshly updated w1 tile, still in
    /// cache, also feeds the next batch's forward: partial[t] += xNext[:, tile] · w1[tile, :]. That is exactly
    /// the next step's first-layer product with the updated weights, without reading w1 again; the batches
    /// are then swapped and the next `trainStep` starts from the prepared hpre. Returns the batch's mean loss
    /// (before the update).
    @discardableResult
    public func trainStep(B: Int, rng: inout SplitMix64, next: Int? = nil) -> Float {
        let ready = preparedBatch == B
        let loss = forward(B: B, training: true, rng: &rng, withLoss: true, hiddenReady: ready)
        backwardToHidden(B: B)
        updateSmall()
        if let next, case .threads = parallelism {
            precondition(next >= 1 && next <= workspace.maxBatch, "next batch \(next) outside 1...\(workspace.maxBatch)")
            fusedFirstLayerUpdate(B: B, next: next)
            workspace.swapBatches()
            preparedBatch = next
        } else {
            fusedFirstLayerUpdate(B: B, next: nil)
            if next != nil { workspace.swapBatches() }
        }
        return loss
    }

    func fusedFirstLayerUpdate(B: Int, next: Int? = nil) {
        let l = head.layout, o = optimizer, ws = workspace
        let n = parallelism.count
        if case let .kernels(isa) = backend {
            hs_pack_b(isa.c, packedGradient.pointer, ws.da, l.H, 0, Int32(B), Int32(l.H))
            let parts = splits(l.F, n, align: 1)
            let stride = ws.maxBatch * l.H
            let v1 = velocity.pointer + l.w1
            parallelFor(parts.count - 1) { t in
                let partial = partials.pointer + t * stride
                if let next, parts[t] == parts[t + 1] { partial.update(repeating: 0, count: next * l.H) }
                var d = headDescriptor(B: B, partial: partial, tileRows: tileRows)
                d.v1 = v1
                if let next { d.x_next = UnsafePointer(ws.xNext); d.B_next = Int32(next) }
                hs_head_update(isa.c, &d, parts[t], parts[t + 1], 0, kernelScratch[t])
            }
            if let next { reducePartials(B: next, threads: parts.count - 1) }
            return
        }
        BLASThreads.set(1)
        let parts = splits(l.F, n, align: 1)
        let x = ws.x, xNext = ws.xNext, dh = UnsafePointer(ws.da), w1 = head.w1, v1 = velocity.pointer + l.w1
        let tileBase = tiles.pointer, T = tileRows, H = l.H, F = l.F
        let partialBase = partials.pointer, stride = ws.maxBatch * H
        let lr = o.learningRate, rho = o.rho32, omr = o.oneMinusRho32, eps = o.eps32
        parallelFor(parts.count - 1) { t in
            let tile = tileBase + t * T * H
            let partial = partialBase + t * stride
            var r0 = parts[t]
            let end = parts[t + 1]
            if let next, r0 == end { partial.update(repeating: 0, count: next * H) }
            var beta: Float = 0
            while r0 < end {
                let rows = min(T, end - r0)
                sgemm(transA: true, m: rows, n: H, k: B, a: x + r0, lda: F, b: dh, ldb: H, c: tile, ldc: H)
                rmsprop_update(w1 + r0 * H, v1 + r0 * H, tile, N: rows * H, lr: lr, rho: rho, oneMinusRho: omr, eps: eps)
                if let next {
                    sgemm(m: next, n: H, k: rows, a: xNext + r0, lda: F, b: w1 + r0 * H, ldb: H, beta: beta, c: partial, ldc: H)
                    beta = 1
                }
                r0 += rows
            }
        }
        if let next { reducePartials(B: next, threads: parts.count - 1) }
    }

    /// The same step written plainly: the whole F×H gradient of w1 by one sgemm (`dense_backward`), then
    /// RMSprop over it. Kept beside the fused step as its specification; tests hold them together.
    @discardableResult
    public func trainStepReference(B: Int, rng: inout SplitMix64) -> Float {
        let l = head.layout, o = optimizer, ws = workspace
        let loss = forward(B: B, training: true, rng: &rng)
        backwardToHidden(B: B)
        if fullGradW1 == nil { fullGradW1 = AlignedFloats(count: l.F * l.H) }
        let gw1 = fullGradW1!.pointer
        BLASThreads.set(1)
        sgemm(transA: true, m: l.F, n: l.H, k: B, a: ws.x, lda: l.F, b: ws.da, ldb: l.H, c: gw1, ldc: l.H)
        updateSmall()
        rmsprop_update(head.w1, velocity.pointer + l.w1, gw1, N: l.F * l.H, lr: o.learningRate, rho: o.rho32,
                       oneMinusRho: o.oneMinusRho32, eps: o.eps32)
        return loss
    }

    /// The gradients of the mean batch loss for the batch in the workspace, without updating (for tests):
    /// (w1, b1, w2, b2) in Keras layouts. Uses `rng` for dropout exactly as a training step would.
    public func gradients(B: Int, rng: inout SplitMix64) -> (loss: Float, w1: [Float], b1: [Float], w2: [Float], b2: [Float]) {
        let l = head.layout, ws = workspace
        let loss = forward(B: B, training: true, rng: &rng)
        backwardToHidden(B: B)
        var gw1 = [Float](repeating: 0, count: l.F * l.H)
        gw1.withUnsafeMutableBufferPointer {
            sgemm(transA: true, m: l.F, n: l.H, k: B, a: ws.x, lda: l.F, b: ws.da, ldb: l.H, c: $0.baseAddress!, ldc: l.H)
        }
        return (loss, gw1, Array(UnsafeBufferPointer(start: gb1, count: l.H)),
                Array(UnsafeBufferPointer(start: gw2, count: l.H * l.O)), Array(UnsafeBufferPointer(start: gb2, count: l.O)))
    }
}

@inline(__always)
func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> Int {
    var best = 0
    for i in 1..<max(n, 1) where p[i] > p[best] { best = i }
    return best
}

/// n+1 boundaries splitting 0..<total into n nearly equal contiguous parts, inner boundaries rounded to `align`.
func splits(_ total: Int, _ n: Int, align: Int) -> [Int] {
    var b = [0]
    for t in 1..<max(n, 1) {
        let raw = total * t / n
        b.append(min(total, (raw / align) * align))
    }
    b.append(total)
    return b
}


