import Foundation

/// A SHA-256 manifest in `sha256sum` format: one `<64 lower-case hex>  <relative/path>` line per file.
/// For Horses-or-Humans the paths are `<split>/<class>/<file>` with split ∈ {train, validation} and
/// class ∈ {horses, humans}.
public struct Manifest: Equatable {
    /// Relative path → SHA-256 (lower-case hex).
    public var entries: [String: String]

    public init(entries: [String: String]) {
        self.entries = entries
    }

    /// Parses `sha256sum` output. A line that is not `<64 hex><space><space or *><path>` is an error naming its
    /// line number; so is a path listed twice, an absolute path or one with `..`.
    public init(text: String, source: String = "manifest") throws {
        var entries = [String: String]()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty { continue }
            let chars = Array(line.utf8)
            let isHex: (UInt8) -> Bool = { (48...57).contains($0) || (97...102).contains($0) }
            guard chars.count > 66, chars[0..<64].allSatisfy(isHex), chars[64] == 32,
                  chars[65] == 32 || chars[65] == 42 else {
                throw FetchError.io(path: source, reason: "line \(index + 1) is not '<sha256>  <path>': \(line)")
            }
            let hash = String(decoding: chars[0..<64], as: UTF8.self)
            let path = String(decoding: chars[66...], as: UTF8.self)
            guard ZipPath.components(path) != nil else {
                throw FetchError.io(path: source, reason: "line \(index + 1) has an unsafe path: \(path)")
            }
            guard entries[path] == nil else {
                throw FetchError.io(path: source, reason: "line \(index + 1) lists \(path) a second time")
            }
            entries[path] = hash
        }
        self.entries = entries
    }

    /// The entries under `prefix/` (e.g. "train"), with the prefix removed.
    public func subtree(_ prefix: String) -> Manifest {
        var out = [String: String]()
        let p = prefix + "/"
        for (path, hash) in entries where path.hasPrefix(p) { out[String(path.dropFirst(p.count))] = hash }
        return Manifest(entries: out)
    }

    /// The committed Horses-or-Humans manifest: 1,283 images (train 500 horses + 527 humans,
    /// validation 128 + 128), the genuine files of the two public zips.
    public static let horsesOrHumans: Manifest = {
        // The text is generated from the dataset's MANIFEST.sha256 and checked by tests; a failure here is a
        // build defect, not a user error.
        try! Manifest(text: horsesOrHumansText, source: "HorsesOrHumansManifest.swift")
    }()
}

/// The outcome of checking files against a manifest, by relative path.
public struct VerificationReport: Equatable, CustomStringConvertible {
    /// Paths found with the right digest.
    public var verified: Int
    /// In the manifest, not found.
    public var missing: [String]
    /// Found, not in the manifest.
    public var extra: [String]
    /// Found with another digest: (path, expected, got).
    public var mismatched: [Mismatch]

    public struct Mismatch: Equatable {
        public var path: String
        public var expected: String
        public var got: String

        public init(path: String, expected: String, got: String) {
            self.path = path
            self.expected = expected
            self.got = got
        }
    }

    public init(verified: Int = 0, missing: [String] = [], extra: [String] = [], mismatched: [Mismatch] = []) {
        self.verified = verified
        self.missing = missing
        self.extra = extra
        self.mismatched = mismatched
    }

    public var isClean: Bool { missing.isEmpty && extra.isEmpty && mismatched.isEmpty }

    public var description: String {
        var lines = ["\(verified) verified, \(missing.count) missing, \(extra.count) extra, "
            + "\(mismatched.count) with the wrong SHA-256"]
        lines += missing.map { "missing: \($0)" }
        lines += extra.map { "extra: \($0)" }
        lines += mismatched.map { "mismatch: \($0.path): expected \($0.expected), got \($0.got)" }
        return lines.joined(separator: "\n")
    }

    /// Compares the digests found (relative path → SHA-256) with `manifest`. Lists are sorted.
    public static func compare(found: [String: String], with manifest: Manifest) -> VerificationReport {
        var report = VerificationReport()
        for (path, expected) in manifest.entries {
            guard let got = found[path] else { report.missing.append(path); continue }
            if got == expected { report.verified += 1 } else {
                report.mismatched.append(Mismatch(path: path, expected: expected, got: got))
            }
        }
        report.extra = found.keys.filter { manifest.entries[$0] == nil }
        report.missing.sort()
        report.extra.sort()
        report.mismatched.sort { $0.path < $1.path }
        return report
    }
}

/// Relative paths as they appear in zips and manifests.
enum ZipPath {
    /// The components of a safe relative path, or nil when it is absolute (`/x`, `\x`, `C:x`), empty, or has a
    /// `..` component — the zip-slip shapes. Backslashes count as separators (zips made on Windows).
    static func components(_ path: String) -> [String]? {
        if path.hasPrefix("/") || path.hasPrefix("\\") { return nil }
        let scalars = Array(path.unicodeScalars)
        if scalars.count >= 2, scalars[1] == ":" { return nil }
        let parts = path.split(whereSeparator: { $0 == "/" || $0 == "\\" }).map(String.init)
            .filter { $0 != "." }
        if parts.isEmpty || parts.contains("..") { return nil }
        return parts
    }
}
