import Foundation
import HeadTrain
import Numerics

/// One head-training configuration of a sweep: what `headstart train` would be given.
public struct SweepConfig: Codable, Equatable, Hashable, Sendable {
    public var lr: Float
    public var hidden: Int
    public var dropout: Float
    public var batch: Int
    public var epochs: Int
    /// Seeds the initial weights, the shuffles and the dropout masks (`headstart train --seed`).
    public var seed: UInt64
    public var shuffle: Bool
    public var earlyStop: Int?

    public init(lr: Float, hidden: Int, dropout: Float, batch: Int, epochs: Int, seed: UInt64 = 0, shuffle: Bool = true,
                earlyStop: Int? = nil) {
        self.lr = lr; self.hidden = hidden; self.dropout = dropout; self.batch = batch; self.epochs = epochs
        self.seed = seed; self.shuffle = shuffle; self.earlyStop = earlyStop
    }

    enum CodingKeys: String, CodingKey {
        case lr, hidden, dropout, batch, epochs, seed, shuffle
        case earlyStop = "early_stop"
    }

    /// Everything that decides the trained head, in a fixed order; Swift prints floats as their shortest
    /// round-trip decimal, so the text (and the id) is stable across runs and machines.
    public var canonical: String {
        "v1;lr=\(lr);hidden=\(hidden);dropout=\(dropout);batch=\(batch);epochs=\(epochs);seed=\(seed);"
            + "shuffle=\(shuffle);early_stop=\(earlyStop.map(String.init) ?? "none")"
    }

    /// The first 12 hex digits of SHA-256(canonical): the config's folder name under `configs/`.
    public var id: String { String(SHA256Hasher.digest(Data(canonical.utf8)).hex.prefix(12)) }

    /// The shard of `count` this config belongs to (`sweep --shard i/n`): its id (48 bits of a hash of its
    /// settings) modulo `count`, the same on every machine.
    public func shard(of count: Int) -> Int { Int(UInt64(id, radix: 16)! % UInt64(max(1, count))) }

    /// Short human label, e.g. "lr=0.0003 h=512 d=0.5 b=20".
    public var label: String { "lr=\(lr) h=\(hidden) d=\(dropout) b=\(batch)" }

    public var trainingOptions: TrainingOptions {
        TrainingOptions(epochs: epochs, batchSize: batch, learningRate: lr, shuffle: shuffle, seed: seed,
                        earlyStopPatience: earlyStop)
    }

    /// Heads in one pass over the data must visit the same samples in the same order with the same dropout
    /// streams: the same (batch size, seed, shuffle).
    public struct PassKey: Hashable { public var batch: Int; public var seed: UInt64; public var shuffle: Bool }
    public var passKey: PassKey { PassKey(batch: batch, seed: seed, shuffle: shuffle) }
}

/// Which validation number ranks configs: the lowest val_loss, or the highest val_accuracy (ties broken by
/// the lower val_loss). Without a validation split the training loss/accuracy stand in.
public enum SweepMetric: String, Codable, CaseIterable, Sendable {
    case valLoss = "val_loss", valAcc = "val_acc"

    /// Smaller is better, compared lexicographically.
    public func key(_ e: EpochLog) -> [Double] {
        let loss = e.valLoss ?? e.loss
        switch self {
        case .valLoss: return [loss]
        case .valAcc: return [-(e.valAccuracy ?? e.accuracy), loss]
        }
    }

    /// The best epoch (1-based, the first of equals) among the first `limit` epochs.
    public func bestEpoch(_ epochs: [EpochLog], limit: Int = .max) -> EpochLog? {
        var best: EpochLog?
        for e in epochs.prefix(limit) where best == nil || key(e).lexicographicallyPrecedes(key(best!)) { best = e }
        return best
    }
}

/// The word that chooses a `SweepStrategy` (`sweep --strategy`, a pipeline's `sweep.strategy`): `full` (or `grid`)
/// trains every config to its epochs, `halving` is successive halving.
public enum SweepStrategyName: String, Codable, CaseIterable, Sendable {
    case full, grid, halving

    public func strategy(rungs: Int, keep: Double) -> SweepStrategy {
        self == .halving ? .halving(rungs: rungs, keep: keep) : .full
    }
}

/// How far configs train: all of them to their epochs (grid or random), or successive halving.
public enum SweepStrategy: Equatable, Sendable {
    case full
    /// Successive halving (Jamieson & Talwalkar 2016): every config trains to the first rung's epochs; the best
    /// `keep` fraction (rounded up, at least one) by the metric — each config's best epoch so far — goes on to
    /// the next rung, and so on; the last rung is the full epoch count E. Rung i of K ends at epoch
    ///     e_i = max(1, round(E · keep^(K−1−i)))
    /// (repeated values merged): with E = 40, K = 3, keep = 1/2 the rungs are 10, 20, 40 epochs.
    case halving(rungs: Int, keep: Double)

    public func rungEpochs(_ epochs: Int) -> [Int] {
        switch self {
        case .full: return [epochs]
        case let .halving(k, keep):
            var out: [Int] = []
            for i in 0..<k {
                let e = i == k - 1 ? epochs : max(1, Int((Double(epochs) * pow(keep, Double(k - 1 - i))).rounded()))
                if e > (out.last ?? 0) { out.append(min(e, epochs)) }
            }
            return out
        }
    }

    /// Written into each result, so a rerun reuses only results made under the same schedule.
    public func schedule(_ metric: SweepMetric) -> String {
        switch self {
        case .full: return "full"
        case let .halving(k, keep): return "halving(rungs=\(k),keep=\(keep),metric=\(metric.rawValue))"
        }
    }
}

/// Why a sweep cannot be planned, resumed or merged, naming the setting, config, shard or file concerned.
public enum SweepSpecError: Error, CustomStringConvertible {
    /// A hyper-parameter's range is not LOW:HIGH with LOW ≤ HIGH.
    case badRange(name: String, text: String)
    /// A value of a hyper-parameter's list is not a number.
    case notANumber(name: String, text: String, value: String)
    /// A hyper-parameter lists no values.
    case noValues(name: String)
    /// A range given for a grid sweep (ranges are sampled: `--random N`).
    case rangeInGrid(name: String)
    /// A config's learning rate is not a positive finite number.
    case learningRate(Float)
    /// A config's hidden units, batch or epochs below 1.
    case sizes(hidden: Int, batch: Int, epochs: Int)
    /// A config's dropout outside [0, 1).
    case dropout(Float)
    /// `--random` below 1.
    case noRandomConfigs
    /// The sweep has no configs.
    case noConfigs
    /// A shard whose index is not in 0 ..< count.
    case badShard(SweepShard)
    /// Halving asked for on a shard.
    case shardedHalving
    /// Halving's rungs below 1 or its keep fraction outside (0, 1).
    case halvingParameters(rungs: Int, keep: Double)
    /// Halving over configs with different epoch budgets.
    case halvingEpochs([Int])
    /// A config the head cannot be built for (too large, invalid).
    case config(label: String, error: HeadError)
    /// A config's saved training state is missing or of the wrong size.
    case trainingState(path: String, floats: Int)
    /// A file the sweep wrote before is missing.
    case missing(path: String)

    public var description: String {
        switch self {
        case let .badRange(name, text): return "\(name) '\(text)': a range is LOW:HIGH with LOW ≤ HIGH"
        case let .notANumber(name, text, value): return "\(name) '\(text)': '\(value)' is not a number"
        case let .noValues(name): return "\(name): no values"
        case let .rangeInGrid(name): return "\(name): a range needs --random N (a grid takes lists)"
        case let .learningRate(lr): return "lr must be positive (found \(lr))"
        case let .sizes(h, b, e): return "hidden, batch and epochs must be at least 1 (found \(h), \(b), \(e))"
        case let .dropout(d): return "dropout must be in [0, 1) (found \(d))"
        case .noRandomConfigs: return "--random needs at least 1 config"
        case .noConfigs: return "the sweep has no configs"
        case let .badShard(shard): return "shard \(shard): the index must be at least 0 and below the count"
        case .shardedHalving:
            return "--strategy halving cannot be sharded: each rung keeps the best configs by every config's result at that rung, which no shard has. Shard a full sweep (each config trains to its epochs), or run halving on one machine"
        case let .halvingParameters(k, keep): return "halving needs rungs ≥ 1 and keep in (0, 1) (found \(k), \(keep))"
        case let .halvingEpochs(epochs): return "halving needs one epoch budget for all configs (found \(epochs))"
        case let .config(label, error): return "config \(label): \(error)"
        case let .trainingState(path, floats): return "\(path): missing or not a training state of \(floats) floats"
        case let .missing(path): return "\(path): missing"
        }
    }
}

/// The values of one hyper-parameter: a list ("1e-3,3e-4", or one value) or a range ("1e-5:1e-2", only for
/// random sampling).
public enum SweepValues: Equatable, Sendable {
    case list([Double])
    case range(Double, Double)

    /// `name` is how the values were given ("--lr", "sweep.lr"); with `setting`, every listed value and both ends
    /// of a range must be what that setting accepts.
    public static func parse(_ text: String, name: String, setting: Setting? = nil) throws -> SweepValues {
        let values = try parseUnchecked(text, name: name)
        if let setting {
            switch values {
            case .list(let list): for v in list { try setting.check(v, as: name) }
            case let .range(lo, hi): try setting.check(lo, as: name); try setting.check(hi, as: name)
            }
        }
        return values
    }

    private static func parseUnchecked(_ text: String, name: String) throws -> SweepValues {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.contains(":") {
            let parts = t.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let lo = Double(parts[0].trimmingCharacters(in: .whitespaces)),
                  let hi = Double(parts[1].trimmingCharacters(in: .whitespaces)), lo <= hi else {
                throw SweepSpecError.badRange(name: name, text: text)
            }
            return .range(lo, hi)
        }
        let values = try t.split(separator: ",").map { s -> Double in
            guard let v = Double(s.trimmingCharacters(in: .whitespaces)) else {
                throw SweepSpecError.notANumber(name: name, text: text, value: String(s))
            }
            return v
        }
        guard !values.isEmpty else { throw SweepSpecError.noValues(name: name) }
        return .list(values)
    }
}

/// What to sweep: values per hyper-parameter, expanded as a grid (every combination, in the order lr, hidden,
/// dropout, batch, epochs, seed — the last varying fastest) or sampled (`random`: N configs drawn with the
/// sampling seed; lr and hidden log-uniform over a range, dropout uniform, batch and epochs uniform integers;
/// a list is sampled uniformly). Duplicates are dropped, first kept.
public struct SweepSpec: Equatable, Sendable {
    public var lr: SweepValues = .list([Recipe.book.learningRate])
    public var hidden: SweepValues = .list([Double(Recipe.book.hidden)])
    public var dropout: SweepValues = .list([Double(Recipe.book.dropout)])
    public var batch: SweepValues = .list([Double(Recipe.book.batchSize)])
    public var epochs: SweepValues = .list([Double(Recipe.book.epochs)])
    public var seed: SweepValues = .list([Double(Recipe.book.seed)])
    public var shuffle = Recipe.book.shuffle
    public var earlyStop: Int?
    public var random: Int?
    public var samplingSeed: UInt64 = 0

    public init() {}

    public func configs() throws -> [SweepConfig] {
        var out: [SweepConfig] = []
        var seen = Set<String>()
        func add(_ c: SweepConfig) throws {
            guard c.lr > 0, c.lr.isFinite else { throw SweepSpecError.learningRate(c.lr) }
            guard c.hidden >= 1, c.batch >= 1, c.epochs >= 1 else {
                throw SweepSpecError.sizes(hidden: c.hidden, batch: c.batch, epochs: c.epochs)
            }
            guard (0..<1).contains(c.dropout) else { throw SweepSpecError.dropout(c.dropout) }
            if seen.insert(c.id).inserted { out.append(c) }
        }
        if let n = random {
            guard n >= 1 else { throw SweepSpecError.noRandomConfigs }
            var rng = SplitMix64(key: SplitMix64.mix(samplingSeed ^ 0x5357_4545_5000_0001))
            for _ in 0..<n {
                let c = SweepConfig(
                    lr: Float(SweepSpec.significant(sample(lr, &rng, log: true), 3)),
                    hidden: Int(sample(hidden, &rng, log: true).rounded()),
                    dropout: Float((sample(dropout, &rng, log: false) * 100).rounded() / 100),
                    batch: Int(sample(batch, &rng, log: false).rounded()),
                    epochs: Int(sample(epochs, &rng, log: false).rounded()),
                    seed: UInt64(sample(seed, &rng, log: false).rounded()), shuffle: shuffle, earlyStop: earlyStop)
                try add(c)
            }
            return out
        }
        func list(_ v: SweepValues, _ name: String) throws -> [Double] {
            guard case .list(let values) = v else { throw SweepSpecError.rangeInGrid(name: name) }
            return values
        }
        for l in try list(lr, "lr") {
            for h in try list(hidden, "hidden") {
                for d in try list(dropout, "dropout") {
                    for b in try list(batch, "batch") {
                        for e in try list(epochs, "epochs") {
                            for s in try list(seed, "seed") {
                                try add(SweepConfig(lr: Float(l), hidden: Int(h), dropout: Float(d), batch: Int(b),
                                                    epochs: Int(e), seed: UInt64(s), shuffle: shuffle, earlyStop: earlyStop))
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    func sample(_ v: SweepValues, _ rng: inout SplitMix64, log: Bool) -> Double {
        switch v {
        case .list(let values): return values[rng.nextIndex(below: values.count)]
        case let .range(lo, hi):
            let u = Double(rng.next() >> 11) * 0x1p-53
            if log && lo > 0 { return exp(Foundation.log(lo) + u * (Foundation.log(hi) - Foundation.log(lo))) }
            return lo + u * (hi - lo)
        }
    }

    /// x rounded to `digits` significant decimal digits (readable sampled learning rates).
    static func significant(_ x: Double, _ digits: Int) -> Double {
        guard x != 0 else { return 0 }
        let scale = pow(10, Double(digits) - ceil(log10(abs(x))))
        return (x * scale).rounded() / scale
    }
}
