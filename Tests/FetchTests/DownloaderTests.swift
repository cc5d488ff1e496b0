import Fetch
import Foundation
import Numerics
import XCTest

/// The downloader against a local HTTP server on 127.0.0.1 (Tests/Fixtures/fetch/http_test_server.py).
final class DownloaderTests: XCTestCase {
    var served: String!
    var out: String!
    var server: TestServer!
    /// 300,001 bytes: odd, so the truncating route's "first half" is not a round number.
    let payload = testBytes(300_001, seed: 7)
    var payloadSHA256: String { SHA256Hasher.digest(payload).hex }

    override func setUpWithError() throws {
        let tmp = try makeTempDir(self)
        served = tmp + "/served"
        out = tmp + "/out"
        try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
        try payload.write(to: URL(fileURLWithPath: served + "/blob.bin"))
        server = try TestServer(root: served, test: self)
    }

    func testDownloadsTheFileVerifiesSHA256AndInstallsIt() throws {
        var last: (Int64, Int64?)?
        let dest = out + "/sub/blob.bin"
        let result = try Downloader().download(from: server.url("/files/blob.bin"), to: dest,
                                               checksum: .sha256(payloadSHA256), progress: { last = ($0, $1) })
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dest)), payload)
        XCTAssertEqual(result, DownloadResult(path: dest, bytes: 300_001, alreadyPresent: false, resumedFrom: 0,
                                              restarted: false))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest + ".part"))
        XCTAssertEqual(last?.0, 300_001)
        XCTAssertEqual(last?.1, 300_001)
    }

    func testVerifiesAnMD5Checksum() throws {
        let md5 = MD5Hasher.digest(payload).hex
        let dest = out + "/blob.bin"
        _ = try Downloader().download(from: server.url("/files/blob.bin"), to: dest, checksum: .md5(md5))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dest)), payload)
    }

    func testAVerifiedDestinationIsNotFetchedAgain() throws {
        let dest = out + "/blob.bin"
        let url = server.url("/files/blob.bin")
        _ = try Downloader().download(from: url, to: dest, checksum: .sha256(payloadSHA256))
        let second = try Downloader().download(from: url, to: dest, checksum: .sha256(payloadSHA256))
        XCTAssertTrue(second.alreadyPresent)
        XCTAssertEqual(try server.requests().count, 1)
    }

    func testADestinationWithTheWrongContentIsReplaced() throws {
        let dest = out + "/blob.bin"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Data("stale".utf8).write(to: URL(fileURLWithPath: dest))
        let result = try Downloader().download(from: server.url("/files/blob.bin"), to: dest,
                                               checksum: .sha256(payloadSHA256))
        XCTAssertFalse(result.alreadyPresent)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dest)), payload)
    }

    func testWrongChecksumIsRefusedAndNothingIsInstalled() throws {
        let dest = out + "/blob.bin"
        let wrong = String(repeating: "0", count: 64)
        XCTAssertThrowsError(try Downloader().download(from: server.url("/files/blob.bin"), to: dest,
                                                       checksum: .sha256(wrong))) { error in
            XCTAssertEqual(error as? FetchError, .checksumMismatch(
                url: server.url("/files/blob.bin").absoluteString, algorithm: "sha256",
                expected: wrong, got: payloadSHA256))
            XCTAssertTrue("\(error)".contains("expected sha256 \(wrong), got \(payloadSHA256)"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest + ".part"))
    }

    func testTruncatedTransferKeepsThePartAndTheNextAttemptResumesWithRange() throws {
        let dest = out + "/blob.bin"
        let url = server.url("/truncate/blob.bin")   // cuts bodies of requests without Range at 150,000 bytes
        XCTAssertThrowsError(try Downloader().download(from: url, to: dest, checksum: .sha256(payloadSHA256))) {
            guard case let .truncated(u, received, expected, part, _)? = $0 as? FetchError else {
                return XCTFail("expected .truncated, got \($0)")
            }
            XCTAssertEqual(u, url.absoluteString)
            XCTAssertEqual(received, 150_000)
            XCTAssertEqual(expected, 300_001)
            XCTAssertEqual(part, dest + ".part")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dest + ".part")), payload.prefix(150_000))

        var last: (Int64, Int64?)?
        let result = try Downloader().download(from: url, to: dest, checksum: .sha256(payloadSHA256),
                                               progress: { last = ($0, $1) })
        XCTAssertEqual(result.resumedFrom, 150_000)
        XCTAssertFalse(result.restarted)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dest)), payload)
        XCTAssertEqual(last?.0, 300_001)
        XCTAssertEqual(last?.1, 300_001)
        let requests = try server.requests()
        XCTAssertEqual(requests.map { $0.range }, [nil, "bytes=150000-"])
    }

    func testAServerIgnoringRangeRestartsTheTransferFromByteZero() throws {
        let dest = out + "/blob.bin"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // A .part whose bytes are not the file's: appending to it would fail the checksum.
        try testBytes(1234, seed: 99).write(to: URL(fileURLWithPath: dest + ".part"))
        let result = try Downloader().download(from: server.url("/ignore-range/blob.bin"), to: dest,
                                               checksum: .sha256(payloadSHA256))
        XCTAssertTrue(result.restarted)
        XCTAssertEqual(result.resumedFrom, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dest)), payload)
        XCTAssertEqual(try server.requests().map { $0.range }, ["bytes=1234-"])
    }

    func testAPartAsLongAsTheFileGets416AndStartsOver() throws {
        let dest = out + "/blob.bin"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try payload.write(to: URL(fileURLWithPath: dest + ".part"))
        let result = try Downloader().download(from: server.url("/files/blob.bin"), to: dest,
                                               checksum: .sha256(payloadSHA256))
        XCTAssertTrue(result.restarted)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dest)), payload)
        XCTAssertEqual(try server.requests().map { $0.range }, ["bytes=300001-", nil])
    }

    func testHTTP404NamesTheURLAndLeavesNoFiles() throws {
        let dest = out + "/missing.bin"
        let url = server.url("/files/missing.bin")
        XCTAssertThrowsError(try Downloader().download(from: url, to: dest, checksum: nil)) { error in
            XCTAssertEqual(error as? FetchError, .httpStatus(url: url.absoluteString, status: 404))
            XCTAssertTrue("\(error)".hasPrefix("HTTP 404"), "\(error)")
            XCTAssertTrue("\(error)".contains(url.absoluteString), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest + ".part"))
    }

    func testNoServerIsReportedAsNoNetwork() throws {
        let port = try closedLoopbackPort()
        let dest = out + "/blob.bin"
        let url = URL(string: "http://127.0.0.1:\(port)/files/blob.bin")!
        XCTAssertThrowsError(try Downloader(options: DownloadOptions(idleTimeout: 10))
            .download(from: url, to: dest, checksum: nil)) { error in
            XCTAssertEqual(error as? FetchError, .noNetwork(host: "127.0.0.1", reason: "connection refused"))
            XCTAssertEqual("\(error)", "no network: could not reach 127.0.0.1 (connection refused)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest + ".part"))
    }
}
