import Foundation
import XCTest
import HeadTrain

/// Epoch time at the book's size: 1,027 samples × 37,632 features (random, in memory), hidden 1,024.
/// Not a unit test: it runs only with HEADSTART_BENCH=1 and asserts nothing about time. Build in release:
///     HEADSTART_BENCH=1 swift test -c release --filter EpochBenchmark
/// Optional: HEADSTART_BENCH_MODES="threads2:64,openblas2:64" (parallelism:tileRows), HEADSTART_BENCH_EPOCHS=3.
final class EpochBenchmark: XCTestCase {
    func testEpochTimeAtInceptionMixed7Size() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["HEADSTART_BENCH"] == "1" else { throw XCTSkip("set HEADSTART_BENCH=1 to run the epoch benchmark") }
        let N = 1027, F = 37_632, H = 1024
        var rng = SplitMix64(key: 1)
        let x = (0..<(N * F)).map { _ in max(0, 2 * rng.nextUniform() - 1) }
        let labels = (0..<N).map { $0 % 2 }
        let train = try InMemoryFeatures(features: x, featureCount: F, labels: labels)
        let epochs = Int(env["HEADSTART_BENCH_EPOCHS"] ?? "") ?? 3
        let modes = (env["HEADSTART_BENCH_MODES"] ?? "threads2:64,openblas2:64").split(separator: ",")
        let batches = (env["HEADSTART_BENCH_BATCHES"] ?? "20,32").split(separator: ",").compactMap { Int($0) }
        for batch in batches {
            for mode in modes {
                let parts = mode.split(separator: ":")
                var options = TrainingOptions(epochs: epochs, batchSize: batch, learningRate: 1e-4, seed: 1)
                let n = Int(parts[0].last!.wholeNumberValue!)
                options.parallelism = parts[0].hasPrefix("openblas") ? .openBLAS(n) : .threads(n)
                options.tileRows = parts.count > 1 ? Int(parts[1])! : 64
                options.referenceStep = parts[0].hasPrefix("ref")
                let head = try Head(config: HeadConfig(featureCount: F, hidden: H), seed: 1)
                let h = try HeadTrainer(head: head, options: options).fit(train: train)
                let steps = (N + batch - 1) / batch
                // Bytes per step: the fused step reads and writes w1 and v1 once (the next batch's forward uses
                // the tiles in cache): 4 × 154 MB. The floor also counts a separate forward read: 5 ×.
                let w = Double(F * H * 4)
                print(String(format: "BENCH batch %d %@ tile %d: epochs %@ s (floor at 18 GB/s: %.2f s for 4 passes, %.2f s for 5)",
                             batch, String(parts[0]), options.tileRows,
                             h.epochs.map { String(format: "%.3f", $0.seconds) }.joined(separator: " "),
                             Double(steps) * 4 * w / 18e9, Double(steps) * 5 * w / 18e9))
            }
        }
    }
}
