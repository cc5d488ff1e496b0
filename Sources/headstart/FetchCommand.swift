import ArgumentParser
import Fetch
import Foundation

struct FetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download the real weights or the Horses-or-Humans images, verified.",
        discussion: """
        weights: Keras's InceptionV3 notop weights (inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5, \
        84 MB), checked against Keras's published MD5, into --dir (default data/).
        horses-or-humans: the two zips the book uses, unpacked into DIR/train/{horses,humans} and \
        DIR/validation/{horses,humans} (default data/horse-or-human) and verified image by image against the \
        SHA-256 manifest compiled into headstart.

        Downloads resume where they stopped (a .part file beside the target) and nothing is installed unless its \
        checksum is right. Without a network it says so and changes nothing. HEADSTART_WEIGHTS_URL names a \
        mirror of the weights file (checked against the same MD5).
        """)

    enum What: String, ExpressibleByArgument, CaseIterable {
        case weights
        case horsesOrHumans = "horses-or-humans"
    }

    @Argument(help: ArgumentHelp("What to fetch.", valueName: "weights|horses-or-humans"))
    var what: What

    @Option(help: "Destination folder (default: data for weights, data/horse-or-human for the images).")
    var dir: String?

    @Option(help: "Where the zips are kept while unpacking (default data/downloads).")
    var downloads: String = "data/downloads"

    func run() throws {
        let bar = ByteProgress()
        switch what {
        case .weights:
            let folder = dir ?? "data"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let source = Catalogue.inceptionV3NoTopWeights(environment: ProcessInfo.processInfo.environment)
            let r = try source.download(into: folder) { done, total in bar.update(done, total) }
            bar.finish()
            print(r.alreadyPresent ? "\(r.path): already present and verified" : "\(r.path): \(r.bytes) bytes, MD5 verified")
        case .horsesOrHumans:
            let root = dir ?? "data/horse-or-human"
            let outcomes = try HorsesOrHumans.fetch(into: root, downloads: downloads) { _, done, total in bar.update(done, total) }
            bar.finish()
            for o in outcomes {
                print("\(root)/\(o.split): \(o.alreadyPresent ? "already present" : "downloaded and unpacked"), \(o.report.verified) images verified")
            }
        }
    }
}

/// Download progress, redrawn at most ten times a second.
final class ByteProgress {
    private let lock = NSLock()
    private var last = 0.0
    private var shown = false
    func update(_ done: Int64, _ total: Int64?) {
        lock.lock(); defer { lock.unlock() }
        let t = Date().timeIntervalSince1970
        guard t - last >= 0.1 else { return }
        last = t
        shown = true
        let mb = Double(done) / 1e6
        let text = total.map { String(format: "%.1f / %.1f MB (%.0f%%)", mb, Double($0) / 1e6, 100 * Double(done) / Double(max($0, 1))) }
            ?? String(format: "%.1f MB", mb)
        FileHandle.standardError.write(Data("\r\u{1B}[2Kdownloading \(text)".utf8))
    }
    func finish() { lock.lock(); if shown { FileHandle.standardError.write(Data("\n".utf8)) }; lock.unlock() }
}
