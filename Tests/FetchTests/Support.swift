import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The repository root, found from this file's path.
func repoRoot() -> URL {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        url.deleteLastPathComponent()
    }
    fatalError("Package.swift not found above \(#filePath)")
}

/// A fresh temporary folder, removed at the end of the test.
func makeTempDir(_ test: XCTestCase) throws -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("fetchtests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

/// `count` deterministic pseudo-random bytes (a 64-bit LCG, high bytes), so failures reproduce.
func testBytes(_ count: Int, seed: UInt64) -> Data {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    var out = Data(count: count)
    for i in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        out[i] = UInt8(truncatingIfNeeded: state >> 56)
    }
    return out
}

/// Tests/Fixtures/fetch/http_test_server.py run with python3 on 127.0.0.1 at an ephemeral port, serving files
/// from `root`. Stopped (stdin closed, then terminated) by the test's teardown; the script also exits by itself
/// after 120 s.
final class TestServer {
    let root: String
    let logPath: String
    let port: Int
    private let process: Process
    private let stdin: Pipe

    /// Starts the server, or skips the test when python3 is not installed.
    init(root: String, test: XCTestCase) throws {
        let script = repoRoot().appendingPathComponent("Tests/Fixtures/fetch/http_test_server.py").path
        guard let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0) }) ?? TestServer.which("python3") else {
            throw XCTSkip("python3 not found: the local HTTP test server needs it")
        }
        self.root = root
        self.logPath = root + "/../server-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, root, logPath, "--lifetime", "120"]
        stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        // First line: "PORT <n>".
        var line = Data()
        let reader = stdout.fileHandleForReading
        while !line.contains(10) {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5)) else {
            process.terminate()
            throw XCTSkip("the local HTTP test server did not start (said: '\(text)')")
        }
        self.port = port
        let process = self.process, stdin = self.stdin, logPath = self.logPath
        test.addTeardownBlock {
            try? stdin.fileHandleForWriting.close()
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: logPath)
        }
    }

    func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

    /// The requests seen so far: (path, Range header or nil).
    func requests() throws -> [(path: String, range: String?)] {
        let text = try String(contentsOfFile: logPath, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return (obj["path"] as! String, obj["range"] as? String)
        }
    }

    private static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on: bound to get a free ephemeral number, then closed.
func closedLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw XCTSkip("socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw XCTSkip("could not bind a loopback port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
