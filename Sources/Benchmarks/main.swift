// headstart-bench: the figures in BENCHMARKS.md. Build and run in release:
//   swift run -c release headstart-bench [network|sgemm|accuracy|epoch|epoch-synthetic|step|synth-cache|finetune-epoch] [--batch N] [--iterations N]
// HEADSTART_ISA=avx2 (or scalar) runs the narrower kernels; the first line printed names what runs.
import CKernels
import Dispatch
import Extract
import Foundation
import Numerics
import HeadTrain
import Pipeline
import Store

var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
    return v
}
func listOption(_ name: String, _ fallback: String) -> [String] {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return fallback.split(separator: ",").map(String.init) }
    return args[i + 1].split(separator: ",").map(String.init)
}
let what = args.first { !$0.hasPrefix("--") && Int($0) == nil } ?? "network"
let iterations = option("--iterations", 10)

/// The backends: the instruction set headstart's kernels use and the kernels OpenBLAS runs.
func backendLine() throws -> String {
    let isa = try InstructionSet.fromEnvironment()
    let b = isa.blocking
    return "kernels: headstart \(isa.rawValue) (\(b.mr)×\(b.nr) tile; CPU's widest: \(InstructionSet.detected.rawValue)), "
        + "OpenBLAS core \(OpenBLASCore.current)"
}

/// sgemm on the network's own shapes (M × N × K) and 2048³: OpenBLAS and headstart's kernel (B packed once,
/// as the network's weights are), on 1 and 2 threads.
func benchSGEMM() throws {
    let isa = try InstructionSet.fromEnvironment()
    let shapes = [(5329, 192, 720), (1225, 768, 768), (289, 192, 1344), (1568, 768, 768), (2048, 2048, 2048)]
    for (m, n, k) in shapes {
        let a = (0..<(m * k)).map { Float($0 % 97) / 97 - 0.5 }, b = (0..<(k * n)).map { Float($0 % 89) / 89 - 0.5 }
        var c = [Float](repeating: 0, count: m * n)
        let flops = 2 * Double(m) * Double(n) * Double(k)
        let reps = max(3, Int(4e10 / flops))
        func best(_ body: () -> Void) -> Double {
            body()
            var t = Double.infinity
            for _ in 0..<reps { let t0 = now(); body(); t = min(t, now() - t0) }
            return flops / t / 1e9
        }
        var line = String(format: "sgemm %5d×%4d×%4d:", m, n, k)
        for threads in [1, 2] {
            BLASThreads.set(threads)
            line += String(format: "  OpenBLAS %d thr %6.1f", threads, best {
                sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
            })
        }
        var packed = [Float](repeating: 0, count: hs_packed_floats(isa.c, Int32(k), Int32(n)))
        hs_pack_b(isa.c, &packed, b, n, 0, Int32(k), Int32(n))
        let panels = (n + isa.blocking.nr - 1) / isa.blocking.nr
        let scratch = (0..<2).map { _ in UnsafeMutableRawPointer.allocate(byteCount: hs_conv_scratch_bytes(isa.c, 1, 1, Int32(k)), alignment: 64) }
        defer { scratch.forEach { $0.deallocate() } }
        for threads in [1, 2] {
            line += String(format: "  headstart %d thr %6.1f", threads, best {
                a.withUnsafeBufferPointer { ap in packed.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                    let (pa, pb, pc) = (ap.baseAddress!, bp.baseAddress!, cp.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: threads) { t in
                        let r0 = m * t / threads, r1 = m * (t + 1) / threads
                        hs_gemm_rows(isa.c, pa, k, pb, Int32(k), Int32(n), pc, n, hs_epilogue(bias: nil, relu: 0),
                                     r0, r1, 0, Int32(panels), scratch[t])
                    }
                } } }
            })
        }
        print(line + " GFLOP/s")
    }
}

/// InceptionV3 to a cut layer on seeded weights: images/s and GFLOP/s.
func benchNetwork() throws {
    let batch = option("--batch", 32), size = option("--size", 150)
    let units = SeededWeights.generate(seed: 7)
    let weights = InceptionV3Weights(units: units, sha256: "", sourceName: "seed 7")
    let net = try Network(weights: weights, cut: .mixed7, height: size, width: size, threads: option("--threads", 2),
                          winograd: !args.contains("--no-winograd"))
    let input = (0..<(batch * size * size * 3)).map { Float($0 % 251) / 255 }
    var output = [Float](repeating: 0, count: batch * net.outputShape.reduce(1, *))
    net.forward(input, batch: batch, into: &output)  // warm-up, allocates buffers
    print(String(format: "parameters as planned: %.1f MB", Double(net.parameterBytes) / 1e6))
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
    print(String(format: "InceptionV3→mixed7 %d×%d, batch %d (%@): median %.1f ms/batch, %.1f images/s, %.1f GFLOP/s (best %.1f images/s)",
                 size, size, batch, net.kernelDescription, median * 1e3, Double(batch) / median, Double(batch) / median * gflop,
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
    let backend: HeadBackend = args.contains("--openblas") ? .openBLAS : .preferred
    for (name, source) in [("cache (f16 per batch)", fromCache as FeatureSource), ("in memory (f32)", inMemory)] {
        let head = try Head(config: HeadConfig(featureCount: source.featureCount, hidden: 1024), seed: 1)
        var options = TrainingOptions(epochs: epochs, batchSize: batch, seed: 1)
        options.backend = backend
        let trainer = try HeadTrainer(head: head, options: options)
        let history = try trainer.fit(train: source)
        let secs = history.epochs.map(\.seconds).sorted()
        print(String(format: "epoch over %d × %d features from %@, batch %d, first layer on %@: median %.2f s (best %.2f s) over %d epochs",
                     source.count, source.featureCount, name, batch, "\(backend)", secs[secs.count / 2], secs[0], epochs))
    }
}

/// The error each fast path adds, layer by layer: max |x − r| / max |r| at every mixed layer, where r is the
/// same network with float64 sums in every convolution, on the three real images of the Keras parity fixtures
/// and the seeded weights they were made with; and at mixed7 against Keras itself. Run from the repository root.
func benchAccuracy() throws {
    let bn = try NPY.read("Tests/Fixtures/keras/bn-params.npy").floats
    let units = SeededWeights.generate(seed: 7, batchNorm: bn)
    let weights = InceptionV3Weights(units: units, sha256: "", sourceName: "seed 7")
    let inputs = try (0..<3).map { try NPY.read("Tests/Fixtures/keras/input\($0).npy").floats }
    let input = inputs.flatMap { $0 }
    func error(_ x: [Float], _ r: [Float]) -> Double {
        let scale = r.map { abs(Double($0)) }.max()!
        return zip(x, r).map { abs(Double($0) - Double($1)) }.max()! / scale
    }
    let paths: [(String, (CutLayer) throws -> [Float])] = [
        ("headstart (Winograd)", { cut in try runNetwork(weights, cut, input, winograd: true) }),
        ("headstart (GEMM only)", { cut in try runNetwork(weights, cut, input, winograd: false) }),
        ("float32 reference (OpenBLAS im2col)", { cut in var u = units; return ReferenceNetwork.forward(input, batch: 3, height: 150, width: 150, cut: cut, weights: &u) }),
    ]
    print("max |x − float64 reference| / max |reference| over 3 real images, seeded weights (seed 7)")
    print("layer   " + paths.map { $0.0 }.joined(separator: " | "))
    for cut in CutLayer.allCases.prefix(through: CutLayer.allCases.firstIndex(of: .mixed7)!) {
        var u = units
        let exact = ReferenceNetwork.forward(input, batch: 3, height: 150, width: 150, cut: cut, weights: &u, float64Sums: true)
        let row = try paths.map { String(format: "%.1e", error(try $0.1(cut), exact)) }
        print("\(cut.rawValue)  " + row.joined(separator: " | "))
        if cut == .mixed7 {
            let keras = try (0..<3).flatMap { try NPY.read("Tests/Fixtures/keras/mixed7-\($0).npy").floats }
            print("mixed7 against Keras (TensorFlow 2.21, oneDNN): " + (try paths.map { String(format: "%@ %.1e", $0.0, error(try $0.1(cut), keras)) }).joined(separator: ", ")
                  + String(format: "; float64 reference %.1e", error(exact, keras)))
        }
    }
}

func runNetwork(_ weights: InceptionV3Weights, _ cut: CutLayer, _ input: [Float], winograd: Bool) throws -> [Float] {
    let net = try Network(weights: weights, cut: cut, winograd: winograd)
    var out = [Float](repeating: 0, count: 3 * net.outputShape.reduce(1, *))
    net.forward(input, batch: 3, into: &out)
    return out
}

/// What the reading stage of `extract` costs per image on one thread, stage by stage, over `--dataset`
/// (at most `--limit` images): read, SHA-256, decode, resize, preprocess.
func benchDecode() throws {
    guard let i = args.firstIndex(of: "--dataset"), i + 1 < args.count else { print("decode needs --dataset DIR"); return }
    let items = Array(try Dataset.scan(root: URL(fileURLWithPath: args[i + 1]), validationSplit: 0).items.prefix(option("--limit", 400)))
    var t = [Double](repeating: 0, count: 5)
    var input = [Float](repeating: 0, count: 150 * 150 * 3)
    for item in items {
        var t0 = now()
        let bytes = try ImageDecoder.readFile(item.url.path)
        t[0] += now() - t0; t0 = now()
        _ = bytes.withUnsafeBytes { SHA256Hasher.digest($0) }
        t[1] += now() - t0; t0 = now()
        let decoded = try ImageDecoder.decode(data: bytes, name: item.relativePath)
        t[2] += now() - t0; t0 = now()
        let resized = ImageResize.resize(decoded.image, height: 150, width: 150, method: .nearest)
        t[3] += now() - t0; t0 = now()
        input.withUnsafeMutableBufferPointer { ImagePreprocess.write(resized, mode: .rescale, into: $0, slot: 0) }
        t[4] += now() - t0
    }
    let n = Double(max(items.count, 1))
    let names = ["read", "SHA-256", "decode", "resize", "preprocess"]
    print(String(format: "reading stage over %d images, one thread: %.2f ms/image (", items.count, t.reduce(0, +) / n * 1e3)
          + zip(names, t).map { String(format: "%@ %.2f", $0, $1 / n * 1e3) }.joined(separator: ", ") + ")")
}

OpenBLASCore.adoptFeatureChoice()
print(try backendLine())
switch what {
case "sgemm": try benchSGEMM()
case "accuracy": try benchAccuracy()
case "decode": try benchDecode()
case "epoch": try benchEpoch()
case "epoch-synthetic":
    try benchEpochSynthetic(batches: listOption("--batches", "20,32").compactMap { Int($0) },
                            modes: listOption("--modes", "threads2:64,openblas2:64"), epochs: option("--epochs", 3))
case "step": try benchStep(batch: option("--batch", 20))
case "finetune-epoch":
    try benchFineTuneEpoch(batch: option("--batch", 20), epochs: option("--epochs", 2), hidden: option("--hidden", bookHidden),
                           sgd: args.contains("--sgd"))
case "synth-cache": try synthCache()
default: try benchNetwork()
}
