import Foundation

/// A setting given a value it does not accept: which setting (as it was given — a flag, or a pipeline file's
/// key with the file), the value, and what it accepts.
public struct SettingError: Error, CustomStringConvertible, Equatable {
    public var name: String
    public var value: String
    public var expected: String
    public init(name: String, value: String, expected: String) { self.name = name; self.value = value; self.expected = expected }
    public var description: String { "\(name) \(value): expected \(expected)" }
}

/// What every numeric setting accepts, in one place. A command-line flag and its pipeline-file key go through the
/// same check (`--batch 0` and `train: {batch: 0}` are refused alike), and the libraries check again before they
/// size anything from a value, so a caller that skipped the command line cannot get past them either.
///
/// The upper bounds are there because every one of these values sizes an allocation or a loop: past them a
/// run would not fit any machine (the head's and the network's memory are checked against this machine's
/// separately, once the cache or the input size says what they are).
public enum Setting: String, CaseIterable, Sendable {
    case size, extractBatch, validationSplit, limit, views, threads
    case epochs, trainBatch, learningRate, hidden, dropout, earlyStop, seed
    case random, rungs, keep, top, memoryGB

    /// The command-line flag.
    public var flag: String {
        switch self {
        case .extractBatch, .trainBatch: return "--batch"
        case .validationSplit: return "--validation-split"
        case .learningRate: return "--lr"
        case .earlyStop: return "--early-stop"
        case .memoryGB: return "--memory-gb"
        default: return "--" + rawValue
        }
    }

    /// The key in a pipeline file, with its section.
    public var key: String {
        switch self {
        case .size, .limit: return "extract.\(rawValue)"
        case .extractBatch: return "extract.batch"
        case .validationSplit: return "extract.validation_split"
        case .views: return "augment.views"
        case .threads, .top, .memoryGB: return rawValue
        case .epochs, .hidden, .dropout, .seed: return "train.\(rawValue)"
        case .trainBatch: return "train.batch"
        case .learningRate: return "train.lr"
        case .earlyStop: return "train.early_stop"
        case .random, .rungs, .keep: return "sweep.\(rawValue)"
        }
    }

    /// Integer settings: their range.
    var integers: ClosedRange<Int>? {
        switch self {
        case .size: return 75...2048  // InceptionV3's minimum; 2048² inputs already need ~1 GiB per image in the network
        case .extractBatch: return 1...1024
        case .limit: return 1...Int.max
        case .views: return 0...65534  // view numbers are u16; 0 is the image itself
        case .threads: return 0...1024  // 0 = all cores
        case .epochs: return 1...1_000_000
        case .trainBatch: return 1...(1 << 20)
        case .hidden: return 1...(1 << 24)
        case .earlyStop: return 1...1_000_000
        case .seed: return 0...(1 << 53)  // a sweep's seeds pass through a Double
        case .random: return 1...1_000_000
        case .rungs: return 1...64
        case .top: return 0...1000
        case .validationSplit, .learningRate, .dropout, .keep, .memoryGB: return nil
        }
    }

    /// Real-valued settings: lower and upper bounds and whether each is included.
    var reals: (lower: Double, lowerIncluded: Bool, upper: Double, upperIncluded: Bool)? {
        switch self {
        case .validationSplit, .dropout: return (0, true, 1, false)
        case .learningRate: return (0, false, .greatestFiniteMagnitude, true)
        case .keep: return (0, false, 1, false)
        case .memoryGB: return (0, false, 1_048_576, true)
        default: return nil
        }
    }

    /// What the setting accepts, in words.
    public var expected: String {
        if let r = integers {
            return r.upperBound == Int.max ? "an integer of at least \(r.lowerBound)" : "an integer from \(r.lowerBound) to \(r.upperBound)"
        }
        let b = reals!
        if b.upper == .greatestFiniteMagnitude { return "a finite number above \(Self.text(b.lower))" }
        return "a number in \(b.lowerIncluded ? "[" : "(")\(Self.text(b.lower)), \(Self.text(b.upper))\(b.upperIncluded ? "]" : ")")"
    }

    static func text(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x) }

    /// Checks an integer value given as `name` (the flag, or the file and key).
    @discardableResult
    public func check(_ value: Int, as name: String) throws -> Int {
        guard let r = integers else { return Int(try check(Double(value), as: name)) }
        guard r.contains(value) else { throw SettingError(name: name, value: String(value), expected: expected) }
        return value
    }

    /// Checks a real value given as `name`. A learning rate must also stay positive in float32, as training
    /// computes in float32.
    @discardableResult
    public func check(_ value: Double, as name: String) throws -> Double {
        if integers != nil {
            guard value.isFinite, value == value.rounded(), let i = Int(exactly: value) else {
                throw SettingError(name: name, value: Self.text(value), expected: expected)
            }
            return Double(try check(i, as: name))
        }
        let b = reals!
        let above = b.lowerIncluded ? value >= b.lower : value > b.lower
        let below = b.upperIncluded ? value <= b.upper : value < b.upper
        guard value.isFinite, above, below, self != .learningRate || Float(value) > 0 && Float(value).isFinite else {
            throw SettingError(name: name, value: String(value), expected: expected)
        }
        return value
    }

    /// Checks a value given on the command line, named by this setting's flag.
    @discardableResult
    public func checkFlag(_ value: Int) throws -> Int { try check(value, as: flag) }
    @discardableResult
    public func checkFlag(_ value: Double) throws -> Double { try check(value, as: flag) }
}

/// Where a command will write a file: checked before the work that produces it, so that `train --out
/// /missing/dir/head.h5` fails at once instead of after every epoch.
public enum OutputPath {
    /// The folder that will hold `path` must exist and be writable, and `path` must not be a folder.
    public static func check(_ path: String, as name: String) throws {
        let url = URL(fileURLWithPath: path)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            throw SettingError(name: name, value: path, expected: "a file name (it is a folder)")
        }
        let folder = url.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw SettingError(name: name, value: path, expected: "a file in an existing folder (\(folder) does not exist)")
        }
        guard access(folder, W_OK) == 0 else {
            throw SettingError(name: name, value: path, expected: "a file in a folder this user can write (\(folder): \(String(cString: strerror(errno))))")
        }
    }
}
