import ArgumentParser
import Foundation
import Pipeline
import Store

struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Work on feature caches.",
        subcommands: [CacheMergeCommand.self])
}

struct CacheMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge caches made with the same settings (e.g. the shards of `extract --shard i/n`) into one.",
        discussion: """
        Every cache must have the same fingerprint (weights, layer, input size, resize, preprocessing, dtype, \
        feature shape, format) and the same class names; a difference is refused naming the field. The output \
        gets the union of the records (one per content, also when two shards extracted identical files), and \
        an index decided by the rules of one `extract` over the whole dataset: a validation file whose content \
        is in train (perhaps in another shard) is kept in train only, and one content under different classes \
        is kept out unless --allow-label-conflicts. The output is created if absent, else it must have the \
        same fingerprint and is added to. A path indexed with different content, label or split in two caches \
        is refused before anything is written. The merged cache records the dataset folder the shards \
        recorded; when they recorded different ones it records none and says so (give --dataset).

        Example:
          headstart extract data/PetImages --shard 0/2 --weights notop.h5 --cache shard0   (machine 1)
          headstart extract data/PetImages --shard 1/2 --weights notop.h5 --cache shard1   (machine 2)
          headstart cache merge shard0 shard1 --out cache
        """)

    @Argument(help: "The caches to merge.")
    var caches: [String]

    @Option(name: .shortAndLong, help: "The merged cache folder.")
    var out: String

    @Option(help: "The dataset folder to record in the merged cache (default: the one every shard recorded).")
    var dataset: String?

    @Flag(help: "Index files with the same content under different classes, each with its own label (as extract --allow-label-conflicts).")
    var allowLabelConflicts = false

    func validate() throws {
        guard !caches.isEmpty else { throw ValidationError("Give at least one cache to merge.") }
        let target = URL(fileURLWithPath: out).standardizedFileURL.path
        if caches.contains(where: { URL(fileURLWithPath: $0).standardizedFileURL.path == target }) {
            throw ValidationError("--out \(out) is also one of the caches to merge; give a new folder or leave it out of the list.")
        }
    }

    func run() throws {
        var job = CacheMergeJob(sources: caches, destination: out)
        job.dataset = dataset
        job.allowLabelConflicts = allowLabelConflicts
        let s: CacheMergeSummary
        do { s = try CacheMerge.run(job) } catch let StoreError.fingerprintMismatch(cache, diffs) {
            throw MergeRefused(first: caches[0], other: cache, isOutput: cache == out, differences: diffs)
        }
        let c = try FeatureCache(path: out, fingerprint: nil, readOnly: true).counts()
        var lines = ["merged \(caches.count) cache(s) into \(out): \(s.recordsAdded) records added (\(s.recordsAlreadyPresent) already there), "
                     + "\(s.entries) index entries, \(s.errors) errors; now \(c.records) records, "
                     + "train \(c.entriesBySplit[.train] ?? 0), validation \(c.entriesBySplit[.validation] ?? 0)"]
        if let d = s.dataset { lines.append("dataset: \(d)") }
        if let disagreement = s.datasetDisagreement {
            lines.append("note: the caches recorded different dataset folders, so none is recorded (give --dataset DIR):")
            lines += disagreement.map { "  \($0.cache): \($0.dataset)" }
        }
        lines += indexRuleNotes(splitCollisions: s.splitCollisions, labelConflicts: s.labelConflicts)
        print(lines.joined(separator: "\n"))
    }
}

/// Store reports a fingerprint difference as "cache has …, this run has …" with advice to --rebuild, which is
/// right for `extract` but not here: a merge compares the first cache with each other one (or the sources with
/// an existing --out), and rebuilding is no remedy.
struct MergeRefused: Error, CustomStringConvertible {
    var first: String, other: String
    var isOutput: Bool
    var differences: [FingerprintDifference]

    var description: String {
        // CacheMerge.run compares the first source's fingerprint (old) with each other source's (new); an
        // existing destination is opened with the sources' fingerprint, so there old is the destination's.
        let lines = differences.map { d in
            isOutput ? "  \(d.field): \(other) has \(d.old), the caches to merge have \(d.new)"
                     : "  \(d.field): \(first) has \(d.old), \(other) has \(d.new)"
        }
        let head = isOutput
            ? "cannot merge into \(other): it already holds a cache made with different settings:"
            : "cannot merge \(other) with \(first): they were made with different settings:"
        return ([head] + lines + ["Only caches made with the same weights and settings can be merged."]).joined(separator: "\n")
    }
}
