import Foundation
import Numerics

/// A head's results over a labelled feature source.
public struct Evaluation: Equatable, Sendable {
    public var count: Int
    /// Mean loss (Keras `evaluate`: sample-weighted mean of batch means).
    public var loss: Double
    public var accuracy: Double
    /// Per sample, `outputs` probabilities: P(class 1) for a binary head, the softmax row otherwise.
    public var probabilities: [Float]
    public var outputs: Int
    public var labels: [Int]
    public var predicted: [Int]
    /// confusion[true][predicted].
    public var confusion: [[Int]]
    /// Per class: TP / (TP + FP), nil when the class was never predicted.
    public var precision: [Double?]
    /// Per class: TP / (TP + FN), nil when the class never occurs.
    public var recall: [Double?]
    /// Binary heads: the exact area under the ROC curve of P(class 1) (Mann–Whitney, ties count ½); nil for
    /// multi-class heads or when one class is absent. (Keras's AUC metric approximates this with 200 thresholds.)
    public var rocAUC: Double?

    /// Indices of misclassified samples.
    public var misclassified: [Int] { (0..<count).filter { predicted[$0] != labels[$0] } }
}

/// Inference with a trained head.
public final class HeadPredictor {
    public let head: Head
    public let batchSize: Int
    let stepper: HeadStepper

    public init(head: Head, batchSize: Int = 32, parallelism: Parallelism = .threads(2)) {
        self.head = head
        self.batchSize = max(1, batchSize)
        stepper = HeadStepper(head: head, maxBatch: self.batchSize, parallelism: parallelism, tileRows: 1)
    }

    /// Probabilities for every sample of the source, `outputs` per sample.
    public func predict(_ source: FeatureSource) throws -> [Float] {
        try checkFeatures(source)
        var out: [Float] = []
        out.reserveCapacity(source.count * head.layout.O)
        try forEachBatch(source, labels: nil, stepper: stepper, batch: batchSize) { b, _ in
            out.append(contentsOf: UnsafeBufferPointer(start: stepper.workspace.probs, count: b * head.layout.O))
        }
        return out
    }

    /// Probabilities for `count` feature rows at `features` (count × F).
    public func predict(features: UnsafePointer<Float>, count: Int) -> [Float] {
        let F = head.layout.F, O = head.layout.O, ws = stepper.workspace
        var out: [Float] = []
        out.reserveCapacity(count * O)
        var rng = SplitMix64(key: 0)
        var s = 0
        while s < count {
            let b = min(batchSize, count - s)
            ws.x.update(from: features + s * F, count: b * F)
            stepper.forward(B: b, training: false, rng: &rng, withLoss: false)
            out.append(contentsOf: UnsafeBufferPointer(start: ws.probs, count: b * O))
            s += b
        }
        return out
    }

    public func evaluate(_ source: FeatureSource) throws -> Evaluation {
        try checkFeatures(source)
        let labels = source.labels()
        let C = head.config.classes, O = head.layout.O
        guard labels.count == source.count else {
            throw HeadError.shapeMismatch(what: "labels", expected: [source.count], found: [labels.count])
        }
        for (i, l) in labels.enumerated() where l < 0 || l >= C {
            throw HeadError.invalidLabel(index: i, label: l, classes: C)
        }
        var means = BatchMeans()
        var probs: [Float] = []
        probs.reserveCapacity(source.count * O)
        try forEachBatch(source, labels: labels, stepper: stepper, batch: batchSize) { b, loss in
            means.add(loss: loss, correct: stepper.correctCount(B: b), size: b)
            probs.append(contentsOf: UnsafeBufferPointer(start: stepper.workspace.probs, count: b * O))
        }
        let predicted: [Int] = (0..<source.count).map { i in
            O == 1 ? (probs[i] > 0.5 ? 1 : 0) : probs.withUnsafeBufferPointer { argmax($0.baseAddress! + i * O, O) }
        }
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: C), count: C)
        for (t, p) in zip(labels, predicted) { confusion[t][p] += 1 }
        let precision: [Double?] = (0..<C).map { c in
            let col = (0..<C).reduce(0) { $0 + confusion[$1][c] }
            return col > 0 ? Double(confusion[c][c]) / Double(col) : nil
        }
        let recall: [Double?] = (0..<C).map { c in
            let row = confusion[c].reduce(0, +)
            return row > 0 ? Double(confusion[c][c]) / Double(row) : nil
        }
        return Evaluation(count: source.count, loss: means.loss.mean, accuracy: means.accuracy.mean, probabilities: probs,
                          outputs: O, labels: labels, predicted: predicted, confusion: confusion,
                          precision: precision, recall: recall,
                          rocAUC: O == 1 ? rocAUC(scores: probs, labels: labels) : nil)
    }

    func checkFeatures(_ s: FeatureSource) throws {
        guard s.featureCount == head.config.featureCount else {
            throw HeadError.featureCountMismatch(expected: head.config.featureCount, found: s.featureCount)
        }
    }
}

/// Exact ROC AUC: the probability that a random positive (label 1) scores above a random negative, ties
/// counting ½ — computed from average ranks (Mann–Whitney U / (P·N)). Nil when either class is absent.
public func rocAUC(scores: [Float], labels: [Int]) -> Double? {
    let P = labels.filter { $0 == 1 }.count, N = labels.count - P
    guard P > 0, N > 0 else { return nil }
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var rankSumPositive = 0.0
    var i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
        let avgRank = Double(i + j) / 2 + 1  // 1-based average rank of the tie group
        for k in i...j where labels[order[k]] == 1 { rankSumPositive += avgRank }
        i = j + 1
    }
    let u = rankSumPositive - Double(P) * Double(P + 1) / 2
    return u / (Double(P) * Double(N))
}

/// The ROC curve: (false positive rate, true positive rate) at every distinct threshold, from (0, 0) to (1, 1),
/// scores of a tie group crossing the threshold together (so the area under these points is `rocAUC`). Nil when
/// either class is absent.
public func rocCurve(scores: [Float], labels: [Int]) -> [(fpr: Double, tpr: Double)]? {
    let P = labels.filter { $0 == 1 }.count, N = labels.count - P
    guard P > 0, N > 0 else { return nil }
    let order = scores.indices.sorted { scores[$0] > scores[$1] }
    var points = [(fpr: 0.0, tpr: 0.0)]
    var tp = 0, fp = 0, i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
        for k in i...j { if labels[order[k]] == 1 { tp += 1 } else { fp += 1 } }
        points.append((Double(fp) / Double(N), Double(tp) / Double(P)))
        i = j + 1
    }
    return points
}
