// headstart-bench: the figures in BENCHMARKS.md. Build and run in release:
//   swift run -c release headstart-bench [network|sgemm] [--batch N] [--iterations N]
import Dispatch
import Extract
import Foundation
import Numerics
import HeadTrain
import Pipeline
import Store

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

/// A cache of `--records` random 7×7×768 float16 records (two classes, 90/10 split) at `--out`, for
/// measuring stage two at Cats-vs-Dogs scale without extracting 25,000 images.
func synthCache() throws {
    guard let i = args.firstIndex(of: "--out"), i + 1 < args.count else { print("synth-cache needs --out DIR"); return }
    let n = option("--records", 25_000), shape = [7, 7, 768], count = 7 * 7 * 768
    let fp = CacheFingerprint(weightsSHA256: String(repeating: "0", count: 64), weightsName: "synthetic", layer: "mixed7",
                              inputSize: [150, 150], resize: "nearest", preprocess: "rescale", dtype: .f16, featureShape: shape)
    let cache = try FeatureCache(path: args[i + 1], fingerprint: fp, rebuild: true)
    try cache.setClassNames(["cats", "dogs"])
    var start = 0
    var state: UInt64 = 1
    while start < n {
        var batch = Batch()
        for j in start..<min(n, start + 200) {
            let key = ContentKey.of(Data("synthetic-\(j)".utf8))
            var values = [Float](repeating: 0, count: count)
            for k in 0..<count {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                values[k] = Float(state >> 40) / Float(1 << 24) * 4
            }
            let split: Split = j % 10 == 0 ? .validation : .train
            batch.records.append(PendingRecord(key: key, values: values))
            batch.entries.append(IndexEntry(path: "\(split)/\(j % 2 == 0 ? "cats" : "dogs")/\(j).jpg", key: key,
                                            label: Int32(j % 2), split: split, fileSize: 0, modificationTimeNanoseconds: 0))
        }
        try cache.commit(batch: batch)
        start += 200
    }
    print("wrote \(n) float16 records of \(shape) to \(args[i + 1])")
}

/// Seconds per training epoch of the book's head (hidden 1024) over the train split of `--cache`, read from
/// the cache (float16 decoded per batch) and, for comparison, from the same features held in memory as float32.
func benchEpoch() throws {
    guard let i = args.firstIndex(of: "--cache"), i + 1 < args.count else { print("epoch needs --cache DIR"); return }
    let cache = try FeatureCache(path: args[i + 1], fingerprint: nil)
    let fromCache = try CacheFeatures(cache: cache, split: .train)
    var all = [Float](repeating: 0, count: fromCache.count * fromCache.featureCount)
    try all.withUnsafeMutableBufferPointer { try fromCache.fill(indices: Array(0..<fromCache.count), into: $0.baseAddress!) }
    let inMemory = try InMemoryFeatures(features: all, featureCount: fromCache.featureCount, labels: fromCache.labels())
    let batch = option("--batch", 20), epochs = option("--epochs", 3)
    for (name, source) in [("cache (f16 per batch)", fromCache as FeatureSource), ("in memory (f32)", inMemory)] {
        let head = try Head(config: HeadConfig(featureCount: source.featureCount, hidden: 1024), seed: 1)
        let trainer = try HeadTrainer(head: head, options: TrainingOptions(epochs: epochs, batchSize: batch, seed: 1))
        let history = try trainer.fit(train: source)
        let secs = history.epochs.map(\.seconds).sorted()
        print(String(format: "epoch over %d × %d features from %@, batch %d: median %.2f s (best %.2f s) over %d epochs",
                     source.count, source.featureCount, name, batch, secs[secs.count / 2], secs[0], epochs))
    }
}

switch what {
case "sgemm": benchSGEMM()
case "epoch": try benchEpoch()
case "synth-cache": try synthCache()
default: try benchNetwork()
}
