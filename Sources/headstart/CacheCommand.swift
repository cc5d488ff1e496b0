import ArgumentParser
import Foundation
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
        gets the union of the records, index entries and errors; it is created if absent, else it must have the \
        same fingerprint and is added to. A path indexed with different content, label or split in two caches \
        is refused before anything is written.

        Example:
          headstart extract data/PetImages --shard 0/2 --weights notop.h5 --cache shard0   (machine 1)
          headstart extract data/PetImages --shard 1/2 --weights notop.h5 --cache shard1   (machine 2)
          headstart cache merge shard0 shard1 --out cache
        """)

    @Argument(help: "The caches to merge.")
    var caches: [String]

    @Option(name: .shortAndLong, help: "The merged cache folder.")
    var out: String

    func validate() throws {
        guard !caches.isEmpty else { throw ValidationError("Give at least one cache to merge.") }
        let target = URL(fileURLWithPath: out).standardizedFileURL.path
        if caches.contains(where: { URL(fileURLWithPath: $0).standardizedFileURL.path == target }) {
            throw ValidationError("--out \(out) is also one of the caches to merge; give a new folder or leave it out of the list.")
        }
    }

    func run() throws {
        let s: MergeSummary
        do { s = try FeatureCache.merge(sources: caches, into: out) } catch let StoreError.fingerprintMismatch(cache, diffs) {
            throw MergeRefused(first: caches[0], other: cache, isOutput: cache == out, differences: diffs)
        }
        let c = try FeatureCache(path: out, fingerprint: nil, readOnly: true).counts()
        print("merged \(caches.count) cache(s) into \(out): \(s.recordsAdded) records added (\(s.recordsAlreadyPresent) already there), "
              + "\(s.entries) index entries, \(s.errors) errors; now \(c.records) records, "
              + "train \(c.entriesBySplit[.train] ?? 0), validation \(c.entriesBySplit[.validation] ?? 0)")
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
        // FeatureCache.merge compares the first source's fingerprint (old) with each other source's (new); an
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
