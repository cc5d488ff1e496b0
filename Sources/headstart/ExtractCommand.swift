import ArgumentParser
import Extract
import Foundation
import Pipeline
import Store

/// `--shard i/n`.
struct Shard: ExpressibleByArgument {
    var index: Int, count: Int
    init?(argument: String) {
        let parts = argument.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else { return nil }
        index = i; count = n
    }
}

/// `extract --strict` when files were skipped: the run finished, but the caller asked for every file.
struct StrictExtractionError: Error, CustomStringConvertible {
    var skipped: Int
    var description: String { "--strict: \(skipped) file(s) were skipped (listed above); everything else is in the cache" }
}

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Stage one: run every image of a dataset once through the base and cache its features.",
        discussion: """
        DATASET is a folder laid out as Keras flow_from_directory expects — one subfolder per class, class ids \
        from the sorted folder names — either with train/ and validation/ subfolders (DATASET/train/horses, …) \
        or flat with --validation-split. Or a pipeline file (pipelines/*.yaml) naming the dataset, weights, \
        cache and settings; options given here override it.

        Records are keyed by the SHA-256 of each file's bytes, so identical files are extracted once, a changed \
        file is extracted again and a moved one is not. Running again does no network work for what is cached, \
        picks up new and changed files and forgets removed ones. As git's index does, a rerun does not even open \
        a file whose size, modification and change times, inode and device are those recorded when it was \
        hashed (unless it was modified within 2 s before that, when a change could hide in the same clock tick); \
        --rehash reads and hashes every file. Every batch is one transaction: a killed run \
        leaves a consistent cache that the next run resumes. Files that cannot be used (corrupt, truncated, \
        unsupported, too large) are listed with the reason and skipped; the run goes on.

        Examples:
          headstart extract data/horse-or-human --weights notop.h5 --cache out/hh-cache
          headstart extract pipelines/horses-or-humans.yaml --dtype f32
          headstart extract data/PetImages --validation-split 0.1 --shard 0/4 --weights notop.h5 --cache shard0
        """)

    @Argument(help: "Dataset folder, or a pipeline .yaml file.")
    var dataset: String

    @Option(help: "The cache folder (created if needed).")
    var cache: String?

    @OptionGroup var network: NetworkOptions

    @Option(help: ArgumentHelp("How features are stored: f16 (half the size; rounding ~5e-4 relative) or f32 (exact).", valueName: "f16|f32"))
    var dtype: FeatureDType?

    @Option(help: "Images per network batch (default 32).")
    var batch: Int?

    @Option(help: "Fraction of each class held out for validation when the dataset has no train/validation folders; decided by a stable hash of the file's path, so adding files never reshuffles.")
    var validationSplit: Double?

    @Option(help: ArgumentHelp("Only the images whose path falls in shard i of n (a stable hash of the path relative to the dataset, so each machine opens only its own files; merge with `headstart cache merge`).", valueName: "i/n"))
    var shard: Shard?

    @Flag(help: "Read and hash every file again, also those whose size, times, inode and device are unchanged since they were hashed (which a rerun otherwise reuses without opening them; `inspect --stale` is the thorough check).")
    var rehash = false

    @Option(help: "Only the first N images of the dataset.")
    var limit: Int?

    @Flag(help: "Delete the cache's contents and start over (needed when the settings or weights changed).")
    var rebuild = false

    @Flag(help: "Exit with a failure status when any file was skipped (the cache still keeps everything that was extracted).")
    var strict = false

    @Flag(help: "Index files with the same content under different classes, each with its own label (as Keras would train on them). Without it they are reported as conflicts and kept out.")
    var allowLabelConflicts = false

    @Option(help: "Augmented views to store per training image besides the image itself (validation images get none); rerunning with a larger number adds only the missing ones.")
    var views: Int?

    @Option(help: "Seed of the augmented views (with the image's content and the view number it draws each view's transform; default: the cache's, else 0).")
    var augmentSeed: UInt64?

    @OptionGroup(title: "Augmentation of the views (Keras ImageDataGenerator; default: the pipeline's augment: section, else the cache's recorded settings)")
    var augment: AugmentOptions

    func validate() throws {
        try checked {
            if let batch { try Setting.extractBatch.checkFlag(batch) }
            if let validationSplit { try Setting.validationSplit.checkFlag(validationSplit) }
            if let limit { try Setting.limit.checkFlag(limit) }
            if let views { try Setting.views.checkFlag(views) }
        }
    }

    func run() throws {
        let pipeline = PipelineDefinition.isPipelineFile(dataset) ? try PipelineDefinition.load(path: dataset) : nil
        guard let datasetPath = pipeline.map({ $0.dataset }) ?? dataset else {
            throw ValidationError("\(dataset) names no dataset (add `dataset:`).")
        }
        guard let cachePath = cache ?? pipeline?.cache else {
            throw ValidationError("Give the cache folder with --cache.")
        }
        let settings = network.settings(pipeline)
        let base = try BaseNetwork(weightsPath: try network.weightsPath(pipeline), settings: settings, threads: network.threadCount)
        // The pipeline file's job (or a plain one), then every option given here.
        var job = try pipeline?.extractionJob(source: dataset, cache: cachePath)
            ?? ExtractionJob(dataset: URL(fileURLWithPath: datasetPath), cache: cachePath)
        if let dtype { job.dtype = dtype }
        if let batch { job.batchSize = batch }
        if let validationSplit { job.validationSplit = validationSplit }
        if let limit { job.limit = limit }
        if let views { job.views = views }
        if let augmentSeed { job.augmentSeed = augmentSeed }
        do { if let given = try augment.givenSettings() { job.augmentation = given } } catch let e as AugmentationError {
            throw ValidationError("augment: \(e)")
        }
        job.shard = shard.map { ($0.index, $0.count) }
        job.rebuild = rebuild
        if rehash { job.rehash = true }
        if allowLabelConflicts { job.allowLabelConflicts = true }
        job.weightsOrigin = base.origin

        let reporter = ProgressReporter("extract")
        let s = try Extraction.run(job, extractor: base.extractor, weights: base.weights) { reporter.update($0, views: job.views > 0) }
        print(render(s, cache: cachePath, dtype: job.dtype, kernels: base.extractor.network.kernelDescription))
        print(weightsLines(base.origin, name: base.weights.sourceName).joined(separator: "\n"))
        if strict && !s.failed.isEmpty {
            throw StrictExtractionError(skipped: s.failed.count)
        }
    }

    func render(_ s: ExtractionSummary, cache: String, dtype: FeatureDType, kernels: String) -> String {
        var lines: [String] = []
        if s.finishedIncompleteCache {
            lines.append("note: \(cache) had been created by a run that stopped before its first commit; this run finished it")
        }
        for d in s.repaired { lines.append("repaired: \(d) (read and extracted again)") }
        let rate = s.seconds > 0 ? Double(s.extracted) / s.seconds : 0
        lines.append(String(format: "%d images in %.1f s: %d extracted (%.1f images/s), %d reused from the cache, %d skipped",
                            s.considered, s.seconds, s.extracted, rate, s.reused, s.failed.count))
        lines.append("files: \(s.unchangedByStat) unchanged by stat (not opened), \(s.hashed) read and hashed"
                     + (s.otherShards > 0 ? ", \(s.otherShards) left to other shards (not opened)" : ""))
        if s.views > 0 {
            let vrate = s.seconds > 0 ? Double(s.viewsExtracted) / s.seconds : 0
            lines.append(String(format: "views: %d per training image: %d extracted (%.1f views/s), %d reused from the cache",
                                s.views, s.viewsExtracted, vrate, s.viewsReused))
            if let r = s.recipe { lines.append("augmentation: \(r.fingerprintDescription)") }
        }
        lines.append(String(format: "time: network %.1f s (%@), decoding %.1f s (overlapped with the network), cache writes %.2f s",
                            s.networkSeconds, kernels, s.decodeSeconds, s.writeSeconds))
        func perClass(_ split: Split) -> String {
            let byLabel = s.counts.entriesBySplitAndLabel[split] ?? [:]
            let parts = s.classNames.enumerated().map { "\($1) \(byLabel[Int32($0)] ?? 0)" }
            return "\(s.counts.entriesBySplit[split] ?? 0) (\(parts.joined(separator: ", ")))"
        }
        lines.append("cache \(cache): train \(perClass(.train)), validation \(perClass(.validation)); \(s.counts.records) records, \(dtype.rawValue)")
        if s.removed > 0 { lines.append("\(s.removed) files no longer in the dataset were removed from the index") }
        for w in s.warnings { lines.append("warning: \(w.path): \(w.count) libjpeg warning(s), first: \(w.first)") }
        lines += indexRuleNotes(splitCollisions: s.splitCollisions, labelConflicts: s.labelConflicts)
        if !s.failed.isEmpty {
            lines.append("skipped \(s.failed.count) file(s):")
            for f in s.failed { lines.append("  \(f.path): \(f.reason)") }
        }
        return lines.joined(separator: "\n")
    }
}

/// What the index rules kept out, one line per case (extract and cache merge).
func indexRuleNotes(splitCollisions: [(validation: String, train: String)], labelConflicts: [LabelConflict]) -> [String] {
    splitCollisions.map { "note: \($0.validation) has the same content as \($0.train): kept in train only" }
        + labelConflicts.map { c in
            let files = c.files.map { "\($0.path) (\($0.className))" }.joined(separator: ", ")
            return "conflict: the same content under different classes: \(files); kept out of the index (--allow-label-conflicts keeps each with its label)"
        }
}
