import ArgumentParser
import Foundation
import HeadTrain
import Numerics
import Pipeline

extension SweepStrategyName: ExpressibleByArgument {}
extension SweepMetric: ExpressibleByArgument {}

/// `headstart sweep`: `sweep CACHE …` runs a sweep (`sweep run`, the default), `sweep merge` joins shards' folders.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Train many heads over a cache and rank them: grid, random search, or successive halving.",
        discussion: """
        `headstart sweep CACHE …` is `headstart sweep run CACHE …` (see `headstart sweep run --help` for every \
        option); `headstart sweep merge DIR… --out DIR` joins the folders of `sweep --shard i/n`.
        """,
        subcommands: [SweepRunCommand.self, SweepMergeCommand.self],
        defaultSubcommand: SweepRunCommand.self)
}

struct SweepRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train many heads over a cache and rank them: grid, random search, or successive halving.",
        discussion: """
        Each hyper-parameter takes a comma list (a grid: every combination) or, with --random N, a range \
        LOW:HIGH to sample from (lr and hidden log-uniform, dropout uniform, batch and epochs uniform integers; \
        --sampling-seed fixes the draw). Every config trains exactly as `headstart train` would train it alone \
        with the same --seed (initial weights, shuffles, dropout masks).

        Speed: heads with the same (batch size, seed, shuffle) share one pass over the data — each batch is \
        read and decoded from float16 once and every head of the pass is stepped on it in turn (each step \
        already uses all cores; training is bound by streaming each head's own first-layer weights, which no \
        sharing avoids). --memory-gb bounds how many heads share a pass.

        --strategy halving: successive halving. All configs train to the first rung, the best --keep fraction \
        by --metric (each config's best epoch so far) continues, and so on; rung i of --rungs K ends at epoch \
        max(1, round(E·keep^(K−1−i))), the last at E (E = 40, K = 3, keep 0.5: rungs at 10, 20, 40).

        Output in --out DIR: sweep.csv and sweep.json (one row per config, best first; val_loss and val_acc at \
        each config's best epoch by --metric), configs/<id>/history.csv and result.json, best.h5 (the best \
        config's head at its best epoch, with its provenance and config) and validation-curves.svg. A config's \
        id is a hash of its settings; rerunning the same command after an interruption skips configs whose \
        results were saved.

        Across machines: --shard i/n trains only the configs whose id falls in shard i of n (the id is a hash of \
        the settings, so every machine agrees), each into its own --out folder, reading the cache read-only; \
        `headstart sweep merge DIR… --out DIR` then writes the sweep.csv, sweep.json, best.h5 and \
        validation-curves.svg of the unsharded sweep. --strategy halving cannot be sharded (each rung ranks \
        every config's result). Slurm and Kubernetes examples: docs/distributed.md.

        A pipeline file's `sweep:` section gives the same settings (lr, hidden, dropout, batch, epochs, seed, \
        random, strategy, metric, rungs, keep, shuffle, early_stop, output); options on the command line win.

        Example:
          headstart sweep out/hh-cache --out sweeps/hh --lr 1e-3,3e-4,1e-4 --hidden 256,512,1024 --dropout 0,0.2,0.5 --batch 20,32 --epochs 40
          headstart sweep out/hh-cache --out sweeps/rnd --random 20 --lr 1e-5:1e-2 --hidden 128:2048 --epochs 20 --strategy halving
          headstart sweep out/hh-cache --out sweeps/s0 --lr 1e-3,3e-4 --hidden 256,512 --shard 0/2   (machine 1; 1/2 on machine 2)
          headstart sweep merge sweeps/s0 sweeps/s1 --out sweeps/hh
        """)

    @Argument(help: "A cache written by `headstart extract`, or a pipeline file (.yaml) with a `sweep:` section.")
    var source: String

    @Option(name: .shortAndLong, help: "Folder for the results.") var out: String?
    @Option(help: "Learning rates: a list (1e-3,3e-4) or, with --random, a range (1e-5:1e-2).") var lr: String?
    @Option(help: "Hidden units: a list or a range.") var hidden: String?
    @Option(help: "Dropout rates: a list or a range.") var dropout: String?
    @Option(help: "Batch sizes: a list or a range.") var batch: String?
    @Option(help: "Epochs: a list or a range (one value with --strategy halving).") var epochs: String?
    @Option(help: "Training seeds: a list (each config trains as `headstart train --seed`).") var seed: String?
    @Option(help: "Sample this many configs from the ranges instead of a grid.") var random: Int?
    @Option(help: "Seed of the --random draw.") var samplingSeed: UInt64 = 0
    @Option(help: ArgumentHelp("full (every config to its epochs; grid is the same) or halving (successive halving).", valueName: "full|halving"))
    var strategy: SweepStrategyName?
    @Option(help: ArgumentHelp("val_loss (lowest) or val_acc (highest, ties by val_loss): ranks configs and picks each one's best epoch.", valueName: "val_loss|val_acc"))
    var metric: SweepMetric?
    @Option(help: "Halving: number of rungs (default 3).") var rungs: Int?
    @Option(help: "Halving: fraction of configs kept at each rung (default 0.5).") var keep: Double?
    @Flag(help: "Keep training samples in cache order.") var noShuffle = false
    @Option(help: "Stop a config when val_loss has not improved for this many epochs.") var earlyStop: Int?
    @Option(help: "Memory for heads training at once, in GiB (default 8).") var memoryGb: Double = 8
    @Option(help: "Configs shown in validation-curves.svg.") var top: Int = 5
    @Flag(help: "Print the results as JSON (sweep.json) on standard output; the live table goes to standard error.") var json = false
    @Option(help: ArgumentHelp("Only the configs whose id falls in shard i of n (for several machines; join the folders with `headstart sweep merge`).", valueName: "i/n"))
    var shard: Shard?
    @OptionGroup var damage: DamageOptions

    func validate() throws {
        try checked {
            if let random { try Setting.random.checkFlag(random) }
            if let rungs { try Setting.rungs.checkFlag(rungs) }
            if let keep { try Setting.keep.checkFlag(keep) }
            if let earlyStop { try Setting.earlyStop.checkFlag(earlyStop) }
            try Setting.memoryGB.checkFlag(memoryGb)
            try Setting.top.checkFlag(top)
        }
    }

    func run() throws {
        var section = PipelineDefinition.SweepSection()
        var cachePath = source
        var defaultOut: String?
        if PipelineDefinition.isPipelineFile(source) {
            let p = try PipelineDefinition.load(path: source)
            guard let c = p.cache else { throw ValidationError("\(source): the pipeline names no cache.") }
            cachePath = c
            section = p.sweep ?? section
            defaultOut = section.output ?? p.output.map { "\($0)/sweep" }
        }
        guard let outDir = out ?? defaultOut else { throw ValidationError("Give the results folder with --out.") }
        var spec = SweepSpec()
        // Each hyper-parameter from its flag, else the file's sweep: section; every value checked as its setting.
        let flags: [String: String?] = ["lr": lr, "hidden": hidden, "dropout": dropout, "batch": batch, "epochs": epochs, "seed": seed]
        var parsed: [String: SweepValues] = [:]
        for (key, setting, fromFile) in section.hyperParameters {
            guard let text = flags[key]! ?? fromFile?.text else { continue }
            let name = flags[key]! != nil ? "--\(key)" : "\(source): sweep.\(key)"
            do { parsed[key] = try SweepValues.parse(text, name: name, setting: setting) } catch { throw ValidationError("\(error)") }
        }
        spec.lr = parsed["lr"] ?? spec.lr
        spec.hidden = parsed["hidden"] ?? spec.hidden
        spec.dropout = parsed["dropout"] ?? spec.dropout
        spec.batch = parsed["batch"] ?? spec.batch
        spec.epochs = parsed["epochs"] ?? spec.epochs
        spec.seed = parsed["seed"] ?? spec.seed
        spec.random = random ?? section.random
        spec.samplingSeed = samplingSeed
        spec.shuffle = noShuffle ? false : (section.shuffle ?? true)
        spec.earlyStop = earlyStop ?? section.earlyStop
        let configs: [SweepConfig]
        do { configs = try spec.configs() } catch { throw ValidationError("\(error)") }

        var job = SweepJob(cache: cachePath, out: outDir, configs: configs)
        job.strategy = (strategy ?? section.strategy ?? .full).strategy(rungs: rungs ?? section.rungs ?? 3, keep: keep ?? section.keep ?? 0.5)
        let m = metric ?? section.metric ?? .valLoss
        job.metric = m
        job.memoryBudget = Int(memoryGb * Double(1 << 30))
        job.plotTop = top
        job.damagePolicy = damage.policy
        if let shard {
            guard job.strategy == .full else {
                throw ValidationError("--strategy halving cannot be sharded: each rung keeps the best configs by every config's result at that rung, which no shard has. Shard a full sweep, or run halving on one machine.")
            }
            job.shard = SweepShard(index: shard.index, count: shard.count)
        }

        let table = SweepTable(toStandardError: json)
        let outcome = try Sweep.run(job) { table.handle($0) }
        table.finish()
        DamageOptions.report(outcome.damaged)
        if json {
            FileHandle.standardOutput.write(try SweepReport.json(outcome, metric: m, schedule: job.strategy.schedule(m)))
            FileHandle.standardOutput.write(Data("\n".utf8))
        } else {
            print("")
            print(SweepReport.leaderboard(outcome.ranked, metric: m), terminator: "")
            print(String(format: "%d configs (%d trained, %d resumed) in %.1f s; best %@ → %@/best.h5",
                         outcome.ranked.count, outcome.trainedCount, outcome.resumedCount, outcome.wallSeconds,
                         outcome.best?.config.label ?? "-", outDir)
                  + (job.shard.map { "; shard \($0) of \(configs.count) configs (join the shards with `headstart sweep merge`)" } ?? ""))
        }
    }
}

/// The live table: one row per config (config, epoch, val_acc, val_loss, status), redrawn in place on a
/// terminal (at most 10 times a second); plain lines per event otherwise.
final class SweepTable {
    struct Row { var config: SweepConfig; var epoch = 0; var valAcc: Double?; var valLoss: Double?; var status = "queued" }
    private var rows: [Row] = []
    private var index: [String: Int] = [:]
    private let handle: FileHandle
    private let terminal: Bool
    private var drawnLines = 0
    private var lastDraw = 0.0

    init(toStandardError: Bool) {
        handle = toStandardError ? .standardError : .standardOutput
        terminal = isatty(toStandardError ? fileno(stderr) : fileno(stdout)) != 0
    }

    private func write(_ s: String) { handle.write(Data(s.utf8)) }

    func handle(_ e: SweepEvent) {
        switch e {
        case let .planned(configs, resumed):
            rows = configs.map { c in
                var r = Row(config: c)
                if let res = resumed[c.id] { r.epoch = res.epochsTrained; r.valAcc = res.valAcc; r.valLoss = res.valLoss; r.status = "resumed" }
                return r
            }
            for (i, c) in configs.enumerated() { index[c.id] = i }
            if !terminal { write("sweep: \(configs.count) configs, \(resumed.count) resumed from saved results\n") }
        case .started(let id):
            rows[index[id]!].status = "training"
        case let .epoch(id, log):
            let i = index[id]!
            rows[i].epoch = log.epoch; rows[i].valAcc = log.valAccuracy; rows[i].valLoss = log.valLoss
            rows[i].status = "training"
            if !terminal { write(line(rows[i], id: id) + "\n") }
        case .finished(let r):
            let i = index[r.id]!
            rows[i].status = r.status
            if !terminal { write("\(r.id)  \(r.config.label)  \(r.status), best epoch \(r.bestEpoch)\n") }
        case let .rung(i, epoch, kept, eliminated):
            if !terminal { write("rung \(i) at epoch \(epoch): \(kept.count) kept, \(eliminated.count) eliminated\n") }
        }
        if terminal { draw(force: false) }
    }

    private func line(_ r: Row, id: String) -> String {
        SweepReport.row([id, r.config.label, "\(r.epoch)/\(r.config.epochs)", r.valAcc.map { String(format: "%.4f", $0) } ?? "-",
                         r.valLoss.map { String(format: "%.4f", $0) } ?? "-", r.status], widths: [12, 30, -7, -7, -8, 0])
    }

    private func draw(force: Bool) {
        let t = now()
        guard force || t - lastDraw >= 0.1 else { return }
        lastDraw = t
        var s = drawnLines > 0 ? "\u{1B}[\(drawnLines)A" : ""
        s += "\u{1B}[2K" + SweepReport.row(["id", "config", "epoch", "val_acc", "val_loss", "status"], widths: [12, 30, -7, -7, -8, 0]) + "\n"
        for r in rows { s += "\u{1B}[2K" + line(r, id: r.config.id) + "\n" }
        write(s)
        drawnLines = rows.count + 1
    }

    func finish() { if terminal { draw(force: true) } }
}

struct SweepMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the folders of `sweep --shard i/n` into the folder of the unsharded sweep.",
        discussion: """
        Writes to --out what one sweep over every config writes: sweep.csv and sweep.json (every config, best \
        first), configs/<id>/, validation-curves.svg and best.h5 (the best head of all shards). Refuses folders \
        that swept different caches, ranked by different metrics or ran different schedules, naming the \
        difference, and a set of shards with one missing or given twice.

        Example:
          headstart sweep merge sweeps/s0 sweeps/s1 --out sweeps/hh
        """)

    @Argument(help: "The shards' sweep folders.")
    var sweeps: [String]

    @Option(name: .shortAndLong, help: "The merged sweep folder.")
    var out: String

    @Option(help: "Configs shown in validation-curves.svg.") var top: Int = 5

    func validate() throws {
        guard !sweeps.isEmpty else { throw ValidationError("Give the sweep folders to merge.") }
        try checked { try Setting.top.checkFlag(top) }
        let target = URL(fileURLWithPath: out).standardizedFileURL.path
        if sweeps.contains(where: { URL(fileURLWithPath: $0).standardizedFileURL.path == target }) {
            throw ValidationError("--out \(out) is also one of the sweeps to merge; give a new folder.")
        }
    }

    func run() throws {
        let (outcome, metric) = try SweepMerge.run(sources: sweeps, out: out, plotTop: top)
        print(SweepReport.leaderboard(outcome.ranked, metric: metric), terminator: "")
        print("merged \(sweeps.count) sweep folder(s) into \(out): \(outcome.ranked.count) configs; best \(outcome.best?.config.label ?? "-") → \(out)/best.h5")
    }
}
