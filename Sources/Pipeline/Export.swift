import Foundation
import KerasH5
import Numerics
import Store

/// What `Export.run` wrote.
public struct ExportSummary: Equatable, Sendable {
    /// Images exported (rows of every file).
    public var count = 0
    /// Shape of `features.npy`: [count] + the cache's feature shape.
    public var featureShape: [Int] = []
    public var classNames: [String] = []
    /// Images per split among those exported.
    public var train = 0, validation = 0
    /// The files written, in the output folder.
    public var files: [String] = []
    /// Entries left out as damaged (`--skip-damaged`).
    public var damaged: [DamagedEntry] = []
}

public enum ExportError: Error, CustomStringConvertible, Equatable {
    /// paths.txt has one path per line, so a path with a line break cannot be written unambiguously.
    case pathHasLineBreak(path: String)
    case cannotWrite(file: String, reason: String)

    public var description: String {
        switch self {
        case .pathHasLineBreak(let p):
            return "cannot export: the indexed path \(p.debugDescription) contains a line break, which paths.txt (one path per line) cannot hold"
        case let .cannotWrite(file, reason): return "cannot write \(file): \(reason)"
        }
    }
}

/// A feature cache as NumPy files, for people who train elsewhere. Row i of every file is the i-th index entry
/// in index order (paths sorted bytewise by UTF-8, i.e. Unicode code point order):
///
///     features.npy  float32 (N, H, W, C)   the record of the entry's content (view 0), widened from f16 if stored so
///     labels.npy    int32   (N,)           class id; classes.txt line i is the name of class i
///     splits.npy    uint8   (N,)           0 = train, 1 = validation
///     paths.txt     N lines                the path relative to the dataset root
///     classes.txt   one class name a line, in label order
///
/// `features.npy` is streamed: its header is written first, then `batchSize` rows at a time, so memory stays at
/// one batch whatever N is. Every file is written under a temporary name and renamed when complete, so an
/// interrupted export never leaves a file that looks whole.
public enum Export {
    public static let fileNames = ["features.npy", "labels.npy", "splits.npy", "paths.txt", "classes.txt"]

    @discardableResult
    public static func run(cache path: String, to directory: String, split: Split? = nil,
                           batchSize: Int = 64, damagePolicy: DamagePolicy = .refuse) throws -> ExportSummary {
        let cache = try FeatureCache(path: path, fingerprint: nil, readOnly: true)
        // One snapshot of the index, every entry and record checked; records are never deleted, so every entry's
        // record stays readable even if an extraction is writing meanwhile.
        let screening = try cache.screened(split: split, policy: damagePolicy)
        let entries = screening.usable
        for e in entries where e.path.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            throw ExportError.pathHasLineBreak(path: e.path)
        }
        let classes = try cache.classNames()
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ExportError.cannotWrite(file: directory, reason: error.localizedDescription)
        }
        func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let partial = ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        for name in fileNames { AtomicFile.removeStalePartials(of: file(name)) }  // left by a killed export

        // features.npy, streamed.
        let shape = [entries.count] + cache.fingerprint.featureShape
        let n = cache.fingerprint.featureCount
        let featuresTemp = file("features.npy" + partial)
        guard fm.createFile(atPath: featuresTemp, contents: nil), let handle = FileHandle(forWritingAtPath: featuresTemp) else {
            throw ExportError.cannotWrite(file: featuresTemp, reason: "cannot create the file")
        }
        do {
            defer { try? handle.close() }
            try write(NPY.header(dtype: .float32, shape: shape), to: handle, file: featuresTemp)
            let rows = max(1, batchSize)
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: rows * n)
            defer { buffer.deallocate() }
            var start = 0
            while start < entries.count {
                let batch = Array(entries[start..<min(entries.count, start + rows)])
                try cache.features(for: batch, into: buffer, checkChecksums: true)
                // Float is IEEE binary32 in the machine's order; .npy says '<f4', so this needs a little-endian host.
                let data = Data(bytes: buffer.baseAddress!, count: batch.count * n * MemoryLayout<Float>.size)
                try write(data, to: handle, file: featuresTemp)
                start += batch.count
            }
        } catch {
            try? fm.removeItem(atPath: featuresTemp)
            throw error
        }

        // The small files, whole.
        var small: [(String, Data)] = []
        var labels = Data(capacity: entries.count * 4)
        for e in entries { withUnsafeBytes(of: e.label.littleEndian) { labels.append(contentsOf: $0) } }
        small.append(("labels.npy", NPY.header(dtype: .int32, shape: [entries.count]) + labels))
        small.append(("splits.npy", NPY.header(dtype: .uint8, shape: [entries.count]) + Data(entries.map(\.split.rawValue))))
        small.append(("paths.txt", Data(entries.map { $0.path + "\n" }.joined().utf8)))
        small.append(("classes.txt", Data(classes.map { $0 + "\n" }.joined().utf8)))
        for (name, data) in small {
            do { try data.write(to: URL(fileURLWithPath: file(name + partial))) } catch {
                throw ExportError.cannotWrite(file: file(name + partial), reason: error.localizedDescription)
            }
        }
        for name in fileNames {
            let target = file(name)
            do {
                if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
                try fm.moveItem(atPath: file(name + partial), toPath: target)
            } catch {
                throw ExportError.cannotWrite(file: target, reason: error.localizedDescription)
            }
        }
        var summary = ExportSummary()
        summary.count = entries.count
        summary.featureShape = shape
        summary.classNames = classes
        summary.train = entries.filter { $0.split == .train }.count
        summary.validation = entries.count - summary.train
        summary.files = fileNames
        summary.damaged = screening.damaged
        return summary
    }

    private static func write(_ data: Data, to handle: FileHandle, file: String) throws {
        do { try handle.write(contentsOf: data) } catch {
            throw ExportError.cannotWrite(file: file, reason: error.localizedDescription)
        }
    }
}
