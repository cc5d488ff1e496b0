import Extract
import Foundation
import HeadTrain
import KerasH5
import Store

/// `headstart report` and `run`'s report.html: one self-contained HTML file (no external resources: charts are
/// inline SVG, thumbnails are PNG data URIs) showing a head against its cache's validation split — the training
/// curves (when a history is given), the confusion matrix, the ROC curve, per-class accuracy, the cache's summary
/// and provenance, and the misclassified validation images as thumbnails with the probability of the named class.
public enum HTMLReport {
    /// The side of a thumbnail, in pixels.
    public static let thumbnailSize = 96
    /// At most this many misclassified images are shown as thumbnails (all are listed).
    public static let maxThumbnails = 60

    public struct Thumbnail {
        public var path: String
        public var label: String
        public var predicted: String
        /// "P(humans) = 0.0213"
        public var probability: String
        /// A PNG data URI, or nil with `problem` saying why the image could not be shown.
        public var dataURI: String?
        public var problem: String?
    }

    /// Evaluates `head` on the cache's validation split (unless given that evaluation) and writes the report to
    /// `out` (atomically).
    public static func write(cache cachePath: String, head: String, history: TrainingHistory?, title: String,
                             demo: Bool = false, evaluation given: HeadEvaluationReport? = nil, to out: String) throws {
        try OutputPath.check(out, as: "the report")
        var evaluation = try given ?? HeadEvaluation.run(cache: cachePath, head: head)
        if demo { evaluation.demo = PipelineRun.demoNote }
        let cache = try FeatureCache(path: cachePath, fingerprint: nil, readOnly: true)
        let overview = try Inspection.overview(cache)
        let thumbnails = self.thumbnails(evaluation, datasetRoot: overview.dataset)
        let text = html(title: title, evaluation: evaluation, overview: overview, history: history, thumbnails: thumbnails)
        try AtomicFile.write(Data(text.utf8), to: out)
    }

    /// Thumbnails of the first `maxThumbnails` misclassified images, read from the dataset folder the cache
    /// recorded; an image that cannot be read is shown by name with the reason.
    static func thumbnails(_ r: HeadEvaluationReport, datasetRoot: String) -> [Thumbnail] {
        r.misclassified.prefix(maxThumbnails).map { m in
            let probability = zip(m.probabilityClasses, m.probabilities)
                .map { "P(\($0)) = \(String(format: "%.4g", $1))" }.joined(separator: ", ")
            var t = Thumbnail(path: m.path, label: m.label, predicted: m.predicted, probability: probability)
            guard !datasetRoot.isEmpty else {
                t.problem = "the cache records no dataset folder"
                return t
            }
            do {
                let bytes = try ImageDecoder.readFile(fileSystemPath: Dataset.fileSystemPath(root: datasetRoot, relativePath: m.path),
                                                      name: m.path)
                let image = try ImageDecoder.decode(data: bytes, name: m.path).image
                let small = ImageResize.resize(image, height: thumbnailSize, width: thumbnailSize, method: .bilinear)
                t.dataURI = "data:image/png;base64," + Data(try ImageEncoder.png(small, name: m.path)).base64EncodedString()
            } catch {
                t.problem = "\(error)"
            }
            return t
        }
    }

    // MARK: HTML

    public static func html(title: String, evaluation r: HeadEvaluationReport, overview: CacheOverview,
                            history: TrainingHistory?, thumbnails: [Thumbnail]) -> String {
        var body = "<h1>\(escape(title))</h1>\n"
        if let demo = r.demo { body += "<p class=\"banner\">\(escape(demo))</p>\n" }
        if let warning = r.weightsWarning { body += "<p class=\"banner\">WARNING: \(escape(warning))</p>\n" }
        body += "<p>\(escape(r.split)) split of <code>\(escape(r.cache))</code>, \(r.count) images: accuracy "
            + String(format: "%.4f", r.accuracy) + ", loss " + String(format: "%.4f", r.loss)
            + (r.rocAUC.map { ", ROC AUC " + String(format: "%.4f", $0) } ?? "") + ". Head <code>\(escape(r.head))</code>.</p>\n"
        if let history, !history.epochs.isEmpty {
            body += "<h2>Training</h2>\n<figure id=\"curves\">\(TrainingReport.svg(history, title: "accuracy and loss per epoch"))</figure>\n"
        }
        body += "<h2>Confusion matrix</h2>\n" + confusionTable(r)
        body += "<h2>Per-class accuracy</h2>\n" + perClassChart(r)
        if let roc = r.rocCurve {
            body += "<h2>ROC curve</h2>\n<figure id=\"roc\">\(rocChart(roc, auc: r.rocAUC, positive: r.classes.count > 1 ? r.classes[1] : "class 1"))</figure>\n"
        }
        body += "<h2>Misclassified validation images (\(r.misclassified.count))</h2>\n" + gallery(thumbnails, total: r.misclassified.count)
        body += "<h2>Cache and provenance</h2>\n" + provenanceTable(r, overview)
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(escape(title))</title>
        <style>
        body { font-family: sans-serif; margin: 2em; max-width: 1000px; color: #222; }
        .banner { background: #fde8e8; border: 1px solid #d62728; padding: 0.5em; font-weight: bold; }
        table { border-collapse: collapse; margin: 0.5em 0; }
        td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
        th { background: #f4f4f4; }
        td.key { text-align: left; font-weight: bold; }
        .gallery { display: flex; flex-wrap: wrap; gap: 0.8em; }
        .gallery figure { margin: 0; width: \(thumbnailSize + 40)px; font-size: 11px; word-break: break-all; }
        .gallery img { width: \(thumbnailSize)px; height: \(thumbnailSize)px; display: block; }
        </style>
        </head>
        <body>
        \(body)</body>
        </html>

        """
    }

    static func confusionTable(_ r: HeadEvaluationReport) -> String {
        let maxCount = max(1, r.confusion.flatMap { $0 }.max() ?? 1)
        var s = "<table id=\"confusion\"><tr><th>true \\ predicted</th>" + r.classes.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
        for (i, row) in r.confusion.enumerated() {
            s += "<tr><th>\(escape(r.classes[i]))</th>"
            for (j, n) in row.enumerated() {
                // Shade by count: blue on the diagonal (right), red off it (wrong).
                let a = Double(n) / Double(maxCount)
                let colour = i == j ? "rgba(31,119,180,\(String(format: "%.2f", a * 0.6)))" : "rgba(214,39,40,\(String(format: "%.2f", a * 0.6)))"
                s += "<td style=\"background:\(colour)\">\(n)</td>"
            }
            s += "</tr>\n"
        }
        return s + "</table>\n"
    }

    /// One bar per class: the fraction of its images classified right (its recall).
    static func perClassChart(_ r: HeadEvaluationReport) -> String {
        let barH = 22.0, labelW = 160.0, barW = 400.0
        let height = Double(r.classes.count) * (barH + 8) + 10
        var s = "<svg id=\"per-class\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(labelW + barW + 80))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        for (i, name) in r.classes.enumerated() {
            let y = 5 + Double(i) * (barH + 8)
            let images = r.confusion[i].reduce(0, +)
            let accuracy = r.recall[i] ?? 0
            s += "<text x=\"\(labelW - 6)\" y=\"\(y + 15)\" text-anchor=\"end\">\(escape(name))</text>\n"
            s += "<rect x=\"\(labelW)\" y=\"\(y)\" width=\"\(barW)\" height=\"\(barH)\" fill=\"#eee\"/>\n"
            s += "<rect x=\"\(labelW)\" y=\"\(y)\" width=\"\(barW * accuracy)\" height=\"\(barH)\" fill=\"#1f77b4\"/>\n"
            s += "<text x=\"\(labelW + barW + 6)\" y=\"\(y + 15)\">\(r.recall[i].map { String(format: "%.3f", $0) } ?? "—") of \(images)</text>\n"
        }
        return s + "</svg>\n"
    }

    static func rocChart(_ points: [[Double]], auc: Double?, positive: String) -> String {
        let size = 300.0, m = 50.0
        func px(_ x: Double) -> Double { m + x * size }
        func py(_ y: Double) -> Double { m + (1 - y) * size }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(size + 2 * m))\" height=\"\(Int(size + 2 * m))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect x=\"\(m)\" y=\"\(m)\" width=\"\(size)\" height=\"\(size)\" fill=\"none\" stroke=\"#444\"/>\n"
        s += "<line x1=\"\(px(0))\" y1=\"\(py(0))\" x2=\"\(px(1))\" y2=\"\(py(1))\" stroke=\"#bbb\" stroke-dasharray=\"4 4\"/>\n"
        for v in stride(from: 0.0, through: 1.0, by: 0.25) {
            s += "<text x=\"\(px(v))\" y=\"\(m + size + 16)\" text-anchor=\"middle\">\(String(format: "%.2g", v))</text>\n"
            s += "<text x=\"\(m - 6)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.2g", v))</text>\n"
        }
        let pts = points.map { String(format: "%.1f,%.1f", px($0[0]), py($0[1])) }.joined(separator: " ")
        s += "<polyline fill=\"none\" stroke=\"#ff7f0e\" stroke-width=\"2\" points=\"\(pts)\"/>\n"
        s += "<text x=\"\(m + size / 2)\" y=\"\(m + size + 34)\" text-anchor=\"middle\">false positive rate</text>\n"
        s += "<text x=\"14\" y=\"\(m + size / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(m + size / 2))\">true positive rate</text>\n"
        let label = "positive class: \(escape(positive))" + (auc.map { String(format: ", AUC %.4f", $0) } ?? "")
        s += "<text x=\"\(m + size / 2)\" y=\"\(m - 12)\" text-anchor=\"middle\">\(label)</text>\n"
        return s + "</svg>\n"
    }

    static func gallery(_ thumbnails: [Thumbnail], total: Int) -> String {
        guard !thumbnails.isEmpty else { return "<p>None.</p>\n" }
        var s = "<div class=\"gallery\" id=\"misclassified\">\n"
        for t in thumbnails {
            let picture = t.dataURI.map { "<img src=\"\($0)\" alt=\"\(escape(t.path))\">" }
                ?? "<div style=\"width:\(thumbnailSize)px;height:\(thumbnailSize)px;background:#eee\">\(escape(t.problem ?? ""))</div>"
            s += "<figure>\(picture)<figcaption>\(escape(t.path))<br>\(escape(t.label)), predicted \(escape(t.predicted))<br>\(escape(t.probability))</figcaption></figure>\n"
        }
        s += "</div>\n"
        if total > thumbnails.count { s += "<p>… and \(total - thumbnails.count) more (evaluation.json lists them all).</p>\n" }
        return s
    }

    static func provenanceTable(_ r: HeadEvaluationReport, _ v: CacheOverview) -> String {
        let f = v.fingerprint
        let origin = WeightsOrigin(recorded: r.weightsOrigin)
        var rows: [(String, String)] = [
            ("weights", "\(f.weightsName) (SHA-256 \(f.weightsSHA256))"),
            ("weights origin", "\(origin)" + (origin.warning.map { " — \($0)" } ?? "")),
            ("features", "\(f.layer), input \(f.inputSize.map(String.init).joined(separator: "×")), resize \(f.resize), preprocess \(f.preprocess), \(f.dtype) \(f.featureShape)"),
            ("augmentation", f.augmentation),
            ("dataset", v.dataset.isEmpty ? "(not recorded)" : v.dataset),
            ("classes", v.classes.joined(separator: ", ")),
        ]
        for s in v.splits {
            rows.append((s.split, "\(s.images) images (" + s.classes.map { "\($0.name) \($0.images)" }.joined(separator: ", ") + ")"))
        }
        rows.append(("records", "\(v.records.total) (\(v.records.augmentedViews) augmented views)"))
        rows.append(("files that failed", "\(v.errors)"))
        rows.append(("created / updated", "\(v.created) / \(v.updated)"))
        return "<table id=\"provenance\">\n" + rows.map { "<tr><td class=\"key\">\(escape($0.0))</td><td style=\"text-align:left\">\(escape($0.1))</td></tr>" }
            .joined(separator: "\n") + "\n</table>\n"
    }

    static func escape(_ s: String) -> String { TrainingReport.escape(s) }
}
