import Foundation
import Extract
import HeadTrain

/// A sweep's results as files: `sweep.csv` (one row per config, best first), `sweep.json`, and an SVG of the
/// top configs' validation curves.
public enum SweepReport {
    public static let csvHeader = "rank,id,lr,hidden,dropout,batch,epochs,seed,shuffle,status,epochs_trained,best_epoch,val_loss,val_acc,loss,acc,weights,seconds"

    /// val_loss, val_acc (and loss, acc) are those of each config's best epoch by the sweep's metric; `weights`
    /// is the origin of the base weights behind each config's features (as in every history.csv).
    public static func csv(_ ranked: [SweepResult], weights: (SweepResult) -> WeightsOrigin) -> String {
        var s = csvHeader + "\n"
        func g(_ v: Double?) -> String { v.map { String(format: "%.8g", $0) } ?? "" }
        for (i, r) in ranked.enumerated() {
            let c = r.config
            s += "\(i + 1),\(r.id),\(c.lr),\(c.hidden),\(c.dropout),\(c.batch),\(c.epochs),\(c.seed),\(c.shuffle),"
                + "\(r.status),\(r.epochsTrained),\(r.bestEpoch),\(g(r.valLoss)),\(g(r.valAcc)),\(g(r.loss)),\(g(r.acc)),\(weights(r).recorded),"
                + String(format: "%.3f", r.seconds) + "\n"
        }
        return s
    }

    /// `sweep.json`. `cache_identity` (the swept cache's fingerprint and split sizes, hashed) and `shard`
    /// (absent for a whole sweep) let `sweep merge` check that shards belong together; sweeps written before
    /// they existed lack them.
    struct JSONOutput: Codable {
        var metric: String
        var schedule: String
        var trained: Int
        var resumed: Int
        var wallSeconds: Double
        var best: String?
        var results: [SweepResult]
        var cacheIdentity: String?
        var shard: SweepShard?
        enum CodingKeys: String, CodingKey {
            case metric, schedule, trained, resumed, best, results, shard
            case wallSeconds = "wall_seconds", cacheIdentity = "cache_identity"
        }
    }

    public static func json(_ o: SweepOutcome, metric: SweepMetric, schedule: String) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(JSONOutput(metric: metric.rawValue, schedule: schedule, trained: o.trainedCount,
                                         resumed: o.resumedCount, wallSeconds: o.wallSeconds, best: o.best?.id,
                                         results: o.ranked, cacheIdentity: o.cacheIdentity, shard: o.shard))
    }

    /// One panel: the metric's validation value (val_loss or val_accuracy) per epoch, one coloured line per
    /// config (best first), with a legend of their labels.
    public static func svg(_ top: [SweepResult], metric: SweepMetric) -> String {
        let W = 640.0, H = 360.0, left = 60.0, topM = 40.0, legendW = 300.0
        let colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        func value(_ e: SweepResult.EpochRecord) -> Double? {
            metric == .valLoss ? (e.valLoss ?? e.loss) : (e.valAccuracy ?? e.accuracy)
        }
        let name = metric == .valLoss ? "validation loss" : "validation accuracy"
        let values = top.flatMap { $0.history.compactMap(value) }.filter(\.isFinite)
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        let e1 = Double(max(2, top.map(\.history.count).max() ?? 2))
        func px(_ e: Double) -> Double { left + (e - 1) / (e1 - 1) * W }
        func py(_ v: Double) -> Double { topM + (hi - min(max(v, lo), hi)) / (hi - lo) * H }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(left + W + 30 + legendW))" height="\(Int(topM + H + 60))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left + W / 2)" y="22" text-anchor="middle" font-size="14">\(name) of the top \(top.count) configs</text>
        <rect x="\(left)" y="\(topM)" width="\(W)" height="\(H)" fill="none" stroke="#444"/>

        """
        for i in 0...4 {
            let v = lo + (hi - lo) * Double(i) / 4
            out += "<text x=\"\(left - 6)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>\n"
            out += "<line x1=\"\(left)\" x2=\"\(left + W)\" y1=\"\(py(v))\" y2=\"\(py(v))\" stroke=\"#ddd\"/>\n"
        }
        out += "<text x=\"\(left + W / 2)\" y=\"\(topM + H + 30)\" text-anchor=\"middle\">epoch (1–\(Int(e1)))</text>\n"
        for (i, r) in top.enumerated() {
            let colour = colours[i % colours.count]
            let pts = r.history.compactMap { e in value(e).flatMap { $0.isFinite ? String(format: "%.1f,%.1f", px(Double(e.epoch)), py($0)) : nil } }
            if !pts.isEmpty {
                out += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>\n"
            }
            out += "<text x=\"\(left + W + 20)\" y=\"\(topM + 14 + 18 * Double(i))\" fill=\"\(colour)\">\(i + 1). \(TrainingReport.escape(r.config.label))</text>\n"
        }
        return out + "</svg>\n"
    }

    /// The leaderboard as text rows (best first): rank, id, config, best epoch, val_loss, val_acc, status.
    public static func leaderboard(_ ranked: [SweepResult], metric: SweepMetric) -> String {
        var s = row(["rank", "id", "config", "best", "val_loss", "val_acc", "status"]) + "\n"
        for (i, r) in ranked.enumerated() {
            s += row([String(i + 1), r.id, r.config.label, String(r.bestEpoch),
                      r.valLoss.map { String(format: "%.4f", $0) } ?? "-", r.valAcc.map { String(format: "%.4f", $0) } ?? "-",
                      r.status]) + "\n"
        }
        return s
    }

    /// Columns padded to the leaderboard's widths (negative: right-aligned).
    public static func row(_ cells: [String], widths: [Int] = [-4, 12, 30, -4, -9, -7, 0]) -> String {
        zip(cells, widths).map { cell, w in
            let n = abs(w) - cell.count
            guard n > 0 else { return cell }
            let pad = String(repeating: " ", count: n)
            return w < 0 ? pad + cell : cell + pad
        }.joined(separator: "  ")
    }
}
