import Extract
import Foundation
import KerasH5
import Pipeline
import Store
import XCTest

/// The repository root (the folder with Package.swift above this file).
let repositoryRoot: URL = {
    var u = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: u.appendingPathComponent("Package.swift").path) {
        u = u.deletingLastPathComponent()
    }
    return u
}()

func fixture(_ relative: String) -> URL { repositoryRoot.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative) }

func fixtureBytes(_ relative: String) -> [UInt8] { [UInt8](try! Data(contentsOf: fixture(relative))) }

/// A fresh directory under the system temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase, _ name: String = "tmp") -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-pipeline-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.appendingPathComponent(name)
}

/// Seeded InceptionV3 weights (seed 7), written once per test process: real values, so different images give
/// different features (generating them takes a few seconds).
let seededWeights: InceptionV3Weights = {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-pipeline-seeded-\(getpid()).h5").path
    try! SeededWeights.kerasFile(seed: 7).write(to: path, style: .fixedLength)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try! BaseWeights.load(path: path, cut: .mixed7)
}()

/// 75×75 inputs (mixed7 gives 3×3×768): the smallest InceptionV3 takes, to keep the tests fast.
let smallExtractor: FeatureExtractor = try! FeatureExtractor(
    weights: seededWeights, settings: ExtractionSettings(size: 75), threads: 2)

/// Image files made from the committed fixtures.
enum TestImages {
    /// A JPEG whose pixels differ from the fixture's for each `n`: one byte of the first quantisation table (one
    /// of the three lowest-frequency luminance entries) is changed, which rescales those DCT coefficients of every
    /// block. JPEG has no checksum, so the file stays valid. Distinct n give distinct bytes (distinct content keys).
    static func jpegVariant(_ n: Int, base: String = "images/inputs/horse_photo.jpg") -> [UInt8] {
        var b = fixtureBytes(base)
        // FF D8, then the first FF DB (DQT) segment: marker (2), length (2), Pq/Tq (1), 64 entries in zigzag order.
        guard let dqt = (0..<(b.count - 1)).first(where: { b[$0] == 0xFF && b[$0 + 1] == 0xDB }) else {
            fatalError("\(base) has no DQT segment")
        }
        let entry = dqt + 5 + n % 3
        b[entry] = UInt8((Int(b[entry]) + 1 + n / 3) % 255 + 1)  // 1…255, never the original value for n < 759
        precondition(n < 759)
        return b
    }

    /// The fixture's bytes with `n` appended after the end of the image (after PNG's IEND or JPEG's EOI, where
    /// decoders stop reading): the same pixels under a different content key.
    static func withTrailer(_ relative: String, _ n: Int) -> [UInt8] {
        fixtureBytes(relative) + Array("trailer \(n)".utf8)
    }

    /// A PNG whose header claims width×height pixels and that has no image data: refused from the header alone.
    static func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
        var ihdr = Array("IHDR".utf8)
        for v in [width, height] { ihdr += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        ihdr += [8, 2, 0, 0, 0]  // 8-bit RGB, deflate, adaptive filtering, not interlaced
        let crc = crc32(ihdr)
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + ihdr
            + [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
    }

    /// CRC-32 (IEEE, as zlib.crc32 and PNG chunks use).
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }
}

/// A dataset folder being built by a test.
struct TestDataset {
    let root: URL

    init(_ test: XCTestCase) { root = temporaryDirectory(test, "dataset") }

    /// A dataset at `root`, which the caller removes.
    init(root: URL) { self.root = root }

    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8]) -> URL {
        let url = root.appendingPathComponent(relative)
        try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! Data(bytes).write(to: url)
        return url
    }

    func symlink(_ relative: String, to target: String) {
        let url = root.appendingPathComponent(relative)
        try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }

    func remove(_ relative: String) { try! FileManager.default.removeItem(at: root.appendingPathComponent(relative)) }

    /// `count` distinct JPEGs per class, named <class>/<prefix or class>-NNN.jpg, variants `offset`…
    func addJPEGs(classes: [String], count: Int, offset: Int = 0, prefix: String? = nil) {
        for (c, name) in classes.enumerated() {
            for i in 0..<count {
                write("\(name)/\(prefix ?? name)-\(String(format: "%03d", i)).jpg", TestImages.jpegVariant(offset + c * count + i))
            }
        }
    }

    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
}

/// Runs an extraction of `dataset` into `cache` with the small extractor.
func extract(_ dataset: TestDataset, cache: URL, dtype: FeatureDType = .f16, batch: Int = 8,
             configure: (inout ExtractionJob) -> Void = { _ in }) throws -> ExtractionSummary {
    var job = ExtractionJob(dataset: dataset.root, cache: cache.path)
    job.dtype = dtype
    job.batchSize = batch
    configure(&job)
    return try Extraction.run(job, extractor: smallExtractor, weights: seededWeights)
}

extension FeatureCache {
    /// Opens an existing cache for reading.
    static func open(_ url: URL) throws -> FeatureCache { try FeatureCache(path: url.path, fingerprint: nil) }

    /// path → reason of the errors table.
    func errorReasons() throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try errorEntries().map { ($0.path, $0.reason) })
    }
}

/// Runs a program to completion with standard error discarded (and TensorFlow's start-up logging off); its exit
/// status and standard output.
func runQuietly(_ program: URL, _ arguments: [String]) throws -> (status: Int32, stdout: Data) {
    let p = Process()
    p.executableURL = program
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(["TF_CPP_MIN_LOG_LEVEL": "3"]) { $1 }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, data)
}
