import Fetch
import Foundation
import Numerics
import XCTest
// ZIPFoundation is a dependency of Fetch; the tests use it only to write small zips.
import ZIPFoundation

/// Unpacking the Horses-or-Humans zips: layout mapping, zip-slip refusal, manifest verification.
final class UnpackTests: XCTestCase {
    var tmp: String!

    override func setUpWithError() throws { tmp = try makeTempDir(self) }

    /// Writes a zip at `path` with the given entries (path → bytes), deflated.
    func makeZip(_ path: String, _ entries: [(String, Data)]) throws {
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
        for (name, data) in entries {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count),
                                 compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
    }

    let horse = testBytes(5000, seed: 1)
    let human = testBytes(4000, seed: 2)

    /// The manifest for `horse` as train/horses/horse01-0.png and `human` as train/humans/human01-00.png.
    var manifest: Manifest {
        Manifest(entries: ["train/horses/horse01-0.png": SHA256Hasher.digest(horse).hex,
                           "train/humans/human01-00.png": SHA256Hasher.digest(human).hex])
    }

    func contents(_ rel: String) -> Data? { FileManager.default.contents(atPath: tmp + "/data/" + rel) }

    func testClassFoldersAtTheZipRootGoUnderTheSplit() throws {
        let zip = tmp + "/horse-or-human.zip"
        try makeZip(zip, [("horses/horse01-0.png", horse), ("humans/human01-00.png", human)])
        let report = try HorsesOrHumans.unpack(zip: zip, split: "train", into: tmp + "/data", manifest: manifest)
        XCTAssertEqual(report, VerificationReport(verified: 2))
        XCTAssertEqual(contents("train/horses/horse01-0.png"), horse)
        XCTAssertEqual(contents("train/humans/human01-00.png"), human)
        // Only the split folder is left: the staging folder was moved into place.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp + "/data"), ["train"])
    }

    func testOneEnclosingFolderAndMacOSMetadataAreTolerated() throws {
        let zip = tmp + "/horse-or-human.zip"
        try makeZip(zip, [("horse-or-human/horses/horse01-0.png", horse),
                          ("horse-or-human/humans/human01-00.png", human),
                          ("__MACOSX/horse-or-human/horses/._horse01-0.png", Data([1, 2, 3])),
                          ("horse-or-human/.DS_Store", Data([4]))])
        let report = try HorsesOrHumans.unpack(zip: zip, split: "train", into: tmp + "/data", manifest: manifest)
        XCTAssertEqual(report, VerificationReport(verified: 2))
        XCTAssertEqual(contents("train/horses/horse01-0.png"), horse)
    }

    func testAnEntryWithDotDotIsRefusedAndNothingIsWritten() throws {
        let zip = tmp + "/evil.zip"
        try makeZip(zip, [("horses/horse01-0.png", horse), ("horses/../../evil.png", human)])
        XCTAssertThrowsError(try HorsesOrHumans.unpack(zip: zip, split: "train", into: tmp + "/data",
                                                       manifest: manifest)) {
            XCTAssertEqual($0 as? FetchError, .unsafeZipEntry(zip: zip, entry: "horses/../../evil.png"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/data"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/evil.png"))
    }

    func testAnEntryWithAnAbsolutePathIsRefused() throws {
        let zip = tmp + "/evil.zip"
        let target = tmp + "/absolute-evil.png"
        try makeZip(zip, [(target, human)])
        XCTAssertThrowsError(try HorsesOrHumans.unpack(zip: zip, split: "train", into: tmp + "/data",
                                                       manifest: manifest)) {
            XCTAssertEqual($0 as? FetchError, .unsafeZipEntry(zip: zip, entry: target))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
    }

    func testASymlinkEntryIsRefused() throws {
        let zip = tmp + "/evil.zip"
        let archive = try Archive(url: URL(fileURLWithPath: zip), accessMode: .create)
        let target = Data("/etc".utf8)
        try archive.addEntry(with: "horses/link", type: .symlink, uncompressedSize: Int64(target.count)) { p, n in
            target.subdata(in: Int(p)..<Int(p) + n)
        }
        XCTAssertThrowsError(try HorsesOrHumans.unpack(zip: zip, split: "train", into: tmp + "/data",
                                                       manifest: manifest)) {
            XCTAssertEqual($0 as? FetchError, .unsafeZipEntry(zip: zip, entry: "horses/link"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/data"))
    }

    func testManifestProblemsAreListedByNameAndNothingIsInstalled() throws {
        let zip = tmp + "/horse-or-human.zip"
        var changed = human
        changed[0] ^= 0xFF
        try makeZip(zip, [("humans/human01-00.png", changed), ("horses/stray.png", horse)])
        XCTAssertThrowsError(try HorsesOrHumans.unpack(zip: zip, split: "train", into: tmp + "/data",
                                                       manifest: manifest)) { error in
            guard case let .datasetMismatch(report)? = error as? FetchError else {
                return XCTFail("expected .datasetMismatch, got \(error)")
            }
            XCTAssertEqual(report.verified, 0)
            XCTAssertEqual(report.missing, ["train/horses/horse01-0.png"])
            XCTAssertEqual(report.extra, ["train/horses/stray.png"])
            XCTAssertEqual(report.mismatched, [.init(path: "train/humans/human01-00.png",
                                                     expected: SHA256Hasher.digest(human).hex,
                                                     got: SHA256Hasher.digest(changed).hex)])
            let text = "\(error)"
            XCTAssertTrue(text.contains("missing: train/horses/horse01-0.png"), text)
            XCTAssertTrue(text.contains("extra: train/horses/stray.png"), text)
            XCTAssertTrue(text.contains("mismatch: train/humans/human01-00.png"), text)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp + "/data"), [])
    }

    func testAnOccupiedSplitFolderIsReplacedOnlyWhenAsked() throws {
        let zip = tmp + "/horse-or-human.zip"
        try makeZip(zip, [("horses/horse01-0.png", horse), ("humans/human01-00.png", human)])
        try FileManager.default.createDirectory(atPath: tmp + "/data/train/horses", withIntermediateDirectories: true)
        try Data("old".utf8).write(to: URL(fileURLWithPath: tmp + "/data/train/horses/old.png"))
        XCTAssertThrowsError(try HorsesOrHumans.unpack(zip: zip, split: "train", into: tmp + "/data",
                                                       manifest: manifest)) {
            XCTAssertEqual($0 as? FetchError, .destinationNotEmpty(path: tmp + "/data/train"))
        }
        XCTAssertNotNil(contents("train/horses/old.png"))
        _ = try HorsesOrHumans.unpack(zip: zip, split: "train", into: tmp + "/data", manifest: manifest,
                                      replace: true)
        XCTAssertNil(contents("train/horses/old.png"))
        XCTAssertEqual(contents("train/horses/horse01-0.png"), horse)
    }

    func testVerifyFindsMissingExtraAndChangedFilesInATree() throws {
        let root = tmp + "/data"
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/train/horses", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/train/humans", withIntermediateDirectories: true)
        try horse.write(to: URL(fileURLWithPath: root + "/train/horses/horse01-0.png"))
        try horse.write(to: URL(fileURLWithPath: root + "/train/humans/human01-00.png"))
        try human.write(to: URL(fileURLWithPath: root + "/train/humans/extra.png"))
        let report = try HorsesOrHumans.verify(root: root, manifest: manifest)
        XCTAssertEqual(report.verified, 1)
        XCTAssertEqual(report.missing, [])
        XCTAssertEqual(report.extra, ["train/humans/extra.png"])
        XCTAssertEqual(report.mismatched.map { $0.path }, ["train/humans/human01-00.png"])
    }

    func testAZipThatIsNotAZipIsReportedAsUnreadable() throws {
        let zip = tmp + "/broken.zip"
        try Data("not a zip".utf8).write(to: URL(fileURLWithPath: zip))
        XCTAssertThrowsError(try HorsesOrHumans.unpack(zip: zip, split: "train", into: tmp + "/data",
                                                       manifest: manifest)) {
            guard case let .unreadableZip(path, _)? = $0 as? FetchError else { return XCTFail("\($0)") }
            XCTAssertEqual(path, zip)
        }
    }

    /// The whole `fetch horses-or-humans` path against the local server: two zips downloaded, unpacked into
    /// train/ and validation/, verified; a second run finds everything in place and downloads nothing.
    func testFetchDownloadsUnpacksAndVerifiesBothSplitsThenSkipsThem() throws {
        let served = tmp + "/served"
        try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
        let valHorse = testBytes(3000, seed: 3), valHuman = testBytes(2000, seed: 4)
        try makeZip(served + "/horse-or-human.zip", [("horses/horse01-0.png", horse), ("humans/human01-00.png", human)])
        try makeZip(served + "/validation-horse-or-human.zip",
                    [("horses/horse1-000.png", valHorse), ("humans/valhuman01-00.png", valHuman)])
        var entries = manifest.entries
        entries["validation/horses/horse1-000.png"] = SHA256Hasher.digest(valHorse).hex
        entries["validation/humans/valhuman01-00.png"] = SHA256Hasher.digest(valHuman).hex
        let server = try TestServer(root: served, test: self)
        let sources: [(split: String, source: Source)] = [
            ("train", Source(name: "horse-or-human", url: server.url("/files/horse-or-human.zip"),
                             filename: "horse-or-human.zip", checksum: nil)),
            ("validation", Source(name: "validation-horse-or-human",
                                  url: server.url("/files/validation-horse-or-human.zip"),
                                  filename: "validation-horse-or-human.zip", checksum: nil)),
        ]
        let root = tmp + "/data", downloads = tmp + "/downloads"
        // A broken zip left by an earlier run is replaced, not trusted.
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        try Data("not a zip".utf8).write(to: URL(fileURLWithPath: downloads + "/horse-or-human.zip"))
        let first = try HorsesOrHumans.fetch(into: root, downloads: downloads, sources: sources,
                                             manifest: Manifest(entries: entries))
        XCTAssertEqual(first.map { $0.alreadyPresent }, [false, false])
        XCTAssertEqual(first.map { $0.report.verified }, [2, 2])
        XCTAssertEqual(contents("validation/humans/valhuman01-00.png"), valHuman)
        XCTAssertTrue(try HorsesOrHumans.verify(root: root, manifest: Manifest(entries: entries)).isClean)

        let second = try HorsesOrHumans.fetch(into: root, downloads: downloads, sources: sources,
                                              manifest: Manifest(entries: entries))
        XCTAssertEqual(second.map { $0.alreadyPresent }, [true, true])
        XCTAssertEqual(try server.requests().count, 2)
    }
}
