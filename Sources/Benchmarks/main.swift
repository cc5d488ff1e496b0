// headstart-bench: the figures in BENCHMARKS.md. Build and run in release:
//   swift run -c release headstart-bench [network|sgemm] [--batch N] [--iterations N]
import Dispatch
import Extract
import Foundation
import Numerics

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
    return v
}
let what = args.first { !$0.hasPrefix("--") && Int($0) == nil } ?? "network"
let iterations = option("--iterations", 10)

/// Peak single-precision GEMM of this machine's OpenBLAS, square n×n, on 1 and 2 threads.
func benchSGEMM() {
    let n = 2048
    let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    for threads in [1, 2] {
        BLASThreads.set(threads)
        sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n)  // warm-up
        let t0 = now()
        for _ in 0..<iterations { sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n) }
        let dt = (now() - t0) / Double(iterations)
        print(String(format: "sgemm %d×%d×%d, %d thread(s): %.1f GFLOP/s", n, n, n, threads, 2 * pow(Double(n), 3) / dt / 1e9))
    }
}

/// InceptionV3 to a cut layer on seeded weights: images/s and GFLOP/s.
func benchNetwork() throws {
    let batch = option("--batch", 32), size = option("--size", 150)
    let units = SeededWeights.generate(seed: 7)
    let weights = InceptionV3Weights(units: units, sha256: "", sourceName: "seed 7")
    let net = try Network(weights: weights, cut: .mixed7, height: size, width: size, threads: option("--threads", 2))
    let input = (0..<(batch * size * size * 3)).map { Float($0 % 251) / 255 }
    var output = [Float](repeating: 0, count: batch * net.outputShape.reduce(1, *))
    net.forward(input, batch: batch, into: &output)  // warm-up, allocates buffers
    var times: [Double] = []
    for _ in 0..<iterations {
        let t0 = now()
        net.forward(input, batch: batch, into: &output)
        times.append(now() - t0)
    }
    if args.contains("--profile") {
        net.startProfiling()
        for _ in 0..<iterations { net.forward(input, batch: batch, into: &output) }
        let total = net.profile.reduce(0) { $0 + $1.seconds }
        for p in net.profile.sorted(by: { $0.seconds > $1.seconds }).prefix(option("--top", 25)) {
            let gflops = p.flops > 0 ? String(format: "%6.1f GFLOP/s", p.flops * Double(batch * iterations) / p.seconds / 1e9) : ""
            print(String(format: "%5.1f%%  %7.2f ms  %@  %@", 100 * p.seconds / total, p.seconds / Double(iterations) * 1e3, gflops, p.name))
        }
    }
    times.sort()
    let median = times[times.count / 2]
    let gflop = 1.838 * Double(size * size) / (150 * 150)
    print(String(format: "InceptionV3→mixed7 %d×%d, batch %d: median %.1f ms/batch, %.1f images/s, %.1f GFLOP/s (best %.1f images/s)",
                 size, size, batch, median * 1e3, Double(batch) / median, Double(batch) / median * gflop,
                 Double(batch) / times[0]))
}

switch what {
case "sgemm": benchSGEMM()
default: try benchNetwork()
}
