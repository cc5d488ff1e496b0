import Foundation
import Numerics

/// Several heads trained in one pass over the data, as a hyper-parameter sweep needs them.
///
/// Training is bound by streaming each head's first-layer weights and RMSprop state (see `HeadStepper`), so
/// what heads can share is everything else: the shuffled order and the features of each batch. Heads whose
/// options agree on (batch size, seed, shuffle) visit the samples in the same order and draw the same dropout
/// streams, so one buffer pair `cur`/`nxt` is filled (decoded from float16 by a cache) once per batch and every
/// head is stepped on it in turn, one after another: each step already uses all cores, and running two heads
/// at once would only split the same memory bandwidth.
///
/// Per head the arithmetic is exactly `HeadTrainer.fit`'s — same step calls, in the same order, on the same
/// values, same validation batches — so every head ends bitwise equal to training it alone. The loop below
/// mirrors `fit` line for line; a test holds them together.
///
/// Heads may differ in everything else (hidden units, dropout, learning rate, epochs, early stopping). A head
/// leaves the pass when it reaches its own epoch count, stops early, or the caller stops it (successive
/// halving); the others go on. Training can be split into calls (`train(until:)`), so a caller can rank the
/// heads between rungs; and it can start at a later epoch from a saved state (`startEpoch`), since the shuffle
/// and dropout streams depend only on (seed, epoch, step index).
public final class HeadGroupTrainer {
    public final class Member {
        public let trainer: HeadTrainer
        public internal(set) var history = TrainingHistory()
        /// Stopped by the caller (`stop`) or by early stopping; it takes no more steps.
        public internal(set) var stopped = false
        var best = Double.infinity
        var wait = 0
        var seconds = 0.0

        init(trainer: HeadTrainer) { self.trainer = trainer }
        public var head: Head { trainer.head }
        public var options: TrainingOptions { trainer.options }
        /// Epochs completed (counting those before `startEpoch`).
        public internal(set) var epochsDone = 0
        public var finished: Bool { stopped || epochsDone >= options.epochs }
    }

    public let members: [Member]
    public let batchSize: Int
    public let seed: UInt64
    public let shuffle: Bool
    /// The next epoch (0-based) the group will run.
    public private(set) var epoch: Int
    let buffers: AlignedFloats
    let featureCount: Int

    /// `trainers` must agree on batch size, seed and shuffle, use the fused step, and have heads of the same
    /// feature count. Heads starting at `startEpoch` > 0 must carry the weights and optimizer state they had
    /// after that many epochs (see `HeadStepper.withOptimizerState`).
    public init(trainers: [HeadTrainer], startEpoch: Int = 0) throws {
        guard let first = trainers.first else { throw HeadError.invalidConfig("a training group needs at least one head") }
        let o = first.options
        for t in trainers {
            guard t.options.batchSize == o.batchSize, t.options.seed == o.seed, t.options.shuffle == o.shuffle else {
                throw HeadError.invalidConfig("heads trained in one pass must share batch size, seed and shuffle; found "
                    + "(\(t.options.batchSize), \(t.options.seed), \(t.options.shuffle)) beside (\(o.batchSize), \(o.seed), \(o.shuffle))")
            }
            guard !t.options.referenceStep else { throw HeadError.invalidConfig("a training group uses the fused step only") }
            guard t.head.config.featureCount == first.head.config.featureCount else {
                throw HeadError.featureCountMismatch(expected: first.head.config.featureCount, found: t.head.config.featureCount)
            }
        }
        guard startEpoch >= 0 else { throw HeadError.invalidConfig("start epoch must not be negative") }
        members = trainers.map { Member(trainer: $0) }
        for m in members { m.epochsDone = startEpoch }
        batchSize = o.batchSize; seed = o.seed; shuffle = o.shuffle
        epoch = startEpoch
        featureCount = first.head.config.featureCount
        buffers = AlignedFloats(count: 2 * o.batchSize * featureCount)
    }

    /// Takes a head out of the pass (successive halving); its history stays.
    public func stop(_ index: Int) { members[index].stopped = true }

    /// Runs epochs until every member has done `until` epochs (or its own count, or stopped). `onEpoch(i, log)`
    /// follows each member's epoch; `onImproved(i, head, log)` fires as `fit`'s does (the monitored loss
    /// improved strictly).
    public func train(train: FeatureSource, validation: FeatureSource? = nil, until: Int,
                      onEpoch: (Int, EpochLog) throws -> Void = { _, _ in },
                      onImproved: ((Int, Head, EpochLog) throws -> Void)? = nil) throws {
        guard let t0 = members.first?.trainer else { return }
        let trainLabels = try t0.checkedLabels(train, "training features")
        let valLabels = try validation.map { try t0.checkedLabels($0, "validation features") }
        for m in members.dropFirst() {
            _ = try m.trainer.checkedLabels(train, "training features")
            if let validation { _ = try m.trainer.checkedLabels(validation, "validation features") }
        }
        let N = train.count, B = batchSize
        let bounds = Array(stride(from: 0, to: N, by: B))
        var cur = buffers.pointer, nxt = buffers.pointer + B * featureCount
        // Validation: one chunk of features filled once, every head's evaluator reading it (see BatchedValidation).
        let chunk = validation.map { BatchedValidation.chunkRows(batch: B, count: $0.count) } ?? 0
        let chunkFeatures = AlignedFloats(count: chunk * featureCount)
        let evaluators = validation == nil ? [] : members.map { $0.trainer.makeEvaluator(rows: chunk, inputBuffers: 0) }
        while epoch < until {
            let active = members.indices.filter { !members[$0].finished && members[$0].epochsDone < until }
            if active.isEmpty { break }
            let order = epochOrder(count: N, epoch: epoch, seed: seed, shuffle: shuffle)
            var trainMeans = [BatchMeans](repeating: BatchMeans(), count: members.count)
            var seconds = [Double](repeating: 0, count: members.count)
            var current = -1
            for k in bounds.indices {
                let s = bounds[k], b = min(N, s + B) - s
                if current != k { try train.fill(indices: Array(order[s..<(s + b)]), into: cur) }
                // fit counts steps from 0 over all epochs; every epoch has bounds.count steps.
                let step = UInt64(epoch * bounds.count + k)
                var b2: Int?
                if k + 1 < bounds.count {
                    let s2 = bounds[k + 1]
                    b2 = min(N, s2 + B) - s2
                    try train.fill(indices: Array(order[s2..<(s2 + b2!)]), into: nxt)
                }
                for i in active {
                    let start = now()
                    let stepper = members[i].trainer.stepper, ws = stepper.workspace
                    ws.x = cur; ws.xNext = nxt
                    for r in 0..<b { ws.labels[r] = Int32(trainLabels[order[s + r]]) }
                    var rng = SplitMix64(key: SplitMix64.streamKey(seed: seed, tag: .dropout, index: step))
                    let loss = stepper.trainStep(B: b, rng: &rng, next: b2)
                    trainMeans[i].add(loss: loss, correct: stepper.correctCount(B: b), size: b)
                    seconds[i] += now() - start
                }
                if b2 != nil { swap(&cur, &nxt); current = k + 1 }
            }
            var logs: [Int: EpochLog] = [:]
            for i in active {
                logs[i] = try EpochLog(epoch: epoch + 1, training: trainMeans[i], validation: nil)
            }
            if let validation, let valLabels {
                var means = [BatchedValidation](repeating: BatchedValidation(), count: members.count)
                var s = 0
                while s < validation.count {
                    let rows = min(chunk, validation.count - s)
                    try validation.fill(indices: Array(s..<(s + rows)), into: chunkFeatures.pointer)
                    for i in active {
                        let start = now()
                        let ws = evaluators[i].workspace
                        ws.x = chunkFeatures.pointer
                        for r in 0..<rows { ws.labels[r] = Int32(valLabels[s + r]) }
                        means[i].add(rows: rows, batch: B, evaluator: evaluators[i])
                        seconds[i] += now() - start
                    }
                    s += rows
                }
                for i in active { logs[i]!.valLoss = means[i].loss.mean; logs[i]!.valAccuracy = means[i].accuracy.mean }
            }
            for i in active {
                let m = members[i]
                var log = logs[i]!
                log.seconds = seconds[i]
                m.history.epochs.append(log)
                m.epochsDone = epoch + 1
                try onEpoch(i, log)
                let monitored = log.valLoss ?? log.loss
                m.wait += 1
                if monitored < m.best {
                    m.best = monitored
                    m.wait = 0
                    m.history.bestEpoch = epoch + 1
                    try onImproved?(i, m.head, log)
                } else if let patience = m.options.earlyStopPatience, m.wait >= patience, m.history.epochs.count > 1 {
                    m.history.stoppedEarly = true
                    m.stopped = true
                }
            }
            epoch += 1
        }
    }

    /// Restores a member's early-stopping bookkeeping (best monitored loss, epochs without improvement) and
    /// earlier history when it resumes from a saved state.
    public func restore(_ index: Int, history: TrainingHistory) {
        let m = members[index]
        m.history = history
        m.best = Double.infinity
        m.wait = 0
        for log in history.epochs {
            let monitored = log.valLoss ?? log.loss
            m.wait += 1
            if monitored < m.best { m.best = monitored; m.wait = 0 }
        }
    }
}

extension HeadStepper {
    /// The RMSprop velocity, in the parameters' layout ([w1 | b1 | w2 | b2], `head.layout.total` floats), for
    /// saving and restoring a training state between runs.
    public func withOptimizerState<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: velocity.pointer, count: head.layout.total))
    }
}

extension Head {
    /// All parameters as one flat buffer in `layout` ([w1 | b1 | w2 | b2] with alignment padding).
    public func withParameters<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: storage.pointer, count: layout.total))
    }
}
