import Foundation
import Store
import XCTest

/// Dataset folders for the extract / export / merge command tests, made from the committed fixture images.
struct CLIDataset {
    let root: URL

    init(_ directory: URL) { root = directory.appendingPathComponent("dataset") }

    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8]) -> String {
        let url = root.appendingPathComponent(relative)
        try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! Data(bytes).write(to: url)
        return relative
    }

    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func fixtureBytes(_ relative: String) -> [UInt8] { [UInt8](try! Data(contentsOf: URL(fileURLWithPath: CLI.fixture(relative)))) }

    /// A JPEG with pixels of its own for each n: one of the three lowest-frequency entries of the first
    /// quantisation table changed (JPEG has no checksum, so the file stays valid; distinct n, distinct bytes).
    static func jpegVariant(_ n: Int, base: String = "images/inputs/horse_photo.jpg") -> [UInt8] {
        precondition(n < 759)
        var b = fixtureBytes(base)
        let dqt = (0..<(b.count - 1)).first { b[$0] == 0xFF && b[$0 + 1] == 0xDB }!
        let entry = dqt + 5 + n % 3  // marker (2), length (2), Pq/Tq (1), then the zigzag entries
        b[entry] = UInt8((Int(b[entry]) + 1 + n / 3) % 255 + 1)
        return b
    }

    /// `count` distinct JPEGs per class, <class>/<class>-NNN.jpg; returns their relative paths in dataset order.
    @discardableResult
    func addJPEGs(classes: [String], count: Int, offset: Int = 0) -> [String] {
        var out = [String]()
        for (c, name) in classes.enumerated() {
            for i in 0..<count {
                out.append(write("\(name)/\(name)-\(String(format: "%03d", i)).jpg", Self.jpegVariant(offset + c * count + i)))
            }
        }
        return out
    }
}

extension FeatureCache {
    static func open(_ path: String) throws -> FeatureCache { try FeatureCache(path: path, fingerprint: nil) }
}

/// `headstart` running in the background (for the kill tests).
final class BackgroundCLI {
    let process = Process()
    private let errPipe = Pipe(), outPipe = Pipe()

    init(_ arguments: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: CLI.executable.path) else {
            throw XCTSkip("\(CLI.executable.path) is not built (run `swift build` before `swift test --skip-build`)")
        }
        process.executableURL = CLI.executable
        process.arguments = arguments
        process.standardOutput = outPipe
        process.standardError = errPipe
        try process.run()
    }

    /// SIGKILL, then wait; returns whether it was still running (true) or had already finished (false).
    func kill9() -> Bool {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
    }

    var stderr: String {
        String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Runs `headstart arguments` (an extraction into `cache`) and SIGKILLs it once the cache holds at least
    /// `records` records, polling from this process (LMDB readers do not block the writer). Returns whether
    /// the child was still running when killed, how many records it had been seen to hold, and its stderr.
    static func killExtraction(_ arguments: [String], cache: String, atRecords records: Int) throws
        -> (killed: Bool, seen: Int, stderr: String) {
        let child = try BackgroundCLI(arguments)
        var seen = 0
        let deadline = Date().addingTimeInterval(600)
        while seen < records && child.process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
            seen = (try? FeatureCache.open(cache).counts().records) ?? 0
        }
        let killed = child.kill9()
        return (killed, seen, child.stderr)
    }
}
