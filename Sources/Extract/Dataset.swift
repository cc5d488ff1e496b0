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
    /// Path relative to the dataset root, '/'-separated, e.g. "train/horses/horse01-0.png".
    public var relativePath: String
    public var url: URL
    /// Class id: the index of `className` in `Dataset.classNames`.
    public var label: Int
    public var className: String
    public var split: DatasetSplit
    /// Size and modification time (ns since 1970) of the file (of the target, for a symbolic link).
    public var fileSize: Int64
    public var modificationTimeNanoseconds: Int64
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
/// - a file is an image when `name.lower().endswith(("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff"))`.
///   The suffixes have no dot, so Keras also takes e.g. "scanpng"; so does this, to list the same files.
///
/// Unlike Keras, files it would fail on later are reported as problems instead: broken symbolic links,
/// unreadable files, non-regular files with an image name, and sub-directories that cannot be listed (os.walk
/// skips those silently).
public struct Dataset: Sendable {
    public enum Layout: Sendable, Equatable { case splitFolders, flat }

    public static let imageSuffixes = ["png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff"]

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
                for f in scanner.walk(classDir: classDir, relativeClassDir: prefix + name) {
                    let split = fixedSplit ?? (splitFraction(pathWithinClass: f.pathWithinClass) < validationSplit ? .validation : .train)
                    items.append(DatasetItem(
                        relativePath: prefix + name + "/" + f.pathWithinClass,
                        url: URL(fileURLWithPath: classDir + "/" + f.pathWithinClass),
                        label: label, className: name, split: split,
                        fileSize: f.size, modificationTimeNanoseconds: f.mtime))
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

private struct Scanner {
    let rootPath: String
    var problems = [DatasetProblem]()

    init(rootPath: String) { self.rootPath = rootPath }

    func relative(_ path: String) -> String {
        path.hasPrefix(rootPath + "/") ? String(path.dropFirst(rootPath.count + 1)) : path
    }

    /// Sub-directories of `dir` (following symbolic links, as os.path.isdir does), Python-sorted.
    mutating func classes(in dir: String) throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw DatasetError.cannotList(path: dir, reason: reason(error))
        }
        return pythonSorted(names.filter { isDirectory(dir + "/" + $0) })
    }

    struct Found { var pathWithinClass: String; var size: Int64; var mtime: Int64 }

    /// Image files under `classDir` in os.walk order (roots sorted, files sorted within a root), without following
    /// symbolic links to directories.
    mutating func walk(classDir: String, relativeClassDir: String) -> [Found] {
        var roots = [(rel: String, files: [Found])]()
        var pending = [""]  // paths within the class folder, "" = the class folder itself
        while let rel = pending.popLast() {
            let dir = rel.isEmpty ? classDir : classDir + "/" + rel
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
                problems.append(DatasetProblem(relativePath: relative(dir), reason: "cannot list this folder: \(reason(error))"))
                continue
            }
            var files = [Found]()
            for name in pythonSorted(names) {
                let path = dir + "/" + name
                let within = rel.isEmpty ? name : rel + "/" + name
                var l = stat()
                guard lstat(path, &l) == 0 else { continue }  // vanished while listing
                let isLink = (l.st_mode & S_IFMT) == S_IFLNK
                let target = isLink ? statFollowing(path) : l
                if let t = target, (t.st_mode & S_IFMT) == S_IFDIR {
                    if !isLink { pending.append(within) }  // followlinks=False
                    continue
                }
                guard Dataset.isImageName(name) else { continue }
                guard let t = target else {
                    problems.append(DatasetProblem(relativePath: relative(path), reason: "broken symbolic link (target \(linkTarget(path)) does not exist)"))
                    continue
                }
                guard (t.st_mode & S_IFMT) == S_IFREG else {
                    problems.append(DatasetProblem(relativePath: relative(path), reason: "not a regular file"))
                    continue
                }
                guard access(path, R_OK) == 0 else {
                    problems.append(DatasetProblem(relativePath: relative(path), reason: "not readable (\(String(cString: strerror(errno))))"))
                    continue
                }
                #if os(Linux)
                let m = t.st_mtim
                #else
                let m = t.st_mtimespec
                #endif
                files.append(Found(pathWithinClass: within, size: Int64(t.st_size),
                                   mtime: Int64(m.tv_sec) * 1_000_000_000 + Int64(m.tv_nsec)))
            }
            roots.append((rel, files))
        }
        // os.walk results sorted by root path: the class folder first, then sub-folders by code point order of
        // their paths (the shared "<class>/" prefix does not change the order).
        return roots.sorted { pythonLess($0.rel, $1.rel) }.flatMap(\.files)
    }

    func linkTarget(_ path: String) -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
    }

    func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(u.code)))
        }
        return ns.localizedDescription
    }
}
