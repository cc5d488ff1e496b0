import Extract
import Foundation
import HeadTrain
import KerasH5
import Numerics
import Store

/// A sweep over one cache: the configs, how far they train, how they are ranked, where results go.
public struct SweepJob {
    public var cache: String
    public var out: String
    public var configs: [SweepConfig]
    public var strategy: SweepStrategy = .full
    public var metric: SweepMetric = .valLoss
    /// Bytes of training state (weights, RMSprop state, activations) held at once. Heads sharing a pass are
    /// held together, so this bounds how many share one; halving keeps paused heads in memory when all of
    /// them fit, else writes their state to `configs/<id>/state.bin` between rungs.
    public var memoryBudget = 8 << 30
    /// How many of the best configs the validation-curves figure shows.
    public var plotTop = 5
    /// Damaged entries: refuse (the default) or sweep without them (`--skip-damaged`).
    public var damagePolicy: DamagePolicy = .refuse
    /// Only the configs of shard `index` of `count` (`SweepConfig.shard`), for several machines; `SweepMerge`
    /// joins the shards' folders into the unsharded sweep's. Only with the full strategy.
    public var shard: SweepShard? = nil

    public init(cache: String, out: String, configs: [SweepConfig]) {
        self.cache = cache; self.out = out; self.configs = configs
    }
}

/// One config's outcome, saved as `configs/<id>/result.json` the moment the config finishes (atomically:
/// written beside and renamed), which is what a rerun of the sweep resumes from.
public struct SweepResult: Codable, Equatable, Sendable {
    public var id: String
    public var config: SweepConfig
    /// The strategy's schedule and the cache's identity the result was made under; a rerun reuses a result
    /// only when both match.
    public var schedule: String
    public var cacheIdentity: String
    /// "completed", "stopped early" or "eliminated at rung i".
    public var status: String
    public var epochsTrained: Int
    /// The best epoch by the sweep's metric, and its numbers.
    public var bestEpoch: Int
    public var valLoss: Double?
    public var valAcc: Double?
    public var loss: Double
    public var acc: Double
    public var seconds: Double
    public var history: [EpochRecord]

    public struct EpochRecord: Codable, Equatable, Sendable {
        public var epoch: Int
        public var loss: Double
        public var accuracy: Double
        public var valLoss: Double?
        public var valAccuracy: Double?
        public var seconds: Double
        enum CodingKeys: String, CodingKey {
            case epoch, loss, accuracy, seconds
            case valLoss = "val_loss", valAccuracy = "val_accuracy"
        }
        init(_ e: EpochLog) {
            epoch = e.epoch; loss = e.loss; accuracy = e.accuracy; valLoss = e.valLoss; valAccuracy = e.valAccuracy
            seconds = e.seconds
        }
        var log: EpochLog { EpochLog(epoch: epoch, loss: loss, accuracy: accuracy, valLoss: valLoss, valAccuracy: valAccuracy, seconds: seconds) }
    }

    enum CodingKeys: String, CodingKey {
        case id, config, schedule, status, seconds, history, loss, acc
        case cacheIdentity = "cache_identity", epochsTrained = "epochs_trained", bestEpoch = "best_epoch"
        case valLoss = "val_loss", valAcc = "val_acc"
    }

    public var logs: [EpochLog] { history.map(\.log) }
    public var trainingHistory: TrainingHistory {
        var h = TrainingHistory()
        h.epochs = logs
        return h
    }
}

public enum SweepEvent {
    /// The configs, and those whose saved results are reused (by id).
    case planned(configs: [SweepConfig], resumed: [String: SweepResult])
    case started(id: String)
    case epoch(id: String, log: EpochLog)
    case finished(SweepResult)
    /// After a halving rung: which configs go on.
    case rung(index: Int, epoch: Int, kept: [String], eliminated: [String])
}

/// Shard `index` of `count` of a sweep's configs.
public struct SweepShard: Codable, Equatable, Sendable, CustomStringConvertible {
    public var index: Int, count: Int
    public init(index: Int, count: Int) { self.index = index; self.count = count }
    public var description: String { "\(index)/\(count)" }
}

public struct SweepOutcome {
    /// Every config's result, best first by the metric (ties: the lower id).
    public var ranked: [SweepResult]
    /// Configs trained (at least one epoch) in this run; the others were resumed from saved results.
    public var trainedCount: Int
    public var resumedCount: Int
    public var best: SweepResult? { ranked.first }
    public var wallSeconds: Double
    /// Entries left out as damaged (`--skip-damaged`).
    public var damaged: [DamagedEntry] = []
    /// The cache's identity (`Sweep.cacheIdentity`), and the shard this outcome covers (nil: every config).
    public var cacheIdentity = ""
    public var shard: SweepShard?
}

public enum Sweep {
    public static let resultName = "result.json", historyName = "history.csv", stateName = "state.bin"

    public static func configDirectory(_ out: String, _ id: String) -> String { "\(out)/configs/\(id)" }

    /// Runs the sweep: configs sharing (batch size, seed, shuffle) train in one pass over the data
    /// (`HeadGroupTrainer`), each bitwise as `headstart train` would train it alone; finished configs' results
    /// are written as they finish; at the end `sweep.csv`, `sweep.json`, `best.h5` (the best config's head at
    /// its best epoch, with its provenance and config) and `validation-curves.svg`.
    /// Stages: this machine's configs, the cache's splits, every head checked to fit, earlier results resumed,
    /// the strategy's training, the reports.
    @discardableResult
    public static func run(_ job: SweepJob, onEvent: (SweepEvent) -> Void = { _ in }) throws -> SweepOutcome {
        let wallStart = now()
        let configs = try machineConfigs(job)
        let data = try TrainingData(cache: job.cache, writes: false, views: false, policy: job.damagePolicy)
        let (cache, provenance, train, validation) = (data.cache, data.provenance, data.train, data.validation)
        guard train.count > 0 else { throw HeadTrainingError.noTrainingRecords(cache: job.cache) }
        let F = cache.fingerprint.featureCount, classes = max(2, provenance.classNames.count)
        try checkFits(configs, featureCount: F, classes: classes)
        let identity = try cacheIdentity(cache, train: train.count, validation: validation.count)
        try FileManager.default.createDirectory(atPath: "\(job.out)/configs", withIntermediateDirectories: true)
        return try withoutActuallyEscaping(onEvent) { onEvent in
            let runner = try SweepRunner(job: job, provenance: provenance, identity: identity, featureCount: F, classes: classes,
                                         train: train, validation: data.validationOrNil, onEvent: onEvent)
            runner.resume(configs)
            onEvent(.planned(configs: configs, resumed: runner.results))
            let resumedCount = runner.results.count
            switch job.strategy {
            case .full:
                let pending = configs.filter { runner.results[$0.id] == nil }
                try runner.trainStage(pending, from: 0, until: pending.map(\.epochs).max() ?? 0, keepInMemory: false, last: true)
            case let .halving(_, keep):
                try runner.halving(configs, keep: keep)
            }
            try runner.incumbent.flush(metadata: provenance.metadata)
            var outcome = SweepOutcome(ranked: rank(configs.compactMap { runner.results[$0.id] }, by: job.metric),
                                       trainedCount: runner.trained.count, resumedCount: resumedCount,
                                       wallSeconds: now() - wallStart)
            outcome.damaged = data.screening.damaged
            outcome.cacheIdentity = identity
            outcome.shard = job.shard
            try writeReports(outcome, out: job.out, metric: job.metric, schedule: runner.schedule, plotTop: job.plotTop) { _ in
                provenance.weightsOrigin
            }
            return outcome
        }
    }

    /// The job's configs this machine trains (all, or its shard's), after the checks a shard and halving need.
    static func machineConfigs(_ job: SweepJob) throws -> [SweepConfig] {
        guard !job.configs.isEmpty else { throw SweepSpecError.noConfigs }
        if let shard = job.shard {
            guard shard.count >= 1, (0..<shard.count).contains(shard.index) else {
                throw SweepSpecError.badShard(shard)
            }
            guard job.strategy == .full else {
                throw SweepSpecError.shardedHalving
            }
        }
        let configs = job.shard.map { s in job.configs.filter { $0.shard(of: s.count) == s.index } } ?? job.configs
        if case let .halving(k, keep) = job.strategy {
            guard k >= 1, keep > 0, keep < 1 else { throw SweepSpecError.halvingParameters(rungs: k, keep: keep) }
            guard Set(configs.map(\.epochs)).count == 1 else {
                throw SweepSpecError.halvingEpochs(Set(configs.map(\.epochs)).sorted())
            }
        }
        return configs
    }

    /// Every config's head must fit before any trains (passes are sized from these bytes).
    static func checkFits(_ configs: [SweepConfig], featureCount F: Int, classes: Int) throws {
        for c in configs {
            let config = HeadConfig(featureCount: F, hidden: c.hidden, classes: classes, dropout: c.dropout)
            do {
                try config.validate()
                guard Sweep.stateBytes(c, featureCount: F) <= Int(clamping: ProcessInfo.processInfo.physicalMemory) else {
                    throw HeadError.tooLarge(what: "training config \(c.label)", bytes: Sweep.stateBytes(c, featureCount: F),
                                             available: Int(clamping: ProcessInfo.processInfo.physicalMemory))
                }
            } catch let e as HeadError { throw SweepSpecError.config(label: c.label, error: e) }
        }
    }

    /// Results best first by `metric` at each one's best epoch (ties: the lower id).
    static func rank(_ results: [SweepResult], by metric: SweepMetric) -> [SweepResult] {
        results.sorted { a, b in
            let ka = metric.key(metric.bestEpoch(a.logs)!), kb = metric.key(metric.bestEpoch(b.logs)!)
            return ka == kb ? a.id < b.id : ka.lexicographicallyPrecedes(kb)
        }
    }

    /// `sweep.csv`, `sweep.json` and `validation-curves.svg` of an outcome, in `out`.
    static func writeReports(_ outcome: SweepOutcome, out: String, metric: SweepMetric, schedule: String, plotTop: Int,
                             weights: (SweepResult) -> WeightsOrigin) throws {
        try AtomicFile.write(Data(SweepReport.csv(outcome.ranked, weights: weights).utf8), to: "\(out)/sweep.csv")
        try AtomicFile.write(SweepReport.json(outcome, metric: metric, schedule: schedule), to: "\(out)/sweep.json")
        try AtomicFile.write(Data(SweepReport.svg(Array(outcome.ranked.prefix(plotTop)), metric: metric).utf8),
                             to: "\(out)/validation-curves.svg")
    }

    /// A finished config's `configs/<id>/history.csv` and `result.json` (what a rerun resumes from).
    static func writeResult(_ r: SweepResult, out: String, weights: WeightsOrigin) throws {
        let dir = configDirectory(out, r.id)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try AtomicFile.write(Data(TrainingReport.csv(r.trainingHistory, weights: weights).utf8), to: "\(dir)/\(historyName)")
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(r), to: "\(dir)/\(resultName)")
    }

    /// Bytes one config holds while training (`HeadTrainer.memoryBytes`; Int.max when that overflows).
    public static func stateBytes(_ c: SweepConfig, featureCount F: Int) -> Int {
        HeadTrainer.memoryBytes(config: HeadConfig(featureCount: F, hidden: c.hidden, classes: 2, dropout: c.dropout),
                                batchSize: c.batch) ?? .max
    }

    /// SHA-256 of the cache's fingerprint (sorted-key JSON) and its split sizes: results from another cache
    /// are not reused.
    static func cacheIdentity(_ cache: FeatureCache, train: Int, validation: Int) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var data = try enc.encode(cache.fingerprint)
        data.append(Data(";train=\(train);validation=\(validation)".utf8))
        return SHA256Hasher.digest(data).hex
    }

    /// A paused config's state: parameters then RMSprop velocity (each `layout.total` float32, native byte
    /// order), followed by its history as `history.json`.
    static func saveState(_ t: HeadTrainer, history: TrainingHistory, path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var data = Data()
        t.head.withParameters { data.append(UnsafeBufferPointer($0)) }
        t.stepper.withOptimizerState { data.append(UnsafeBufferPointer($0)) }
        try AtomicFile.write(data, to: path)
        let h = try JSONEncoder().encode(history.epochs.map(SweepResult.EpochRecord.init))
        try AtomicFile.write(h, to: path + ".history.json")
    }

    static func loadState(_ t: HeadTrainer, path: String) throws -> TrainingHistory {
        let n = t.head.layout.total
        guard let data = FileManager.default.contents(atPath: path), data.count == 2 * n * 4 else {
            throw SweepSpecError.trainingState(path: path, floats: 2 * n)
        }
        data.withUnsafeBytes { raw in
            let f = raw.bindMemory(to: Float.self)
            t.head.withParameters { $0.baseAddress!.update(from: f.baseAddress!, count: n) }
            t.stepper.withOptimizerState { $0.baseAddress!.update(from: f.baseAddress! + n, count: n) }
        }
        return TrainingHistory(epochs: try readHistory(path + ".history.json"))
    }

    static func loadHistory(_ out: String, _ id: String) throws -> [EpochLog] {
        try readHistory("\(configDirectory(out, id))/\(stateName).history.json")
    }

    static func readHistory(_ path: String) throws -> [EpochLog] {
        guard let data = FileManager.default.contents(atPath: path) else { throw SweepSpecError.missing(path: path) }
        return try JSONDecoder().decode([SweepResult.EpochRecord].self, from: data).map(\.log)
    }
}

extension TrainingHistory {
    init(epochs: [EpochLog]) { self.init(); self.epochs = epochs }
}

/// The best (config, epoch) seen so far by the metric — ties to the lower config id, then the earlier epoch —
/// held as a copy of its head in memory and written as `best.h5` (+ `best.json`) before any result that
/// depends on it, so `best.h5` is always the leaderboard winner's head at its best epoch, also across resumes.
struct Incumbent {
    let out: String, identity: String, schedule: String, metric: SweepMetric
    var key: [Double]?
    var id: String?
    var epoch: Int?
    var config: SweepConfig?
    var log: EpochLog?
    var head: Head?
    var dirty = false

    struct Saved: Codable {
        var id: String, epoch: Int, key: [Double], config: SweepConfig, schedule: String
        var cacheIdentity: String
        var valLoss: Double?, valAcc: Double?
        enum CodingKeys: String, CodingKey {
            case id, epoch, key, config, schedule
            case cacheIdentity = "cache_identity", valLoss = "val_loss", valAcc = "val_acc"
        }
    }

    init(out: String, identity: String, schedule: String, metric: SweepMetric) throws {
        self.out = out; self.identity = identity; self.schedule = schedule; self.metric = metric
        if let data = FileManager.default.contents(atPath: "\(out)/best.json"),
           let s = try? JSONDecoder().decode(Saved.self, from: data), s.cacheIdentity == identity, s.schedule == schedule,
           FileManager.default.fileExists(atPath: "\(out)/best.h5") {
            key = s.key; id = s.id; epoch = s.epoch; config = s.config
        }
    }

    func better(_ k: [Double], _ cid: String, _ e: Int) -> Bool {
        guard let key, let id, let epoch else { return true }
        return Incumbent.precedes((k, cid, e), (key, id, epoch))
    }

    /// The order of (config, epoch) candidates: the metric's key, then the lower config id, then the earlier epoch.
    static func precedes(_ a: (key: [Double], id: String, epoch: Int), _ b: (key: [Double], id: String, epoch: Int)) -> Bool {
        if a.key != b.key { return a.key.lexicographicallyPrecedes(b.key) }
        if a.id != b.id { return a.id < b.id }
        return a.epoch < b.epoch
    }

    mutating func consider(_ c: SweepConfig, log: EpochLog, head: Head) {
        let k = metric.key(log)
        guard better(k, c.id, log.epoch) else { return }
        key = k; id = c.id; epoch = log.epoch; config = c; self.log = log
        // Reuse the held copy's memory when the shapes agree (no fresh pages to fault in).
        if let held = self.head, held.config == head.config {
            head.withParameters { src in held.withParameters { dst in _ = dst.update(from: src) } }
        } else {
            self.head = head.copy()
        }
        dirty = true
    }

    mutating func flush(metadata: [String: String]) throws {
        guard dirty, let head, let config, let id, let epoch, let key, let log else { return }
        var m = metadata
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        m["sweep_config"] = String(decoding: try enc.encode(config), as: UTF8.self)
        m["sweep_config_id"] = id
        m["sweep_epoch"] = String(epoch)
        if let v = log.valLoss { m["sweep_val_loss"] = String(v) }
        if let v = log.valAccuracy { m["sweep_val_acc"] = String(v) }
        try HeadFile.save(head, to: "\(out)/best.h5", metadata: m)  // appears whole or not at all
        let saved = Saved(id: id, epoch: epoch, key: key, config: config, schedule: schedule, cacheIdentity: identity,
                          valLoss: log.valLoss, valAcc: log.valAccuracy)
        try AtomicFile.write(enc.encode(saved), to: "\(out)/best.json")
        dirty = false
    }
}

/// One sweep's training state as it runs: the results so far (resumed or finished), the heads kept in memory
/// between rungs, the best head yet (`incumbent`), and the stages that train passes and rungs.
final class SweepRunner {
    let job: SweepJob
    let provenance: HeadProvenance
    let identity: String
    let schedule: String
    let F: Int, classes: Int
    let train: FeatureSource, validation: FeatureSource?
    let onEvent: (SweepEvent) -> Void
    var incumbent: Incumbent
    var results: [String: SweepResult] = [:]
    var trained = Set<String>()
    var live: [String: (trainer: HeadTrainer, history: TrainingHistory)] = [:]

    init(job: SweepJob, provenance: HeadProvenance, identity: String, featureCount: Int, classes: Int,
         train: FeatureSource, validation: FeatureSource?, onEvent: @escaping (SweepEvent) -> Void) throws {
        self.job = job; self.provenance = provenance; self.identity = identity
        schedule = job.strategy.schedule(job.metric)
        F = featureCount; self.classes = classes
        self.train = train; self.validation = validation; self.onEvent = onEvent
        incumbent = try Incumbent(out: job.out, identity: identity, schedule: schedule, metric: job.metric)
    }

    /// Results saved under the same schedule from the same cache.
    func resume(_ configs: [SweepConfig]) {
        for c in configs {
            let path = "\(Sweep.configDirectory(job.out, c.id))/\(Sweep.resultName)"
            guard let data = FileManager.default.contents(atPath: path),
                  let r = try? JSONDecoder().decode(SweepResult.self, from: data),
                  r.config == c, r.schedule == schedule, r.cacheIdentity == identity else { continue }
            results[c.id] = r
        }
    }

    func finish(_ c: SweepConfig, _ history: TrainingHistory, status: String) throws {
        try incumbent.flush(metadata: provenance.metadata)
        let best = job.metric.bestEpoch(history.epochs)!
        let r = SweepResult(id: c.id, config: c, schedule: schedule, cacheIdentity: identity, status: status,
                            epochsTrained: history.epochs.count, bestEpoch: best.epoch, valLoss: best.valLoss,
                            valAcc: best.valAccuracy, loss: best.loss, acc: best.accuracy,
                            seconds: history.epochs.reduce(0) { $0 + $1.seconds },
                            history: history.epochs.map(SweepResult.EpochRecord.init))
        try Sweep.writeResult(r, out: job.out, weights: provenance.weightsOrigin)
        try? FileManager.default.removeItem(atPath: "\(Sweep.configDirectory(job.out, c.id))/\(Sweep.stateName)")
        results[c.id] = r
        live[c.id] = nil
        onEvent(.finished(r))
    }

    /// Trains `configs` (all at `from` epochs done, none finished) until `until` epochs (each capped by its
    /// own count), in passes of heads sharing (batch, seed, shuffle), each pass within the memory budget.
    func trainStage(_ configs: [SweepConfig], from: Int, until: Int, keepInMemory: Bool, last: Bool) throws {
        var groups: [SweepConfig.PassKey: [SweepConfig]] = [:]
        var order: [SweepConfig.PassKey] = []
        for c in configs {
            if groups[c.passKey] == nil { order.append(c.passKey) }
            groups[c.passKey, default: []].append(c)
        }
        for key in order {
            var chunks: [[SweepConfig]] = [[]]
            var bytes = 0
            for c in groups[key]! {
                let b = Sweep.stateBytes(c, featureCount: F)
                if !chunks[chunks.count - 1].isEmpty && bytes + b > job.memoryBudget { chunks.append([]); bytes = 0 }
                chunks[chunks.count - 1].append(c); bytes += b
            }
            for chunk in chunks { try trainPass(chunk, from: from, until: until, keepInMemory: keepInMemory, last: last) }
        }
    }

    /// One pass: `chunk`'s heads (restored from memory or disk past epoch 0) trained together epoch by epoch;
    /// those that stop early or reach their epochs at the last stage finish, the others are kept or saved.
    func trainPass(_ chunk: [SweepConfig], from: Int, until: Int, keepInMemory: Bool, last: Bool) throws {
        var trainers: [HeadTrainer] = []
        var histories: [TrainingHistory] = []
        for c in chunk {
            if let l = live[c.id] { trainers.append(l.trainer); histories.append(l.history); continue }
            let head = try Head(config: HeadConfig(featureCount: F, hidden: c.hidden, classes: classes, dropout: c.dropout), seed: c.seed)
            let t = try HeadTrainer(head: head, options: c.trainingOptions)
            var h = TrainingHistory()
            if from > 0 { h = try Sweep.loadState(t, path: "\(Sweep.configDirectory(job.out, c.id))/\(Sweep.stateName)") }
            trainers.append(t); histories.append(h)
        }
        let group = try HeadGroupTrainer(trainers: trainers, startEpoch: from)
        for (i, h) in histories.enumerated() where from > 0 { group.restore(i, history: h) }
        for c in chunk where from == 0 { trained.insert(c.id); onEvent(.started(id: c.id)) }
        var done = Set<Int>()
        for e in from..<until {
            try group.train(train: train, validation: validation, until: e + 1,
                            onEpoch: { i, log in
                                self.onEvent(.epoch(id: chunk[i].id, log: log))
                                self.incumbent.consider(chunk[i], log: log, head: group.members[i].head)
                            })
            for (i, m) in group.members.enumerated() where !done.contains(i) {
                if m.history.stoppedEarly {
                    done.insert(i); try finish(chunk[i], m.history, status: "stopped early")
                } else if m.epochsDone >= chunk[i].epochs && last {
                    done.insert(i); try finish(chunk[i], m.history, status: "completed")
                }
            }
            if done.count == chunk.count { break }
        }
        for (i, m) in group.members.enumerated() where !done.contains(i) {
            if keepInMemory {
                live[chunk[i].id] = (m.trainer, m.history)
            } else {
                try Sweep.saveState(m.trainer, history: m.history, path: "\(Sweep.configDirectory(job.out, chunk[i].id))/\(Sweep.stateName)")
            }
        }
    }

    /// Successive halving: every rung trains the configs alive to its epoch, then keeps the best `keep` fraction
    /// (rounded up, at least one) by each one's best epoch up to the rung, finishing the others.
    func halving(_ configs: [SweepConfig], keep: Double) throws {
        let rungs = job.strategy.rungEpochs(configs[0].epochs)
        var alive = configs
        let pendingBytes = alive.filter { results[$0.id] == nil }.reduce(0) { $0 + Sweep.stateBytes($1, featureCount: F) }
        let keepInMemory = pendingBytes <= job.memoryBudget
        var from = 0
        for (r, until) in rungs.enumerated() {
            let last = r == rungs.count - 1
            let pending = alive.filter { results[$0.id] == nil }
            try trainStage(pending, from: from, until: until, keepInMemory: keepInMemory, last: last)
            if last { break }
            // Rank every config alive at this rung by its best epoch up to the rung.
            func history(_ c: SweepConfig) -> [EpochLog] {
                results[c.id]?.logs ?? live[c.id]?.history.epochs ?? (try? Sweep.loadHistory(job.out, c.id)) ?? []
            }
            let metric = job.metric
            let ranked = alive.sorted { a, b in
                let ka = metric.key(metric.bestEpoch(history(a), limit: until)!)
                let kb = metric.key(metric.bestEpoch(history(b), limit: until)!)
                return ka == kb ? a.id < b.id : ka.lexicographicallyPrecedes(kb)
            }
            let n = max(1, Int((Double(alive.count) * keep).rounded(.up)))
            let kept = Set(ranked.prefix(n).map(\.id))
            let eliminated = alive.filter { !kept.contains($0.id) }
            for c in eliminated where results[c.id] == nil {
                let h = try live[c.id]?.history ?? TrainingHistory(epochs: Sweep.loadHistory(job.out, c.id))
                try finish(c, h, status: "eliminated at rung \(r + 1)")
            }
            alive = alive.filter { kept.contains($0.id) }
            onEvent(.rung(index: r + 1, epoch: until, kept: alive.map(\.id), eliminated: eliminated.map(\.id)))
            from = until
        }
    }
}
