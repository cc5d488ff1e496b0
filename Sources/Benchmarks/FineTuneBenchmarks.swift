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
    try tuner.fit(train: train) { log in
        print(String(format: "  epoch %d: %.2f s (loss %.4f)", log.epoch, log.seconds, log.loss))
    }
    let block = tuner.block
    var input = [Float](repeating: 0, count: B * F), output = input, dOutput = input
    for i in input.indices { input[i] = features[i]; dOutput[i] = 1e-3 * (2 * rng.nextUniform() - 1) }
    let forward = bestSeconds(5) { block.forward(input: input, B: B, output: &output) }
    let backward = bestSeconds(5) { block.backward(input: input, dOutput: dOutput) }
    let steps = Double((N + B - 1) / B)
    print(String(format: "  mixed7 at batch %d: forward %.1f ms, backward %.1f ms (%.2f s of an epoch's %.0f steps)",
                 B, forward * 1e3, backward * 1e3, (forward + backward) * steps, steps))
    let s = HeadStepper(head: try Head(config: HeadConfig(featureCount: F, hidden: hidden), seed: 1), maxBatch: B, inputBuffers: 1)
    for i in 0..<(B * F) { s.workspace.x[i] = features[i] }
    for b in 0..<B { s.workspace.labels[b] = Int32(b % 2) }
    let plain = bestSeconds(5) { _ = s.trainStep(B: B, rng: &rng) }
    let withInput = bestSeconds(5) { _ = s.trainStep(B: B, rng: &rng, inputGradient: &dOutput) }
    print(String(format: "  head at batch %d: step %.1f ms, step with ∂L/∂input %.1f ms (%.2f s of an epoch)",
                 B, plain * 1e3, withInput * 1e3, withInput * steps))
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    print(String(format: "  peak resident memory %.0f MB (the %.0f MB of features included)", Double(usage.ru_maxrss) / 1024,
                 Double(N * F * 4) / 1e6))
}
