import ArgumentParser
import Foundation
import HeadTrain
import Pipeline

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML report of a head on a cache: curves, confusion matrix, ROC, mistakes with thumbnails.",
        discussion: """
        One self-contained HTML file (inline SVG charts, thumbnails as data URIs): the head scored on the cache's \
        validation split — confusion matrix, per-class accuracy, ROC curve (two classes), the misclassified \
        images as thumbnails (read from the dataset folder the cache records) with the probability of the named \
        class — the cache's summary and where its weights came from, and the training curves when --history \
        gives the CSV `train --history` wrote. `run` writes the same report as report.html.

        Example:
          headstart report out/hh-cache --head head.h5 --history history.csv --out report.html
        """)

    @Argument(help: "A cache written by `headstart extract`.") var cache: String
    @Option(help: "A head written by `headstart train`.") var head: String
    @Option(help: "The training history (CSV written by `train --history`), for the curves.") var history: String?
    @Option(name: .shortAndLong, help: "The HTML file to write.") var out: String
    @Option(help: "The report's title (default: the cache folder's name).") var title: String?

    func validate() throws {
        try checked { try OutputPath.check(out, as: "--out") }
    }

    func run() throws {
        let h = try history.map { path -> TrainingHistory in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("--history \(path): cannot be read.")
            }
            return try TrainingReport.history(csv: text, source: path)
        }
        let name = title ?? URL(fileURLWithPath: cache).lastPathComponent
        try HTMLReport.write(cache: cache, head: head, history: h, title: name, to: out)
        print("wrote \(out)")
    }
}
