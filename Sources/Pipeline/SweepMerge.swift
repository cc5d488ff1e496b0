import Extract
import Foundation
import KerasH5

/// Why shard folders of a sweep cannot be merged: the folder or the difference, named.
public struct SweepMergeError: Error, CustomStringConvertible, Equatable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// `headstart sweep merge`: the folders of `sweep --shard i/n` (each trained on its own machine) into the
/// folder one unsharded sweep writes.
public enum SweepMerge {
    /// Reads every source's `sweep.json` and checks that they belong together — the same metric, schedule and
    /// cache (fingerprint and split sizes), one shard count, every shard exactly once — then writes to `out` what
    /// one unsharded sweep writes: `configs/<id>/result.json` and `history.csv`, `sweep.csv` and `sweep.json`
    /// ranked over every config, `validation-curves.svg`, and `best.h5` (+ `best.json`): the head of the best
    /// (config, epoch) of all shards, copied from the shard that trained it.
    public static func run(sources: [String], out: String, plotTop: Int = 5) throws -> (outcome: SweepOutcome, metric: SweepMetric) {
        guard !sources.isEmpty else { throw SweepMergeError("give the sweep folders to merge") }
        let sweeps = try sources.map { dir -> (dir: String, json: SweepReport.JSONOutput) in
            let path = "\(dir)/sweep.json"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SweepMergeError("\(path) is missing: \(dir) is not the folder of a finished sweep (run `headstart sweep … --shard i/n --out \(dir)` to finish it)")
            }
            do { return (dir, try JSONDecoder().decode(SweepReport.JSONOutput.self, from: data)) } catch {
                throw SweepMergeError("\(path) is not a sweep's sweep.json: \(error)")
            }
        }
        try checkTogether(sweeps)
        let first = sweeps[0].json
        guard let metric = SweepMetric(rawValue: first.metric) else {
            throw SweepMergeError("\(sweeps[0].dir)/sweep.json: unknown metric \(first.metric)")
        }
        var results = [String: SweepResult](), shardOf = [String: String]()
        for s in sweeps {
            for r in s.json.results where results[r.id] == nil { results[r.id] = r; shardOf[r.id] = s.dir }
        }
        let ranked = Sweep.rank(Array(results.values), by: metric)

        try FileManager.default.createDirectory(atPath: "\(out)/configs", withIntermediateDirectories: true)
        var weights = [String: WeightsOrigin]()
        for r in ranked {
            weights[r.id] = recordedWeights(Sweep.configDirectory(shardOf[r.id]!, r.id))
            try Sweep.writeResult(r, out: out, weights: weights[r.id]!)
        }
        try copyBestHead(sweeps.map(\.dir), identity: first.cacheIdentity, schedule: first.schedule, leader: ranked.first?.id, out: out)

        var outcome = SweepOutcome(ranked: ranked, trainedCount: sweeps.reduce(0) { $0 + $1.json.trained },
                                   resumedCount: sweeps.reduce(0) { $0 + $1.json.resumed },
                                   wallSeconds: sweeps.map(\.json.wallSeconds).max() ?? 0)
        outcome.cacheIdentity = first.cacheIdentity ?? ""
        try Sweep.writeReports(outcome, out: out, metric: metric, schedule: first.schedule, plotTop: plotTop) { weights[$0.id]! }
        return (outcome, metric)
    }

    /// The weights origin a shard's config history records (its last column), `unrecorded` when it has none.
    static func recordedWeights(_ configDirectory: String) -> WeightsOrigin {
        guard let data = FileManager.default.contents(atPath: "\(configDirectory)/\(Sweep.historyName)"),
              let text = String(data: data, encoding: .utf8) else { return .unrecorded }
        let lines = text.split(separator: "\n")
        guard lines.count > 1, lines[0].hasSuffix(",weights"), let last = lines[1].split(separator: ",").last else {
            return .unrecorded
        }
        let word = String(last)
        return WeightsOrigin(recorded: word.hasPrefix("DEMO ") ? String(word.dropFirst(5)) : word)
    }

    /// The same metric, schedule and cache in every sweep; one shard count; each shard once, none missing.
    static func checkTogether(_ sweeps: [(dir: String, json: SweepReport.JSONOutput)]) throws {
        let (a, first) = (sweeps[0].dir, sweeps[0].json)
        for (b, s) in sweeps.dropFirst() {
            if s.metric != first.metric {
                throw SweepMergeError("\(a) ranks configs by \(first.metric), \(b) by \(s.metric): shards of one sweep rank by one metric")
            }
            if s.schedule != first.schedule {
                throw SweepMergeError("\(a) ran schedule \(first.schedule), \(b) ran \(s.schedule): shards of one sweep run one schedule")
            }
            if s.cacheIdentity != first.cacheIdentity {
                throw SweepMergeError("\(a) and \(b) swept different caches (cache identity \(first.cacheIdentity ?? "none") and \(s.cacheIdentity ?? "none"): the fingerprint or the split sizes differ, or one was extracted again between them)")
            }
        }
        let shards = sweeps.map { $0.json.shard ?? SweepShard(index: 0, count: 1) }
        var owner = [Int: String]()
        for ((dir, _), shard) in zip(sweeps, shards) {
            guard shard.count == shards[0].count else {
                throw SweepMergeError("\(a) is shard \(shards[0]) and \(dir) is shard \(shard): the shards of one sweep have one count")
            }
            if let other = owner[shard.index] { throw SweepMergeError("\(other) and \(dir) are both shard \(shard)") }
            owner[shard.index] = dir
        }
        let missing = (0..<shards[0].count).filter { owner[$0] == nil }.map { "\($0)/\(shards[0].count)" }
        guard missing.isEmpty else {
            throw SweepMergeError("shard \(missing.joined(separator: ", ")) missing: the merge needs every shard's folder to rank every config")
        }
    }

    /// Copies `best.h5` and `best.json` of the sweep whose best (config, epoch) comes first (`Incumbent`'s
    /// order), after checking it is the leaderboard's leader.
    static func copyBestHead(_ dirs: [String], identity: String?, schedule: String, leader: String?, out: String) throws {
        var best: (dir: String, saved: Incumbent.Saved)?
        for dir in dirs {
            guard let data = FileManager.default.contents(atPath: "\(dir)/best.json"),
                  let saved = try? JSONDecoder().decode(Incumbent.Saved.self, from: data),
                  saved.cacheIdentity == identity, saved.schedule == schedule,
                  FileManager.default.fileExists(atPath: "\(dir)/best.h5") else { continue }
            if best.map({ Incumbent.precedes((saved.key, saved.id, saved.epoch), ($0.saved.key, $0.saved.id, $0.saved.epoch)) }) ?? true {
                best = (dir, saved)
            }
        }
        guard let leader else { return }
        guard let best else { throw SweepMergeError("no sweep folder holds a best.h5 of its results: run each shard's sweep to its end") }
        guard best.saved.id == leader else {
            throw SweepMergeError("\(best.dir)/best.h5 is config \(best.saved.id), but the best config of all shards is \(leader): run that config's shard again to its end")
        }
        for name in ["best.h5", "best.json"] {
            guard let data = FileManager.default.contents(atPath: "\(best.dir)/\(name)") else {
                throw SweepMergeError("cannot read \(best.dir)/\(name)")
            }
            try AtomicFile.write(data, to: "\(out)/\(name)")
        }
    }
}
