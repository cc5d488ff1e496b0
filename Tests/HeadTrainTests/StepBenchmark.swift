import Foundation
import XCTest
import Numerics
@testable import HeadTrain

/// Component timings of one training step at the book's size (HEADSTART_BENCH=1 only; asserts nothing).
final class StepBenchmark: XCTestCase {
    func seconds(_ reps: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<reps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return best  // the minimum: the machine is shared
    }

    func testStepComponents() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["HEADSTART_BENCH"] == "1" else { throw XCTSkip("set HEADSTART_BENCH=1 to run the step benchmark") }
        let F = 37_632, H = 1024, B = Int(env["HEADSTART_BENCH_B"] ?? "") ?? 20
        let head = try Head(config: HeadConfig(featureCount: F, hidden: H), seed: 1)
        for par in [Parallelism.threads(2)] {
            for tile in [64] {
                let s = HeadStepper(head: head, maxBatch: B, parallelism: par, tileRows: tile)
                var rng = SplitMix64(key: 1)
                for i in 0..<(B * F) { s.workspace.x[i] = rng.nextUniform() }
                for b in 0..<B { s.workspace.labels[b] = Int32(b % 2) }
                let fwd = seconds(15) { s.firstLayerForward(B: B) }
                s.forward(B: B, training: true, rng: &rng)
                s.backwardToHidden(B: B)
                let upd = seconds(15) { s.fusedFirstLayerUpdate(B: B) }
                let step = seconds(15) { s.trainStep(B: B, rng: &rng) }
                let stepNext = seconds(15) { s.trainStep(B: B, rng: &rng, next: B) }
                print(String(format: "STEP with next-batch forward fused: %.1f ms", stepNext * 1e3))
                print(String(format: "STEP B %d %@ tile %d: forward %.1f ms, fused update %.1f ms, step %.1f ms",
                             B, "\(par)", tile, fwd * 1e3, upd * 1e3, step * 1e3))
            }
        }
        // Memory bandwidth: read+write two F×H arrays with a trivial update (the update's floor), 2 threads.
        let n = F * H
        let a = AlignedFloats(count: n), v = AlignedFloats(count: n)
        let pa = a.pointer, pv = v.pointer
        let rw = seconds(5) {
            parallelFor(2) { t in
                let lo = t * n / 2, hi = (t + 1) * n / 2
                for i in lo..<hi { pv[i] = pv[i] * 0.9 + 1; pa[i] -= pv[i] }
            }
        }
        let rd = seconds(5) {
            var sums = [Float](repeating: 0, count: 2)
            sums.withUnsafeMutableBufferPointer { sp in
                let spp = sp.baseAddress!
                parallelFor(2) { t in
                    let lo = t * n / 2, hi = (t + 1) * n / 2
                    var s: Float = 0
                    for i in lo..<hi { s += pa[i] }
                    spp[t] = s
                }
            }
        }
        let g = AlignedFloats(count: 64 * H)
        for i in 0..<(64 * H) { g.pointer[i] = 1e-3 * Float(i % 7) }
        let rms = seconds(3) {
            var r0 = 0
            while r0 < F { rmsprop_update(pa + r0 * H, pv + r0 * H, g.pointer, N: 64 * H, lr: 1e-4, rho: 0.9, oneMinusRho: 0.1, eps: 1e-7); r0 += 64 }
        }
        let x = AlignedFloats(count: B * F), dh = AlignedFloats(count: B * H)
        let gemm = seconds(3) {
            var r0 = 0
            while r0 < F {
                sgemm(transA: true, m: 64, n: H, k: B, a: x.pointer + r0, lda: F, b: dh.pointer, ldb: H, c: g.pointer, ldc: H); r0 += 64
            }
        }
        let w1 = head.w1
        let hp = AlignedFloats(count: 2 * B * H)
        BLASThreads.set(1)
        let fwdOne = seconds(3) { sgemm(m: B, n: H, k: F, a: x.pointer, lda: F, b: w1, ldb: H, c: hp.pointer, ldc: H) }
        let fwdK = seconds(3) {
            parallelFor(2) { t in
                let k0 = t * F / 2, k1 = (t + 1) * F / 2
                sgemm(m: B, n: H, k: k1 - k0, a: x.pointer + k0, lda: F, b: w1 + k0 * H, ldb: H, c: hp.pointer + t * B * H, ldc: H)
            }
        }
        let hT = AlignedFloats(count: B * H)
        let fwdT = seconds(3) { sgemm(transA: true, transB: true, m: H, n: B, k: F, a: w1, lda: H, b: x.pointer, ldb: F, c: hT.pointer, ldc: B) }
        print(String(format: "FORWARD transposed formulation one thread %.1f ms", fwdT * 1e3))
        var fwdTiles: [String] = []
        for kt in [32, 64, 128, 256] {
            let tt = seconds(3) {
                var r0 = 0
                while r0 < F {
                    let rows = min(kt, F - r0)
                    sgemm(m: B, n: H, k: rows, a: x.pointer + r0, lda: F, b: w1 + r0 * H, ldb: H, beta: 1, c: hp.pointer, ldc: H)
                    r0 += rows
                }
            }
            fwdTiles.append(String(format: "k-tile %d: %.1f ms", kt, tt * 1e3))
        }
        print(String(format: "FORWARD one thread %.1f ms; k-split 2 threads %.1f ms; one thread ", fwdOne * 1e3, fwdK * 1e3) + fwdTiles.joined(separator: ", "))
        print(String(format: "ONE THREAD: rmsprop over w1 %.1f ms, tile gemms %.1f ms", rms * 1e3, gemm * 1e3))
        print(String(format: "MEM read+write 2×154 MB: %.1f ms (%.1f GB/s); read 154 MB: %.1f ms (%.1f GB/s)",
                     rw * 1e3, 4.0 * Double(n * 4) / rw / 1e9, rd * 1e3, Double(n * 4) / rd / 1e9))
    }
}
