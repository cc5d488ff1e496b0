@testable import Fetch
import Foundation
import Numerics
import XCTest

/// The sources, the committed manifest, and the digests they rely on.
final class CatalogueTests: XCTestCase {
    /// ../shared/data/horse-or-human beside the repository, when this machine has it.
    func sharedDataset() throws -> String {
        let path = repoRoot().deletingLastPathComponent().appendingPathComponent("shared/data/horse-or-human").path
        guard FileManager.default.fileExists(atPath: path + "/MANIFEST.sha256") else {
            throw XCTSkip("\(path) is absent")
        }
        return path
    }

    func testAWeightsMirrorChangesOnlyTheURL() {
        let mirrored = Catalogue.inceptionV3NoTopWeights(environment: ["HEADSTART_WEIGHTS_URL": "http://127.0.0.1:8000/w.h5"])
        XCTAssertEqual(mirrored.url.absoluteString, "http://127.0.0.1:8000/w.h5")
        XCTAssertEqual(mirrored.filename, Catalogue.inceptionV3NoTopWeights.filename)
        XCTAssertEqual(mirrored.checksum, Catalogue.inceptionV3NoTopWeights.checksum)
        XCTAssertEqual(Catalogue.inceptionV3NoTopWeights(environment: [:]), Catalogue.inceptionV3NoTopWeights)
    }

    func testTheCommittedManifestListsThe1283ImagesBySplitAndClass() {
        let entries = Manifest.horsesOrHumans.entries
        XCTAssertEqual(entries.count, 1283)
        var counts = [String: Int]()
        for path in entries.keys {
            let parts = path.split(separator: "/")
            XCTAssertEqual(parts.count, 3, path)
            XCTAssertTrue(path.hasSuffix(".png"), path)
            counts[parts.prefix(2).joined(separator: "/"), default: 0] += 1
        }
        XCTAssertEqual(counts, ["train/horses": 500, "train/humans": 527,
                                "validation/horses": 128, "validation/humans": 128])
    }

    /// The dataset README publishes the SHA-256 of MANIFEST.sha256; the embedded text must be that file verbatim.
    func testTheEmbeddedManifestTextHasThePublishedSHA256() {
        XCTAssertEqual(SHA256Hasher.digest(Data(Manifest.horsesOrHumansText.utf8)).hex,
                       "ef0cd728f458decfb01a3919ec618f9f4cf4861f071fe344c09953ced046eda0")
        XCTAssertEqual(Manifest.horsesOrHumansTextSHA256,
                       "ef0cd728f458decfb01a3919ec618f9f4cf4861f071fe344c09953ced046eda0")
    }

    func testTheCommittedManifestEqualsTheDatasetsManifestFile() throws {
        let dir = try sharedDataset()
        let text = try String(contentsOfFile: dir + "/MANIFEST.sha256", encoding: .utf8)
        XCTAssertEqual(Manifest.horsesOrHumans, try Manifest(text: text))
    }

    func testTheImagesBesideTheRepositoryVerifyAgainstTheCommittedManifest() throws {
        let dir = try sharedDataset()
        guard FileManager.default.fileExists(atPath: dir + "/train/horses") else {
            throw XCTSkip("\(dir) has no images")
        }
        let report = try HorsesOrHumans.verify(root: dir)
        XCTAssertEqual(report, VerificationReport(verified: 1283), report.description)
    }

    func testCatalogueURLsAreTheKerasAndBookSources() {
        let weights = Catalogue.inceptionV3NoTopWeights
        XCTAssertEqual(weights.url.absoluteString, "https://storage.googleapis.com/tensorflow/keras-applications/"
            + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
        XCTAssertEqual(weights.checksum, .md5("bcbd6486424b2319ff4ef7d526e38f63"))
        XCTAssertEqual(Catalogue.horsesOrHumansTraining.url.absoluteString,
                       "https://storage.googleapis.com/learning-datasets/horse-or-human.zip")
        XCTAssertEqual(Catalogue.horsesOrHumansValidation.url.absoluteString,
                       "https://storage.googleapis.com/learning-datasets/validation-horse-or-human.zip")
        for source in Catalogue.all {
            XCTAssertEqual(source.filename, source.url.lastPathComponent, source.name)
            XCTAssertEqual(Catalogue.source(named: source.name), source)
        }
        XCTAssertEqual(HorsesOrHumans.sources.map { $0.split }, ["train", "validation"])
    }

    func testMD5MatchesRFC1321Vectors() {
        XCTAssertEqual(MD5Hasher.digest(Data()).hex, "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(MD5Hasher.digest(Data("abc".utf8)).hex, "900150983cd24fb0d6963f7d28e17f72")
        XCTAssertEqual(MD5Hasher.digest(Data("message digest".utf8)).hex, "f96b697d7cb7938d525a2f31aaf161d0")
    }

    func testManifestParsingNamesTheBadLine() {
        let good = String(repeating: "a", count: 64) + "  train/horses/a.png\n"
        XCTAssertEqual(try Manifest(text: good).entries, ["train/horses/a.png": String(repeating: "a", count: 64)])
        XCTAssertThrowsError(try Manifest(text: good + "xyz  train/horses/b.png\n", source: "M")) {
            XCTAssertTrue("\($0)".hasPrefix("M: line 2 is not"), "\($0)")
        }
        XCTAssertThrowsError(try Manifest(text: good + good, source: "M")) {
            XCTAssertTrue("\($0)".contains("line 2 lists train/horses/a.png a second time"), "\($0)")
        }
        XCTAssertThrowsError(try Manifest(text: String(repeating: "b", count: 64) + "  ../x.png\n", source: "M")) {
            XCTAssertTrue("\($0)".contains("unsafe path"), "\($0)")
        }
    }
}
