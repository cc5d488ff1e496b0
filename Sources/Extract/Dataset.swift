import Foundation
import Numerics

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which subset an image belongs to (0 = train, 1 = validation, as in the cache's index and `splits.npy`).
public enum DatasetSplit: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case train = 0
    case validation = 1
    public var description: String { self == .train ? "train" : "validation" }
}

/// One image file of a dataset.
public struct DatasetItem: Equatable, Sendable {
    /// Path relative to the dataset root, '/'-separated, e.g. "train/horses/horse01-0.png"; a name that is not
    /// UTF-8 is shown escaped (`FileName.display`).
    public var relativePath: String
    /// The file's absolute path as text (for a name that is not UTF-8, the escaped form: use `fileSystemPath`).
    public var url: URL
    /// The file's absolute path as the file system has it, byte for byte.
    public var fileSystemPath: [UInt8]
    /// Class id: the index of `className` in `Dataset.classNames`.
    public var label: Int
    public var className: String
    public var split: DatasetSplit
    /// The file's stat data (of the target, for a symbolic link), read by the scan: size, modification and
    /// status-change times (ns since 1970), inode and device. An unchanged stat lets a rerun trust the file
    /// without opening it.
    public var fileSize: Int64
    public var modificationTimeNanoseconds: Int64
    public var changeTimeNanoseconds: Int64
    public var inode: UInt64
    public var device: UInt64
}

/// A file or folder that looks like part of the dataset but cannot be used, and why. Not fatal.
public struct DatasetProblem: Equatable, Sendable, CustomStringConvertible {
    public var relativePath: String
    public var reason: String
    public var description: String { "\(relativePath): \(reason)" }
}

public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case notADirectory(path: String)
    case cannotList(path: String, reason: String)
    case noClasses(path: String)
    case invalidValidationSplit(Double)

    public var description: String {
        switch self {
        case .notADirectory(let p): return "dataset \(p) is not a directory"
        case let .cannotList(p, reason): return "cannot list dataset folder \(p): \(reason)"
        case .noClasses(let p): return "dataset \(p) has no class subfolders (expected DIR/<class>/… or DIR/train/<class>/…)"
        case .invalidValidationSplit(let v): return "validation split \(v) is outside [0, 1)"
        }
    }
}

/// Content present in both splits (found by content key after hashing; see `Dataset.splitCollisions`).
public struct SplitCollision<Key: Hashable>: Sendable where Key: Sendable {
    public var key: Key
    public var trainPaths: [String]
    public var validationPaths: [String]
}

/// A folder of images laid out as Keras `flow_from_directory` expects.
///
/// Layouts:
/// - **split folders**: `ROOT/train/<class>/…` (and `ROOT/validation/<class>/…` when present). Splits come from
///   the folders. If there is no `validation` folder, `validationSplit` applies to the train folder.
/// - **flat**: `ROOT/<class>/…`. Each image is validation when the stable hash of its path within its class
///   folder is below `validationSplit` (see `splitFraction`), train otherwise.
///
/// Conventions copied from Keras 3 (`keras/src/legacy/preprocessing/image.py`, `DirectoryIterator` and
/// `_iter_valid_files`):
/// - classes are the sub-directories of the class root (symbolic links to directories count; hidden ones too),
///   in Python `sorted` order (Unicode code points); label = position;
/// - files are found with `os.walk(class_dir, followlinks=False)`: recursion into real sub-directories only,
///   walk roots in sorted order, files sorted within each root;
/// - a file is an image when `name.lower().endswith(("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff"))`,
///   and also "gif" (`image_dataset_from_directory` lists it) and "webp" (PIL, and so `load_img`, opens it).
///   The suffixes have no dot, so Keras also takes e.g. "scanpng"; so does this, to list the same files.
///
/// Unlike Keras, files it would fail on later are reported as problems instead: broken symbolic links,
/// unreadable files, non-regular files with an image name, and sub-directories that cannot be listed (os.walk
/// skips those silently).
public struct Dataset: Sendable {
    public enum Layout: Sendable, Equatable { case splitFolders, flat }

    public static let imageSuffixes = ["png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff", "gif", "webp"]

    public var root: URL
    public var layout: Layout
    public var classNames: [String]
    /// Ordered: by split folder (split layout; train first), then class id, then the Keras walk order.
    public var items: [DatasetItem]
    public var problems: [DatasetProblem]

    /// Scans `root`. `validationSplit` ∈ [0, 1) is used when the splits do not come from folders.
    public static func scan(root: URL, validationSplit: Double = 0) throws -> Dataset {
        guard validationSplit >= 0, validationSplit < 1 else { throw DatasetError.invalidValidationSplit(validationSplit) }
        let rootPath = root.standardizedFileURL.path
        guard isDirectory(rootPath) else { throw DatasetError.notADirectory(path: rootPath) }
        var scanner = Scanner(rootPath: rootPath)

        let trainDir = rootPath + "/train", validationDir = rootPath + "/validation"
        let layout: Layout = isDirectory(trainDir) ? .splitFolders : .flat
        var classNames: [String]
        switch layout {
        case .flat:
            classNames = try scanner.classes(in: rootPath)
        case .splitFolders:
            let train = try scanner.classes(in: trainDir)
            let validation = isDirectory(validationDir) ? try scanner.classes(in: validationDir) : []
            classNames = pythonSorted(Array(Set(train).union(validation)))
            if isDirectory(validationDir) {
                for c in classNames where !train.contains(c) {
                    scanner.problems.append(DatasetProblem(relativePath: "train/\(c)", reason: "class folder exists in validation/ but not in train/"))
                }
                for c in classNames where !validation.contains(c) {
                    scanner.problems.append(DatasetProblem(relativePath: "validation/\(c)", reason: "class folder exists in train/ but not in validation/"))
                }
            }
        }
        guard !classNames.isEmpty else { throw DatasetError.noClasses(path: rootPath) }

        var items = [DatasetItem]()
        func add(classRoot: String, prefix: String, fixedSplit: DatasetSplit?) {
            for (label, name) in classNames.enumerated() {
                let classDir = classRoot + "/" + name
                guard isDirectory(classDir) else { continue }
                let classBytes = Array(classRoot.utf8) + [0x2F] + scanner.bytes(of: name)
                for f in scanner.walk(classDir: classBytes) {
                    let split = fixedSplit ?? (splitFraction(pathWithinClass: f.pathWithinClass) < validationSplit ? .validation : .train)
                    items.append(DatasetItem(
                        relativePath: prefix + name + "/" + f.pathWithinClass,
                        url: URL(fileURLWithPath: classDir + "/" + f.pathWithinClass),
                        fileSystemPath: classBytes + [0x2F] + f.bytesWithinClass,
                        label: label, className: name, split: split,
                        fileSize: f.size, modificationTimeNanoseconds: f.mtime, changeTimeNanoseconds: f.ctime,
                        inode: f.inode, device: f.device))
                }
            }
        }
        switch layout {
        case .flat:
            add(classRoot: rootPath, prefix: "", fixedSplit: nil)
        case .splitFolders:
            let hasValidation = isDirectory(validationDir)
            add(classRoot: trainDir, prefix: "train/", fixedSplit: hasValidation ? .train : nil)
            if hasValidation { add(classRoot: validationDir, prefix: "validation/", fixedSplit: .validation) }
        }
        return Dataset(root: URL(fileURLWithPath: rootPath), layout: layout, classNames: classNames, items: items,
                       problems: scanner.problems)
    }

    /// The stable position of a file in [0, 1): the first 8 bytes of SHA-256(UTF-8 path within its class folder)
    /// as a big-endian integer, divided by 2^64. It depends on nothing but that path, so moving the dataset
    /// root, adding or removing other files, or rescanning never changes a file's split.
    public static func splitFraction(pathWithinClass: String) -> Double {
        let d = SHA256Hasher.digest(Data(pathWithinClass.utf8))
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(d[i]) }
        return Double(v >> 11) * 0x1p-53  // top 53 bits: exact in a Double, strictly below 1
    }

    /// The shard of `count` a file belongs to (`extract --shard i/n`): the first 8 bytes of SHA-256(UTF-8 path
    /// relative to the dataset root) as a big-endian integer, modulo `count`. It needs no read of the file and is
    /// the same on every machine, wherever the dataset is mounted, so each shard opens only its own files.
    public static func shard(relativePath: String, count: Int) -> Int {
        precondition(count >= 1, "a shard count is at least 1")
        let d = SHA256Hasher.digest(Data(relativePath.utf8))
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(d[i]) }
        return Int(v % UInt64(count))
    }

    /// Content (by key, e.g. the SHA-256 of the file bytes) that appears in both splits, with the paths on each
    /// side, ordered by the first train path. Empty when the splits are disjoint.
    public static func splitCollisions<Key: Hashable & Sendable>(_ pairs: [(item: DatasetItem, key: Key)]) -> [SplitCollision<Key>] {
        var train = [Key: [String]](), validation = [Key: [String]]()
        for (item, key) in pairs {
            if item.split == .train { train[key, default: []].append(item.relativePath) } else {
                validation[key, default: []].append(item.relativePath)
            }
        }
        return train.compactMap { key, t in
            validation[key].map { SplitCollision(key: key, trainPaths: pythonSorted(t), validationPaths: pythonSorted($0)) }
        }.sorted { pythonLess($0.trainPaths[0], $1.trainPaths[0]) }
    }

    /// Whether a file name is an image by Keras's rule (lower-cased name ends with one of `imageSuffixes`).
    public static func isImageName(_ name: String) -> Bool {
        let lower = name.lowercased()
        return imageSuffixes.contains { lower.hasSuffix($0) }
    }

    /// The file system path of `relativePath` (as indexed) under `root`: the path itself when that exists,
    /// else, for an escaped name (`FileName.display`), the bytes it stands for.
    public static func fileSystemPath(root: String, relativePath: String) -> [UInt8] {
        let literal = root + "/" + relativePath
        var st = stat()
        if lstat(literal, &st) == 0 || !relativePath.contains("\\x") { return Array(literal.utf8) }
        return Array(root.utf8) + [0x2F] + FileName.unescape(relativePath)
    }
}

/// File names as the file system holds them (bytes, any but '/' and NUL) and as headstart shows and indexes them
/// (text). Keras reads a name that is not UTF-8 too (Python decodes it with surrogate escapes), so headstart
/// must not drop it: it is shown with each byte that is not part of valid UTF-8 written `\xHH`, and `\` written
/// `\x5c`, so the text reads back to the same bytes (`unescape`).
public enum FileName {
    public static func display(_ bytes: [UInt8]) -> String {
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        var out = ""
        var i = 0
        while i < bytes.count {
            let n = validSequenceLength(bytes, at: i)
            if n > 0, let s = String(validating: bytes[i..<(i + n)], as: UTF8.self), s != "\\" {
                out += s
                i += n
            } else {
                out += String(format: "\\x%02x", bytes[i])
                i += 1
            }
        }
        return out
    }

    /// The bytes a display name stands for: `\xHH` is byte HH, everything else its UTF-8.
    public static func unescape(_ display: String) -> [UInt8] {
        let u = Array(display.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < u.count {
            if u[i] == 0x5C, i + 3 < u.count, u[i + 1] == 0x78, let byte = UInt8(String(decoding: u[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) {
                out.append(byte)
                i += 4
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return out
    }

    /// The length of the well-formed UTF-8 sequence starting at `i` (RFC 3629: no overlongs, no surrogates,
    /// nothing above U+10FFFF), or 0.
    static func validSequenceLength(_ b: [UInt8], at i: Int) -> Int {
        let c = b[i]
        let (n, low, high): (Int, UInt8, UInt8)
        switch c {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: (n, low, high) = (2, 0x80, 0xBF)
        case 0xE0: (n, low, high) = (3, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (n, low, high) = (3, 0x80, 0xBF)
        case 0xED: (n, low, high) = (3, 0x80, 0x9F)
        case 0xF0: (n, low, high) = (4, 0x90, 0xBF)
        case 0xF1...0xF3: (n, low, high) = (4, 0x80, 0xBF)
        case 0xF4: (n, low, high) = (4, 0x80, 0x8F)
        default: return 0
        }
        guard i + n <= b.count, (low...high).contains(b[i + 1]) else { return 0 }
        for k in 2..<n where !(0x80...0xBF).contains(b[i + k]) { return 0 }
        return n
    }
}

// MARK: - Python ordering

/// Python's str ordering: lexicographic by Unicode code point (Swift's String `<` uses canonical equivalence).
func pythonLess(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.lazy.map(\.value).lexicographicallyPrecedes(b.unicodeScalars.lazy.map(\.value))
}

func pythonSorted(_ a: [String]) -> [String] { a.sorted(by: pythonLess) }

// MARK: - File system

private func statFollowing(_ path: String) -> stat? {
    var s = stat()
    return stat(path, &s) == 0 ? s : nil
}

private func isDirectory(_ path: String) -> Bool {
    guard let s = statFollowing(path) else { return false }
    return (s.st_mode & S_IFMT) == S_IFDIR
}

/// `body` with `path` as a NUL-terminated C string of its exact bytes.
func withCPath<T>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) -> T) -> T {
    (path + [0]).withUnsafeBufferPointer { buf in
        buf.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
    }
}

/// Why following a symbolic link failed, in words (`errno` after stat).
func linkFailure(_ code: Int32, target: String) -> String {
    switch code {
    case ENOENT, ENOTDIR: return "broken symbolic link (target \(target) does not exist)"
    case ELOOP: return "symbolic link loop (\(target) leads back to itself: too many levels of symbolic links)"
    default: return "symbolic link to \(target) cannot be followed (\(String(cString: strerror(code))))"
    }
}

private struct Scanner {
    let rootPath: String
    var problems = [DatasetProblem]()
    /// Display name → bytes, for the class folders (their names are joined to paths again).
    private var nameBytes: [String: [UInt8]] = [:]

    init(rootPath: String) { self.rootPath = rootPath }

    func relative(_ path: String) -> String {
        path.hasPrefix(rootPath + "/") ? String(path.dropFirst(rootPath.count + 1)) : path
    }

    func bytes(of name: String) -> [UInt8] { nameBytes[name] ?? Array(name.utf8) }

    /// The names in a directory, as bytes (readdir: FileManager would lose names that are not UTF-8).
    struct Failure: Error { var code: Int32 }

    static func list(_ dir: [UInt8]) -> Result<[[UInt8]], Failure> {
        guard let d = withCPath(dir, { opendir($0) }) else { return .failure(Failure(code: errno)) }
        defer { closedir(d) }
        var names: [[UInt8]] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        return .success(names)
    }

    /// Sub-directories of `dir` (following symbolic links, as os.path.isdir does), Python-sorted by display name.
    mutating func classes(in dir: String) throws -> [String] {
        let names: [[UInt8]]
        switch Scanner.list(Array(dir.utf8)) {
        case .success(let n): names = n
        case .failure(let f): throw DatasetError.cannotList(path: dir, reason: String(cString: strerror(f.code)))
        }
        var out: [String] = []
        for name in names {
            var st = stat()
            guard withCPath(Array(dir.utf8) + [0x2F] + name, { stat($0, &st) }) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            let display = FileName.display(name)
            nameBytes[display] = name
            out.append(display)
        }
        return pythonSorted(out)
    }

    struct Found {
        var pathWithinClass: String
        var bytesWithinClass: [UInt8]
        var size: Int64, mtime: Int64, ctime: Int64
        var inode: UInt64, device: UInt64
    }

    /// Image files under `classDir` in os.walk order (roots sorted, files sorted within a root), without following
    /// symbolic links to directories. Names are read and joined as bytes; `pathWithinClass` is their display form.
    mutating func walk(classDir: [UInt8]) -> [Found] {
        var roots = [(rel: String, files: [Found])]()
        var pending: [(rel: String, bytes: [UInt8])] = [("", [])]  // within the class folder, "" = itself
        while let (rel, relBytes) = pending.popLast() {
            let dir = relBytes.isEmpty ? classDir : classDir + [0x2F] + relBytes
            let names: [[UInt8]]
            switch Scanner.list(dir) {
            case .success(let n): names = n
            case .failure(let f):
                problems.append(DatasetProblem(relativePath: relative(FileName.display(dir)), reason: "cannot list this folder: \(String(cString: strerror(f.code)))"))
                continue
            }
            var files = [Found]()
            let named = names.map { (display: FileName.display($0), bytes: $0) }
            for (name, nameBytes) in named.sorted(by: { pythonLess($0.display, $1.display) }) {
                let path = dir + [0x2F] + nameBytes
                let within = rel.isEmpty ? name : rel + "/" + name
                let withinBytes = relBytes.isEmpty ? nameBytes : relBytes + [0x2F] + nameBytes
                let shown = relative(FileName.display(classDir)) + "/" + within
                var l = stat()
                guard withCPath(path, { lstat($0, &l) }) == 0 else { continue }  // vanished while listing
                let isLink = (l.st_mode & S_IFMT) == S_IFLNK
                var t = l
                var followed: Int32 = 0
                if isLink { followed = withCPath(path, { stat($0, &t) }) == 0 ? 0 : errno }
                if followed == 0, (t.st_mode & S_IFMT) == S_IFDIR {
                    if !isLink { pending.append((within, withinBytes)) }  // followlinks=False
                    continue
                }
                guard Dataset.isImageName(name) else { continue }
                if followed != 0 {
                    problems.append(DatasetProblem(relativePath: shown, reason: linkFailure(followed, target: linkTarget(path))))
                    continue
                }
                guard (t.st_mode & S_IFMT) == S_IFREG else {
                    problems.append(DatasetProblem(relativePath: shown, reason: "not a regular file (\(fileKind(t.st_mode))): not read"))
                    continue
                }
                guard withCPath(path, { access($0, R_OK) }) == 0 else {
                    problems.append(DatasetProblem(relativePath: shown, reason: "not readable (\(String(cString: strerror(errno))))"))
                    continue
                }
                #if os(Linux)
                let (m, c) = (t.st_mtim, t.st_ctim)
                #else
                let (m, c) = (t.st_mtimespec, t.st_ctimespec)
                #endif
                files.append(Found(pathWithinClass: within, bytesWithinClass: withinBytes, size: Int64(t.st_size),
                                   mtime: nanoseconds(m), ctime: nanoseconds(c),
                                   inode: UInt64(t.st_ino), device: UInt64(t.st_dev)))
            }
            roots.append((rel, files))
        }
        // os.walk results sorted by root path: the class folder first, then sub-folders by code point order of
        // their paths (the shared "<class>/" prefix does not change the order).
        return roots.sorted { pythonLess($0.rel, $1.rel) }.flatMap(\.files)
    }

    func linkTarget(_ path: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = withCPath(path) { readlink($0, &buffer, 4096) }
        return n > 0 ? FileName.display(buffer[0..<n].map { UInt8(bitPattern: $0) }) : "?"
    }
}

/// A stat time in nanoseconds since 1970 (saturating: a time past the year 2262 is not a real file's).
func nanoseconds(_ t: timespec) -> Int64 {
    let (s, o1) = Int64(t.tv_sec).multipliedReportingOverflow(by: 1_000_000_000)
    let (n, o2) = s.addingReportingOverflow(Int64(t.tv_nsec))
    return o1 || o2 ? (t.tv_sec < 0 ? .min : .max) : n
}

/// What kind of file a mode says, for messages.
func fileKind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFIFO: return "a FIFO"
    case S_IFSOCK: return "a socket"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFDIR: return "a directory"
    case S_IFLNK: return "a symbolic link"
    default: return "not a regular file"
    }
}
