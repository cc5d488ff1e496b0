// headstart-bench step and epoch-synthetic: the head at the book's size (37,632 features, hidden 1,024) on
// random features held in memory, so they need no cache. They were XCTest cases that asserted nothing.
import Dispatch
import Foundation
import HeadTrain
import Numerics

/// The book's first layer: 7 × 7 × 768 mixed7 features into 1,024 hidden units.
let bookFeatures = 37_632, bookHidden = 1024

/// The best of `reps` runs after one warm-up, in seconds (the minimum: the machine is shared).
func bestSeconds(_ reps: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<reps { let t0 = now(); body(); best = min(best, now() - t0) }
    return best
}

/// Runs body(0..<n) on n threads.
func onThreads(_ n: Int, _ body: (Int) -> Void) { DispatchQueue.concurrentPerform(iterations: n, execute: body) }

/// One training step's parts at batch `batch` on two threads, then the memory-bandwidth floor of its update and
/// the sgemm formulations of the forward pass.
func benchStep(batch B: Int) throws {
    let F = bookFeatures, H = bookHidden
    let head = try Head(config: HeadConfig(featureCount: F, hidden: H), seed: 1)
    let s = HeadStepper(head: head, maxBatch: B, parallelism: .threads(2), tileRows: 64)
    var rng = SplitMix64(key: 1)
    for i in 0..<(B * F) { s.workspace.x[i] = rng.nextUniform() }
    for b in 0..<B { s.workspace.labels[b] = Int32(b % 2) }
    let forward = bestSeconds(15) { _ = s.forward(B: B, training: true, rng: &rng) }
    let step = bestSeconds(15) { _ = s.trainStep(B: B, rng: &rng) }
    let stepNext = bestSeconds(15) { _ = s.trainStep(B: B, rng: &rng, next: B) }
    print(String(format: "step, batch %d, 2 threads, tile 64: forward (training) %.1f ms, step %.1f ms, step with the next batch's forward fused %.1f ms",
                 B, forward * 1e3, step * 1e3, stepNext * 1e3))
    benchUpdateFloor(F: F, H: H, B: B)
    benchForwardGEMMs(x: s.workspace.x, w1: head.w1, B: B, F: F, H: H)
}

/// Read+write of two F×H arrays with a trivial update (the fused update's floor) and a read of one, on 2 threads;
/// RMSprop over w1 and the update's tile GEMMs (at batch B) on one.
func benchUpdateFloor(F: Int, H: Int, B: Int) {
    let n = F * H
    let a = AlignedFloats(count: n), v = AlignedFloats(count: n)
    let pa = a.pointer, pv = v.pointer
    let rw = bestSeconds(5) {
        onThreads(2) { t in for i in (t * n / 2)..<((t + 1) * n / 2) { pv[i] = pv[i] * 0.9 + 1; pa[i] -= pv[i] } }
    }
    let sums = AlignedFloats(count: 2)
    let rd = bestSeconds(5) {
        onThreads(2) { t in
            var s: Float = 0
            for i in (t * n / 2)..<((t + 1) * n / 2) { s += pa[i] }
            sums.pointer[t] = s
        }
    }
    let g = AlignedFloats(count: 64 * H)
    for i in 0..<(64 * H) { g.pointer[i] = 1e-3 * Float(i % 7) }
    let rms = bestSeconds(3) {
        for r0 in stride(from: 0, to: F, by: 64) {
            rmsprop_update(pa + r0 * H, pv + r0 * H, g.pointer, N: 64 * H, lr: 1e-4, rho: 0.9, oneMinusRho: 0.1, eps: 1e-7)
        }
    }
    let x = AlignedFloats(count: B * F), dh = AlignedFloats(count: B * H)
    let gemm = bestSeconds(3) {
        for r0 in stride(from: 0, to: F, by: 64) {
            sgemm(transA: true, m: 64, n: H, k: B, a: x.pointer + r0, lda: F, b: dh.pointer, ldb: H, c: g.pointer, ldc: H)
        }
    }
    print(String(format: "one thread: RMSprop over w1 %.1f ms, the update's tile GEMMs (batch %d) %.1f ms", rms * 1e3, B, gemm * 1e3))
    print(String(format: "memory, 2 threads: read+write 2 × %.0f MB %.1f ms (%.1f GB/s); read %.0f MB %.1f ms (%.1f GB/s)",
                 Double(n * 4) / 1e6, rw * 1e3, 4.0 * Double(n * 4) / rw / 1e9,
                 Double(n * 4) / 1e6, rd * 1e3, Double(n * 4) / rd / 1e9))
}

/// The first layer's forward pass as OpenBLAS sgemms: one call, split over K on two threads, transposed, and in
/// K tiles on one thread.
func benchForwardGEMMs(x: UnsafeMutablePointer<Float>, w1: UnsafeMutablePointer<Float>, B: Int, F: Int, H: Int) {
    let hp = AlignedFloats(count: 2 * B * H), hT = AlignedFloats(count: B * H)
    BLASThreads.set(1)
    let one = bestSeconds(3) { sgemm(m: B, n: H, k: F, a: x, lda: F, b: w1, ldb: H, c: hp.pointer, ldc: H) }
    let split = bestSeconds(3) {
        onThreads(2) { t in
            let k0 = t * F / 2, k1 = (t + 1) * F / 2
            sgemm(m: B, n: H, k: k1 - k0, a: x + k0, lda: F, b: w1 + k0 * H, ldb: H, c: hp.pointer + t * B * H, ldc: H)
        }
    }
    let transposed = bestSeconds(3) {
        sgemm(transA: true, transB: true, m: H, n: B, k: F, a: w1, lda: H, b: x, ldb: F, c: hT.pointer, ldc: B)
    }
    let tiles = [32, 64, 128, 256].map { kt in
        let t = bestSeconds(3) {
            for r0 in stride(from: 0, to: F, by: kt) {
                let rows = min(kt, F - r0)
                sgemm(m: B, n: H, k: rows, a: x + r0, lda: F, b: w1 + r0 * H, ldb: H, beta: 1, c: hp.pointer, ldc: H)
            }
        }
        return String(format: "K tile %d %.1f ms", kt, t * 1e3)
    }
    print(String(format: "forward sgemm, batch %d: one thread %.1f ms; K split on 2 threads %.1f ms; transposed %.1f ms; one thread ",
                 B, one * 1e3, split * 1e3, transposed * 1e3) + tiles.joined(separator: ", "))
}

/// Epoch times over 1,027 random samples held in memory, for each batch and each `mode`
/// ("threads2:64", "openblas2:64", "ref2:64": parallelism and thread count, then tile rows), with the floor the
/// fused step's memory traffic sets at 18 GB/s.
func benchEpochSynthetic(batches: [Int], modes: [String], epochs: Int) throws {
    let N = 1027, F = bookFeatures, H = bookHidden
    var rng = SplitMix64(key: 1)
    let x = (0..<(N * F)).map { _ in max(0, 2 * rng.nextUniform() - 1) }
    let train = try InMemoryFeatures(features: x, featureCount: F, labels: (0..<N).map { $0 % 2 })
    for batch in batches {
        for mode in modes {
            let parts = mode.split(separator: ":")
            guard let kind = parts.first, let n = kind.last?.wholeNumberValue,
                  let tileRows = parts.count > 1 ? Int(parts[1]) : 64 else {
                print("epoch-synthetic: mode '\(mode)' is not <threads|openblas|ref><N>[:<tile rows>]"); continue
            }
            var options = TrainingOptions(epochs: epochs, batchSize: batch, learningRate: 1e-4, seed: 1)
            options.parallelism = kind.hasPrefix("openblas") ? .openBLAS(n) : .threads(n)
            options.tileRows = tileRows
            options.referenceStep = kind.hasPrefix("ref")
            let head = try Head(config: HeadConfig(featureCount: F, hidden: H), seed: 1)
            let history = try HeadTrainer(head: head, options: options).fit(train: train)
            // Bytes per step: the fused step reads and writes w1 and v1 once (the next batch's forward uses the
            // tiles in cache): 4 × 154 MB; a separate forward read makes it 5 ×.
            let steps = Double((N + batch - 1) / batch), w = Double(F * H * 4)
            print(String(format: "epoch, batch %d, %@, tile %d: %@ s (floor at 18 GB/s: %.2f s for 4 passes, %.2f s for 5)",
                         batch, String(kind), tileRows, history.epochs.map { String(format: "%.3f", $0.seconds) }.joined(separator: " "),
                         steps * 4 * w / 18e9, steps * 5 * w / 18e9))
        }
    }
}
