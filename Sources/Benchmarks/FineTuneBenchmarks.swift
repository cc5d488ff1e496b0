// headstart-bench finetune-epoch: fine-tuning epochs of mixed7 and a dense head over random mixed6-like features
// held in memory, as many as Horses-or-Humans has training images, so it needs no cache or weights file.
import Extract
import FineTune
import Foundation
import HeadTrain
import Numerics

/// Epochs of `FineTuner.fit` over 1,027 samples of 7×7×768 (half zeros, as post-ReLU activations), mixed7 from the
/// seeded weights of seed 7, a head of `hidden` units; then the parts of one step at `batch`, and the peak memory.
func benchFineTuneEpoch(batch B: Int, epochs: Int, hidden: Int, sgd: Bool) throws {
    let N = 1027, F = 7 * 7 * 768
    var rng = SplitMix64(key: 5)
    let features = (0..<(N * F)).map { _ in max(0, 2 * rng.nextUniform() - 1) * 2 }
    let train = try InMemoryFeatures(features: features, featureCount: F, labels: (0..<N).map { $0 % 2 })
    let units = Array(SeededWeights.generate(seed: 7)[60..<70])
    let head = try Head(config: HeadConfig(featureCount: F, hidden: hidden), seed: 1)
    let optimizer: FineTuneOptimizer = sgd ? .sgd(learningRate: 1e-5, momentum: 0.9)
                                           : .rmsprop(RMSpropConfig(learningRate: FineTuneOptions.defaultLearningRate))
    let tuner = try FineTuner(units: units, head: head, options: FineTuneOptions(epochs: epochs, batchSize: B, optimizer: optimizer))
    print("finetune-epoch: \(N) samples, batch \(B), head 37632×\(hidden), \(sgd ? "SGD momentum" : "RMSprop"), 2 threads")
    // CPU time beside wall time: on a shared machine the wall time of 2 threads grows with the other load, while
    // CPU time / 2 is about what an idle machine would take (if the two threads are kept busy).
    var cpu = cpuSeconds()
    try tuner.fit(train: train) { log in
        let c = cpuSeconds()
        print(String(format: "  epoch %d: %.2f s wall, %.2f s CPU (loss %.4f)", log.epoch, log.seconds, c - cpu, log.loss))
        cpu = c
    }
    let block = tuner.block
    var input = [Float](repeating: 0, count: B * F), output = input, dOutput = input
    for i in input.indices { input[i] = features[i]; dOutput[i] = 1e-3 * (2 * rng.nextUniform() - 1) }
    /// CPU seconds per call, over 5 calls after a warm-up.
    func cpuPerCall(_ body: () -> Void) -> Double {
        body()
        let c0 = cpuSeconds()
        for _ in 0..<5 { body() }
        return (cpuSeconds() - c0) / 5
    }
    let steps = Double((N + B - 1) / B)
    let forward = cpuPerCall { block.forward(input: input, B: B, output: &output) }
    let backward = cpuPerCall { block.backward(input: input, dOutput: dOutput) }
    print(String(format: "  mixed7 at batch %d, CPU per step: forward %.1f ms, backward %.1f ms (%.2f s of an epoch's %.0f steps)",
                 B, forward * 1e3, backward * 1e3, (forward + backward) * steps, steps))
    let s = HeadStepper(head: try Head(config: HeadConfig(featureCount: F, hidden: hidden), seed: 1), maxBatch: B, inputBuffers: 1)
    for i in 0..<(B * F) { s.workspace.x[i] = features[i] }
    for b in 0..<B { s.workspace.labels[b] = Int32(b % 2) }
    let plain = cpuPerCall { _ = s.trainStep(B: B, rng: &rng) }
    let withInput = cpuPerCall { _ = s.trainStep(B: B, rng: &rng, inputGradient: &dOutput) }
    print(String(format: "  head at batch %d, CPU per step: step %.1f ms, step with ∂L/∂input %.1f ms (%.2f s of an epoch)",
                 B, plain * 1e3, withInput * 1e3, withInput * steps))
    let usage = resourceUsage()
    print(String(format: "  peak resident memory %.0f MB (the %.0f MB of features included)", Double(usage.ru_maxrss) / 1024,
                 Double(N * F * 4) / 1e6))
}

func resourceUsage() -> rusage {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage
}

/// User + system CPU seconds of this process so far.
func cpuSeconds() -> Double {
    let u = resourceUsage()
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}
