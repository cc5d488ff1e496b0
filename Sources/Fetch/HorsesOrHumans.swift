import Foundation
import Numerics
import ZIPFoundation

/// Horses-or-Humans on disk: `ROOT/{train,validation}/{horses,humans}/*.png`, the layout the manifest lists
/// and `headstart extract` reads.
public enum HorsesOrHumans {
    public static let classes = ["horses", "humans"]

    /// The zip that fills each split.
    public static let sources: [(split: String, source: Source)] = [
        ("train", Catalogue.horsesOrHumansTraining),
        ("validation", Catalogue.horsesOrHumansValidation),
    ]

    /// Checks every file under `root/<split>/` for each split the manifest names against the manifest.
    /// Missing folders count as missing files. Paths in the report are relative to `root`.
    public static func verify(root: String, manifest: Manifest = .horsesOrHumans) throws -> VerificationReport {
        let splits = Set(manifest.entries.keys.compactMap { $0.split(separator: "/").first.map(String.init) })
        var found = [String: String]()
        for split in splits.sorted() {
            let folder = (root as NSString).appendingPathComponent(split)
            for rel in try regularFiles(under: folder) {
                let path = (folder as NSString).appendingPathComponent(rel)
                do { found[split + "/" + rel] = try SHA256Hasher.digest(fileAt: path).hex } catch {
                    throw FetchError.io(path: path, reason: "cannot read: \(error.localizedDescription)")
                }
            }
        }
        return VerificationReport.compare(found: found, with: manifest)
    }

    /// Unpacks one of the zips into `root/split/{horses,humans}` and verifies each image, as it is extracted,
    /// against `manifest`'s entries under `split/`.
    ///
    /// Entry mapping: `horses/x.png` → `split/horses/x.png`; one enclosing folder is tolerated
    /// (`horse-or-human/horses/x.png` → the same). Folder entries and macOS metadata (`__MACOSX/…`,
    /// `.DS_Store`, `._*`) are skipped. Any other file is extracted as is and reported as extra.
    /// An entry with an absolute path, a `..` component or a symlink is refused before anything is written.
    ///
    /// Files go to a staging folder beside `root/split` first; only a clean result (no missing, extra or
    /// mismatched file) is moved into place, otherwise the staging folder is removed and
    /// `FetchError.datasetMismatch` lists every problem by path (relative to `root`).
    /// When `root/split` already holds files, `replace` says whether to delete it first.
    public static func unpack(zip: String, split: String, into root: String, manifest: Manifest = .horsesOrHumans,
                              replace: Bool = false) throws -> VerificationReport {
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: zip), accessMode: .read) } catch {
            throw FetchError.unreadableZip(zip: zip, reason: "\(error)")
        }

        // Pass 1: refuse unsafe entries before writing anything; map the rest.
        var plan = [(entry: Entry, rel: [String])]()
        for entry in archive {
            let path = entry.path
            if entry.type == .symlink { throw FetchError.unsafeZipEntry(zip: zip, entry: path) }
            guard let parts = ZipPath.components(path) else { throw FetchError.unsafeZipEntry(zip: zip, entry: path) }
            if entry.type == .directory { continue }
            if parts[0] == "__MACOSX" || parts.last == ".DS_Store" || parts.last!.hasPrefix("._") { continue }
            let rel: [String]
            if classes.contains(parts[0]) { rel = parts }
            else if parts.count >= 3, classes.contains(parts[1]) { rel = Array(parts.dropFirst()) }
            else { rel = parts }
            plan.append((entry, rel))
        }

        let fm = FileManager.default
        let target = (root as NSString).appendingPathComponent(split)
        if !(try regularFiles(under: target)).isEmpty {
            guard replace else { throw FetchError.destinationNotEmpty(path: target) }
        }
        let staging = (root as NSString).appendingPathComponent(".\(split).unpacking")
        try? fm.removeItem(atPath: staging)
        do { try fm.createDirectory(atPath: staging, withIntermediateDirectories: true) } catch {
            throw FetchError.io(path: staging, reason: "cannot create: \(error.localizedDescription)")
        }

        // Pass 2: extract, hashing the bytes as they are written.
        var found = [String: String]()
        do {
            for (entry, rel) in plan {
                let relPath = rel.joined(separator: "/")
                let out = (staging as NSString).appendingPathComponent(relPath)
                try fm.createDirectory(atPath: (out as NSString).deletingLastPathComponent,
                                       withIntermediateDirectories: true)
                guard fm.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
                    throw FetchError.io(path: out, reason: "cannot create: \(errnoString())")
                }
                let hasher = SHA256Hasher()
                do {
                    // ZIPFoundation checks each entry's CRC-32 and throws on a mismatch.
                    _ = try archive.extract(entry) { data in
                        hasher.update(data)
                        try handle.write(contentsOf: data)
                    }
                    try handle.close()
                } catch {
                    try? handle.close()
                    throw FetchError.unreadableZip(zip: zip, reason: "entry \(entry.path): \(error)")
                }
                found[relPath] = hasher.finish().hex
            }
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }

        var report = VerificationReport.compare(found: found, with: manifest.subtree(split))
        report.missing = report.missing.map { split + "/" + $0 }
        report.extra = report.extra.map { split + "/" + $0 }
        report.mismatched = report.mismatched.map { .init(path: split + "/" + $0.path, expected: $0.expected, got: $0.got) }
        guard report.isClean else {
            try? fm.removeItem(atPath: staging)
            throw FetchError.datasetMismatch(report)
        }
        if fm.fileExists(atPath: target) {
            do { try fm.removeItem(atPath: target) } catch {
                try? fm.removeItem(atPath: staging)
                throw FetchError.io(path: target, reason: "cannot replace: \(error.localizedDescription)")
            }
        }
        if rename(staging, target) != 0 {
            let reason = errnoString()
            try? fm.removeItem(atPath: staging)
            throw FetchError.io(path: target, reason: "cannot move \(staging) into place: \(reason)")
        }
        return report
    }

    /// What `fetch` did for one split.
    public struct SplitOutcome: Equatable {
        public var split: String
        /// True when the images were already there and verified; nothing was downloaded.
        public var alreadyPresent: Bool
        public var download: DownloadResult?
        public var report: VerificationReport
    }

    /// Makes `root` hold the verified dataset: for each split whose images do not already verify, downloads its
    /// zip into `downloads` (resumable), unpacks it (replacing the split's folder) and verifies it. A zip already
    /// in `downloads` is used as is; when it does not unpack to the manifest it is deleted and fetched once more.
    /// `progress(sourceName, done, total)` reports download bytes. `sources` and `manifest` default to the real
    /// ones; tests pass local URLs and a small manifest.
    public static func fetch(into root: String, downloads: String,
                             sources: [(split: String, source: Source)] = HorsesOrHumans.sources,
                             manifest: Manifest = .horsesOrHumans, downloader: Downloader = Downloader(),
                             progress: ((String, Int64, Int64?) -> Void)? = nil) throws -> [SplitOutcome] {
        var outcomes = [SplitOutcome]()
        let present = try verify(root: root, manifest: manifest)
        for (split, source) in sources {
            let sub = manifest.subtree(split)
            let prefix = split + "/"
            let splitClean = !present.missing.contains { $0.hasPrefix(prefix) }
                && !present.extra.contains { $0.hasPrefix(prefix) }
                && !present.mismatched.contains { $0.path.hasPrefix(prefix) }
            if splitClean && !sub.entries.isEmpty {
                outcomes.append(SplitOutcome(split: split, alreadyPresent: true, download: nil,
                                             report: VerificationReport(verified: sub.entries.count)))
                continue
            }
            let onBytes = progress.map { p in { (done: Int64, total: Int64?) in p(source.name, done, total) } }
            var result = try source.download(into: downloads, downloader: downloader, progress: onBytes)
            let report: VerificationReport
            do {
                report = try unpack(zip: result.path, split: split, into: root, manifest: manifest, replace: true)
            } catch FetchError.unreadableZip(_, _) where result.alreadyPresent {
                // A zip left by an earlier run has no published checksum to vouch for it: fetch it afresh.
                try? FileManager.default.removeItem(atPath: result.path)
                result = try source.download(into: downloads, downloader: downloader, progress: onBytes)
                report = try unpack(zip: result.path, split: split, into: root, manifest: manifest, replace: true)
            } catch FetchError.datasetMismatch(_) where result.alreadyPresent {
                try? FileManager.default.removeItem(atPath: result.path)
                result = try source.download(into: downloads, downloader: downloader, progress: onBytes)
                report = try unpack(zip: result.path, split: split, into: root, manifest: manifest, replace: true)
            }
            outcomes.append(SplitOutcome(split: split, alreadyPresent: false, download: result, report: report))
        }
        return outcomes
    }

    /// Regular files under `folder`, as sorted paths relative to it; none when it does not exist.
    static func regularFiles(under folder: String) throws -> [String] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else { return [] }
        guard let walker = fm.enumerator(atPath: folder) else {
            throw FetchError.io(path: folder, reason: "cannot list")
        }
        var out = [String]()
        while let rel = walker.nextObject() as? String {
            if walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular { out.append(rel) }
        }
        return out.sorted()
    }
}
