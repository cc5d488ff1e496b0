import ArgumentParser
import Extract
import Foundation
import Pipeline
import Store

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a feature cache or a model file holds; verify a cache; look at one image's features.",
        discussion: """
        Given a model file (.h5 from train, finetune or export-keras): what kind it is (a head, or a model \
        fine-tuned from mixed7 with the retrained block's convolutions), the head's shape, the base weights file it \
        needs (name, SHA-256, origin), the cut, input size and preprocessing of its features, and its classes.

        Given a cache, without options: the fingerprint (weights file and SHA-256, layer, input size, resize, preprocessing, \
        dtype, feature shape, augmentation), images per split and class, records and views per image, the \
        number of errors, disk size and LMDB map use, and when the cache was created and last updated.

        One view at a time may be asked for instead; --json prints any view as JSON with stable keys.
        PATH is an image's path relative to the dataset root, as the index stores it (train/horses/x.png).

        Examples:
          headstart inspect out/hh-cache
          headstart inspect out/hh-cache --verify
          headstart inspect out/hh-cache --entry train/horses/horse01-0.png --json
          headstart inspect out/hh-cache --heatmap train/horses/horse01-0.png --dataset data/horse-or-human --out h.png
          headstart inspect out/hh-cache --stale data/horse-or-human
          headstart inspect out/finetuned.h5
        """)

    @Argument(help: "The cache folder, or a model file.")
    var cache: String

    @Flag(help: "Re-check every record's checksum, header and shape and every index entry's record; list every problem; exit 1 when there is any.")
    var verify = false

    @Flag(help: "List the files that produced no features, with the reason and time.")
    var errors = false

    @Option(help: ArgumentHelp("One image's features: shape, mean, std, min, max, fraction of zeros, top 10 channels by mean activation.", valueName: "PATH"))
    var entry: String?

    @Option(help: ArgumentHelp("Draw an image with its mean activation per feature cell overlaid (needs --out).", valueName: "PATH"))
    var heatmap: String?

    @Option(help: "The PNG file the heatmap is written to.")
    var out: String?

    @Option(help: "The dataset folder the heatmap's image is read from (default: the folder the cache was extracted from).")
    var dataset: String?

    @Option(help: "Opacity of the heatmap colours over the image, 0…1.")
    var alpha: Double = 0.5

    @Option(help: ArgumentHelp("List files added, changed or removed in this dataset folder since extraction.", valueName: "DATASET"))
    var stale: String?

    @Flag(help: "With --stale: trust files whose size, times, inode and device are as recorded when they were hashed, as extract does (quicker; without it every file is read and hashed: the thorough check).")
    var trustStat = false

    @Flag(help: ArgumentHelp("With --stale: read and hash every file (the default; kept for scripts).", visibility: .hidden))
    var hashAll = false

    @Flag(help: "Print the view as JSON.")
    var json = false

    func validate() throws {
        let views = [verify, errors, entry != nil, heatmap != nil, stale != nil].filter { $0 }.count
        guard views <= 1 else { throw ValidationError("Ask for one view at a time: --verify, --errors, --entry, --heatmap or --stale.") }
        if heatmap != nil && out == nil { throw ValidationError("--heatmap needs --out FILE.png.") }
        if heatmap == nil && (out != nil || dataset != nil) { throw ValidationError("--out and --dataset go with --heatmap.") }
        if (hashAll || trustStat) && stale == nil { throw ValidationError("--\(hashAll ? "hash-all" : "trust-stat") goes with --stale.") }
        if hashAll && trustStat { throw ValidationError("--hash-all and --trust-stat contradict each other; give one.") }
        guard (0...1).contains(alpha) else { throw ValidationError("--alpha must be in [0, 1].") }
    }

    func run() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: cache, isDirectory: &isDirectory), !isDirectory.boolValue {
            guard !(verify || errors || entry != nil || heatmap != nil || stale != nil) else {
                throw ValidationError("\(cache) is a model file: --verify, --errors, --entry, --heatmap and --stale are views of a cache.")
            }
            let view = try Inspection.model(path: cache)
            return try emit(view, render(view))
        }
        let c = try FeatureCache(path: cache, fingerprint: nil, readOnly: true)
        if verify {
            let report = try Inspection.verify(c)
            try emit(report, render(report))
            if !report.ok { throw ExitCode(1) }
        } else if errors {
            let view = try Inspection.errors(c)
            try emit(view, render(view))
        } else if let entry {
            let view = try Inspection.entry(c, path: entry)
            try emit(view, render(view))
        } else if let heatmap, let out {
            var h = try Inspection.heatmap(c, path: heatmap, datasetRoot: dataset.map { URL(fileURLWithPath: $0) }, alpha: alpha)
            try ImageEncoder.writePNG(h.image, to: out)
            h.view.out = out
            if !h.view.contentMatchesIndex {
                warn("warning: \(h.view.imageFile) has changed since extraction: the overlay shows the features of its old content")
            }
            try emit(h.view, render(h.view))
        } else if let stale {
            let report = try Inspection.staleness(c, dataset: URL(fileURLWithPath: stale), hashAll: !trustStat)
            try emit(report, render(report))
        } else {
            let view = try Inspection.overview(c)
            try emit(view, render(view))
        }
    }

    private func emit<T: Encodable>(_ value: T, _ text: @autoclosure () -> String) throws {
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(value), as: UTF8.self))
        } else {
            print(text())
        }
    }

    // MARK: text

    func render(_ v: CacheOverview) -> String {
        let f = v.fingerprint
        var lines = ["cache \(v.cache)"]
        lines.append("  weights       \(f.weightsName)  sha256 \(f.weightsSHA256)")
        lines.append("  origin        \(WeightsOrigin(recorded: v.weightsOrigin))")
        if let w = v.weightsWarning { lines.append("WARNING: \(w)") }
        lines.append("  layer         \(f.layer), input \(f.inputSize.map(String.init).joined(separator: "×")), resize \(f.resize), preprocess \(f.preprocess)")
        lines.append("  features      \(f.dtype) (\(f.featureShape.map(String.init).joined(separator: ", "))), format version \(f.formatVersion)")
        lines.append("  augmentation  \(f.augmentation)")
        if !f.extra.isEmpty { lines.append("  extra         " + f.extra.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")) }
        lines.append("dataset         " + (v.dataset.isEmpty ? "(not recorded)" : v.dataset))
        lines.append("classes         " + (v.classes.isEmpty ? "(none stored)" : v.classes.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", ")))
        for s in v.splits {
            let parts = s.classes.map { "\($0.name) \($0.images)" }.joined(separator: ", ")
            lines.append(s.split.padding(toLength: 15, withPad: " ", startingAt: 0) + " \(s.images) images" + (parts.isEmpty ? "" : " (\(parts))"))
        }
        let r = v.records
        lines.append(String(format: "records         %d: %d images, %d augmented views (%.2f views per image), %d not referenced by the index",
                            r.total, r.images, r.augmentedViews, r.viewsPerImage, r.unreferenced))
        lines.append("errors          \(v.errors)" + (v.errors > 0 ? " (see --errors)" : ""))
        let d = v.disk
        lines.append(String(format: "disk            %@ (data.mdb %@, lock.mdb %@); LMDB map %@, %.1f%% of it used by data.mdb (%@ of pages in use)",
                            bytes(d.totalBytes), bytes(d.dataBytes), bytes(d.lockBytes), bytes(Int64(d.mapSize)),
                            100 * d.mapFraction, bytes(Int64(d.mapUsedBytes))))
        lines.append("created         \(v.created)")
        lines.append("updated         \(v.updated)")
        return lines.joined(separator: "\n")
    }

    func render(_ v: ModelOverview) -> String {
        let h = v.head
        var lines = ["\(v.kind) \(v.model)" + (v.wholeModel ? " (whole model: the base's layers to \(v.layer) and the head, \(v.layersWithWeights) layers with weights)" : "")]
        if let f = v.fineTuning {
            lines.append("  fine-tuned    \(f.block) retrained on a \(f.cacheLayer) cache: \(f.convolutions.count) convolutions and their "
                + "BatchNormalization betas; the base's other layers as the weights file has them")
            for c in f.convolutions {
                lines.append("    unit \(c.unit)  \(c.name)  kernel (\(c.kernelShape.map(String.init).joined(separator: ", ")))")
            }
        }
        lines.append("  head          Flatten → Dense(\(h.hidden), relu)" + (h.dropout > 0 ? " → Dropout(\(h.dropout))" : "")
            + " → Dense(\(h.classes == 2 ? 1 : h.classes), \(h.output)) on \(h.featureCount) features")
        lines.append("  weights       \(v.weightsName)  sha256 \(v.weightsSHA256)")
        lines.append("  origin        \(WeightsOrigin(recorded: v.weightsOrigin))")
        if let w = v.weightsWarning { lines.append("WARNING: \(w)") }
        lines.append("  features      \(v.layer)" + (v.fineTuning == nil ? "" : " through the fine-tuned block")
            + " (\(v.featureShape.map(String.init).joined(separator: ", "))), input \(v.inputSize)×\(v.inputSize), resize \(v.resize), preprocess \(v.preprocess)")
        lines.append("  classes       " + v.classes.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    func render(_ r: VerificationReport) -> String {
        var lines = ["checked \(r.recordsChecked) records, \(r.indexEntriesChecked) index entries, \(r.errorEntriesChecked) errors entries of \(r.cache)"]
        if r.ok {
            lines.append("ok: no problems")
        } else {
            lines.append("\(r.problems.count) problem(s):")
            for p in r.problems { lines.append("  \(p.database) \(p.item): \(p.reason)") }
        }
        return lines.joined(separator: "\n")
    }

    func render(_ v: ErrorsView) -> String {
        guard !v.errors.isEmpty else { return "no errors in \(v.cache)" }
        return (["\(v.errors.count) file(s) produced no features:"]
            + v.errors.map { "  \($0.path): \($0.reason) (\($0.timeISO8601))" }).joined(separator: "\n")
    }

    func render(_ v: EntryView) -> String {
        var lines = ["\(v.path): \(v.split), label \(v.label) (\(v.className)), content key \(v.contentKey)"]
        lines.append("  shape (\(v.shape.map(String.init).joined(separator: ", "))), stored \(v.dtype)")
        lines.append(String(format: "  mean %.6g  std %.6g  min %.6g  max %.6g  zeros %.2f%%", v.mean, v.std, v.min, v.max, 100 * v.zeroFraction))
        lines.append("  top channels by mean activation:")
        for c in v.topChannels { lines.append(String(format: "    %5d  %.6g", c.channel, c.mean)) }
        return lines.joined(separator: "\n")
    }

    func render(_ v: HeatmapView) -> String {
        String(format: "wrote %@: %@ at %d×%d with its %d×%d mean activation (%.4g to %.4g) overlaid in %@, alpha %.2f",
               v.out, v.path, v.width, v.height, v.grid[0], v.grid[1], v.minimum, v.maximum, v.colourMap, v.alpha)
    }

    func render(_ r: StalenessReport) -> String {
        var lines = ["\(r.dataset) against \(r.cache): \(r.added.count) added, \(r.changed.count) changed, \(r.removed.count) removed, "
            + "\(r.unchanged) unchanged" + (r.hashedAll ? " (every file read and hashed: the thorough check; `extract` reuses files whose stat data is unchanged without opening them)"
                                : " (files whose stat data is as recorded trusted, as extract trusts them; without --trust-stat every file is hashed)")]
        for p in r.added { lines.append("  added    \(p)") }
        for c in r.changed { lines.append("  changed  \(c.path): \(c.reason)") }
        for p in r.removed { lines.append("  removed  \(p)") }
        for p in r.touched { lines.append("  touched  \(p): size or time changed, content as extracted") }
        for u in r.unreadable { lines.append("  unreadable \(u.path): \(u.reason)") }
        if r.stale { lines.append("run `headstart extract` again to bring the cache up to date") }
        return lines.joined(separator: "\n")
    }

    private func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }
}
