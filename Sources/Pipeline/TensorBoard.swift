import Foundation
import HeadTrain

/// Why TensorBoard events could not be written, naming the event file.
public enum TensorBoardError: Error, CustomStringConvertible {
    /// The event file could not be created (its folder, or the file itself).
    case cannotCreate(path: String)
    /// Creating or writing the event file failed with the system's error.
    case writeFailed(path: String, error: String)

    public var description: String {
        switch self {
        case let .cannotCreate(path): return "TensorBoard events \(path): cannot be created"
        case let .writeFailed(path, error): return "TensorBoard events \(path): \(error)"
        }
    }
}

/// `train --tensorboard DIR`: training curves as TensorBoard event files, laid out as Keras's `TensorBoard`
/// callback lays them out, so that TensorBoard overlays training and validation as it does for Keras runs:
///
///     DIR/train/events.out.tfevents.<seconds>.<host>.headstart        epoch_loss, epoch_accuracy
///     DIR/validation/events.out.tfevents.<seconds>.<host>.headstart   epoch_loss, epoch_accuracy (val_*)
///
/// one point per epoch at step epoch − 1 (Keras counts epochs from 0), appended as each epoch ends so a running
/// TensorBoard follows the training. Each file is a TFRecord stream of `tensorflow.Event` protocol buffers
/// (`TensorBoardEvents`): first the file-version event, then one event per epoch whose summary holds the scalars
/// as `simple_value`s.
public final class TensorBoardWriter {
    public let directory: String
    private let clock: () -> Double
    private var files: [String: FileHandle] = [:]
    private var paths: [String: String] = [:]

    /// Creates DIR/train and DIR/validation with one new event file each. `clock` gives the wall time of each event
    /// (seconds since 1970); tests fix it.
    public init(directory: String, clock: @escaping () -> Double = { Date().timeIntervalSince1970 }) throws {
        self.directory = directory
        self.clock = clock
        let start = clock()
        let host = TensorBoardWriter.hostName()
        for run in ["train", "validation"] {
            let folder = (directory as NSString).appendingPathComponent(run)
            let path = (folder as NSString).appendingPathComponent("events.out.tfevents.\(Int(start)).\(host).\(getpid()).headstart")
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                guard FileManager.default.createFile(atPath: path, contents: nil) else {
                    throw TensorBoardError.cannotCreate(path: path)
                }
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                files[run] = handle
                paths[run] = path
                try write(TensorBoardEvents.fileVersion(wallTime: start), run)
            } catch let e as TensorBoardError {
                throw e
            } catch {
                throw TensorBoardError.writeFailed(path: path, error: "\(error)")
            }
        }
    }

    deinit { for f in files.values { try? f.close() } }

    /// The machine's name from gethostname (Foundation's `hostName` resolves it through DNS, which can take
    /// minutes where no resolver answers).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer).split(separator: ".").first.map(String.init) ?? ""
        return name.isEmpty ? "localhost" : name
    }

    /// The event files, train then validation.
    public var eventFiles: [String] { ["train", "validation"].compactMap { paths[$0] } }

    /// Appends one epoch: loss and accuracy to train, val_loss and val_accuracy (when there are any) to validation.
    public func append(_ e: EpochLog) throws {
        let now = clock(), step = Int64(e.epoch - 1)
        try write(TensorBoardEvents.scalars(wallTime: now, step: step,
                                            [("epoch_loss", Float(e.loss)), ("epoch_accuracy", Float(e.accuracy))]), "train")
        if let vl = e.valLoss, let va = e.valAccuracy {
            try write(TensorBoardEvents.scalars(wallTime: now, step: step,
                                                [("epoch_loss", Float(vl)), ("epoch_accuracy", Float(va))]), "validation")
        }
    }

    private func write(_ event: [UInt8], _ run: String) throws {
        do {
            try files[run]!.write(contentsOf: TensorBoardEvents.record(event))
        } catch {
            throw TensorBoardError.writeFailed(path: paths[run]!, error: "\(error)")
        }
    }
}

/// The bytes of TensorBoard event files.
///
/// A TFRecord: u64 length (little-endian), u32 masked CRC-32C of those 8 bytes, the data, u32 masked CRC-32C of the
/// data; masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2³²).
/// An `Event` (tensorflow/core/util/event.proto): 1 wall_time double, 2 step int64, 3 file_version string,
/// 5 summary `Summary`; a `Summary` (summary.proto): 1 value repeated `Value`; a `Value`: 1 tag string,
/// 2 simple_value float. Fields are written in field-number order and proto3 defaults (step 0) are left out, as
/// TensorFlow's own serializer does, so the bytes are TensorFlow's (`Tools/keras-reference/make_tensorboard_fixtures.py`).
public enum TensorBoardEvents {
    public static func fileVersion(wallTime: Double) -> [UInt8] {
        var e = [UInt8]()
        double(&e, field: 1, wallTime)
        bytes(&e, field: 3, Array("brain.Event:2".utf8))
        return e
    }

    public static func scalars(wallTime: Double, step: Int64, _ values: [(tag: String, value: Float)]) -> [UInt8] {
        var summary = [UInt8]()
        for (tag, value) in values {
            var v = [UInt8]()
            bytes(&v, field: 1, Array(tag.utf8))
            key(&v, field: 2, wireType: 5)
            withUnsafeBytes(of: value.bitPattern.littleEndian) { v += $0 }
            bytes(&summary, field: 1, v)
        }
        var e = [UInt8]()
        double(&e, field: 1, wallTime)
        if step != 0 { key(&e, field: 2, wireType: 0); varint(&e, UInt64(bitPattern: step)) }
        bytes(&e, field: 5, summary)
        return e
    }

    public static func record(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(data.count + 16)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        out += length
        withUnsafeBytes(of: masked(crc32c(length)).littleEndian) { out += $0 }
        out += data
        withUnsafeBytes(of: masked(crc32c(data)).littleEndian) { out += $0 }
        return out
    }

    public static func masked(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }

    /// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
    public static func crc32c(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data { c = crc32cTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    private static let crc32cTable: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    private static func key(_ out: inout [UInt8], field: Int, wireType: Int) { varint(&out, UInt64(field << 3 | wireType)) }

    private static func varint(_ out: inout [UInt8], _ v0: UInt64) {
        var v = v0
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }

    private static func double(_ out: inout [UInt8], field: Int, _ value: Double) {
        key(&out, field: field, wireType: 1)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { out += $0 }
    }

    private static func bytes(_ out: inout [UInt8], field: Int, _ value: [UInt8]) {
        key(&out, field: field, wireType: 2)
        varint(&out, UInt64(value.count))
        out += value
    }
}
