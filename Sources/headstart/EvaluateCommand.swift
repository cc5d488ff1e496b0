import ArgumentParser
import Extract
import Foundation
import Pipeline
import Store

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a trained head on a cache split: accuracy, loss, confusion matrix, ROC AUC, mistakes.",
        discussion: """
        The head must come from features of the same weights and settings as the cache (it records them); \
        otherwise evaluate says what differs. ROC AUC is exact (Keras's AUC metric approximates it with 200 \
        thresholds).

        Example:
          headstart evaluate out/hh-cache --head head.h5 --json > report.json
        """)

    @Argument(help: "A cache written by `headstart extract`.") var cache: String
    @Option(help: "A head written by `headstart train`.") var head: String
    @Option(help: ArgumentHelp("Which split to score.", valueName: "validation|train")) var split: Split = .validation
    @Flag(help: "Print the report as JSON.") var json = false
    @OptionGroup var damage: DamageOptions

    func run() throws {
        let r = try HeadEvaluation.run(cache: cache, head: head, split: split, damagePolicy: damage.policy)
        DamageOptions.report(r.damaged)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
            return
        }
        print(EvaluateCommand.render(r))
    }

    static func render(_ r: HeadEvaluationReport) -> String {
        var lines = summary(r)
        lines.append("\(r.misclassified.count) misclassified" + (r.misclassified.isEmpty ? "" : ":"))
        for m in r.misclassified {
            let probs = zip(m.probabilityClasses, m.probabilities).map { "P(\($0)) = \(String(format: "%.6g", $1))" }
            lines.append("  \(m.path): \(m.label) predicted \(m.predicted) (\(probs.joined(separator: ", ")))")
        }
        lines.append("weights: \(WeightsOrigin(recorded: r.weightsOrigin))")
        if let w = r.weightsWarning { lines.append("WARNING: \(w)") }
        if let d = r.demo { lines.append(d) }
        return lines.joined(separator: "\n")
    }

    /// Accuracy, loss, ROC AUC, the confusion matrix and each class's precision and recall (what `run` shows).
    static func summary(_ r: HeadEvaluationReport) -> [String] {
        var lines = [String(format: "%@ split, %d images: accuracy %.4f, loss %.4f", r.split, r.count, r.accuracy, r.loss)]
        if let auc = r.rocAUC { lines.append(String(format: "ROC AUC %.4f", auc)) }
        let width = max(10, (r.classes.map(\.count).max() ?? 0) + 2)
        func pad(_ s: String) -> String { s.padding(toLength: width, withPad: " ", startingAt: 0) }
        lines.append("confusion (rows: true, columns: predicted)")
        lines.append(pad("") + r.classes.map(pad).joined())
        for (i, row) in r.confusion.enumerated() { lines.append(pad(r.classes[i]) + row.map { pad(String($0)) }.joined()) }
        for (i, c) in r.classes.enumerated() {
            let p = r.precision[i].map { String(format: "%.4f", $0) } ?? "—", q = r.recall[i].map { String(format: "%.4f", $0) } ?? "—"
            lines.append("\(pad(c))precision \(p)  recall \(q)")
        }
        return lines
    }
}
