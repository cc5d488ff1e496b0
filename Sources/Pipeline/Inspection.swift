import Extract
import Foundation
import Numerics
import Store

// What `headstart inspect` shows of a feature cache. Every view is a Codable value whose JSON (sorted keys) is
// the `--json` output, so the keys below are the machine-readable interface: rename none of them lightly.

/// Why an inspection could not be made, naming the cache and the item.
public enum InspectionError: Error, CustomStringConvertible, Equatable {
    case noIndexEntry(cache: String, path: String)
    case failedEntry(cache: String, path: String, reason: String)
    case missingRecord(cache: String, path: String, record: String)
    case badFeatureShape(cache: String, shape: [Int])
    case noDatasetRoot(cache: String)
    case unknownResize(cache: String, resize: String)

    public var description: String {
        switch self {
        case let .noIndexEntry(cache, path):
            return "feature cache \(cache) has no index entry \(path) (give the path relative to the dataset root, e.g. train/horses/horse01-0.png)"
        case let .failedEntry(cache, path, reason):
            return "feature cache \(cache): \(path) has no features: it failed to extract (\(reason))"
        case let .missingRecord(cache, path, record):
            return "feature cache \(cache): index entry \(path) points to record \(record), which does not exist (run inspect --verify)"
        case let .badFeatureShape(cache, shape):
            return "feature cache \(cache): feature shape \(shape) is not (height, width, channels)"
        case let .noDatasetRoot(cache):
            return "feature cache \(cache) records no dataset folder: give it with --dataset"
        case let .unknownResize(cache, resize):
            return "feature cache \(cache): resize method '\(resize)' is not one this build knows"
        }
    }
}

// MARK: - Views

/// The fingerprint as shown: every field, `augmentation` spelled "none" when there is none.
public struct FingerprintView: Codable, Equatable, Sendable {
    public var weightsName: String
    public var weightsSHA256: String
    public var layer: String
    /// [height, width]
    public var inputSize: [Int]
    public var resize: String
    public var preprocess: String
    public var dtype: String
    /// [height, width, channels] of one view's features.
    public var featureShape: [Int]
    public var formatVersion: Int
    public var augmentation: String
    public var extra: [String: String]

    public init(_ f: CacheFingerprint) {
        weightsName = f.weightsName; weightsSHA256 = f.weightsSHA256; layer = f.layer; inputSize = f.inputSize
        resize = f.resize; preprocess = f.preprocess; dtype = f.dtype.rawValue; featureShape = f.featureShape
        formatVersion = f.formatVersion; augmentation = f.augmentation ?? "none"; extra = f.extra
    }
}

public struct ClassCount: Codable, Equatable, Sendable {
    public var label: Int
    /// The class name stored in the cache, or "label N" for a label without one.
    public var name: String
    public var images: Int
    public init(label: Int, name: String, images: Int) { self.label = label; self.name = name; self.images = images }
}

public struct SplitCount: Codable, Equatable, Sendable {
    /// "train" or "validation"; both are always listed.
    public var split: String
    public var images: Int
    /// Every stored class, in label order, then any label beyond them.
    public var classes: [ClassCount]
    public init(split: String, images: Int, classes: [ClassCount]) { self.split = split; self.images = images; self.classes = classes }
}

public struct RecordCounts: Codable, Equatable, Sendable {
    public var total: Int
    /// Records of view 0 (the images themselves).
    public var images: Int
    /// Records of views > 0 (augmented copies).
    public var augmentedViews: Int
    /// Augmented views per image with a view-0 record (0 when there are none).
    public var viewsPerImage: Double
    /// Records no index entry points to (files removed or changed since; kept so re-adding them is free).
    public var unreferenced: Int
    public init(total: Int, images: Int, augmentedViews: Int, viewsPerImage: Double, unreferenced: Int) {
        self.total = total; self.images = images; self.augmentedViews = augmentedViews
        self.viewsPerImage = viewsPerImage; self.unreferenced = unreferenced
    }
}

public struct DiskUse: Codable, Equatable, Sendable {
    /// Size of data.mdb in bytes.
    public var dataBytes: Int64
    /// Size of lock.mdb in bytes.
    public var lockBytes: Int64
    public var totalBytes: Int64
    /// The LMDB map size (data.mdb may grow to this before the map is doubled).
    public var mapSize: Int
    /// Bytes of the map in use: (last page + 1) × page size.
    public var mapUsedBytes: Int
    /// dataBytes / mapSize.
    public var mapFraction: Double
}

/// The default view of `headstart inspect CACHE`.
public struct CacheOverview: Codable, Equatable, Sendable {
    public var cache: String
    public var fingerprint: FingerprintView
    /// Where the weights came from (`WeightsOrigin.recorded`: "keras-imagenet", "seeded seed=S generator=V",
    /// "other", "unrecorded"), and for anything but Keras's ImageNet file the warning in words.
    public var weightsOrigin: String
    public var weightsWarning: String?
    /// The dataset folder the cache was last extracted from ("" when not recorded).
    public var dataset: String
    public var classes: [String]
    public var splits: [SplitCount]
    /// Index entries (images with features) over both splits.
    public var images: Int
    public var records: RecordCounts
    /// Entries of the errors table (files that produced no features).
    public var errors: Int
    public var disk: DiskUse
    /// ISO 8601 UTC.
    public var created: String
    public var updated: String
}

public struct ProblemView: Codable, Equatable, Sendable {
    /// "records", "index", "errors" or "meta".
    public var database: String
    /// "<content key hex>/<view>" for a record, the relative path for an index or errors entry.
    public var item: String
    public var reason: String
    public init(database: String, item: String, reason: String) { self.database = database; self.item = item; self.reason = reason }
}

/// `inspect --verify`: every problem `FeatureCache.verify()` found; `ok` when there are none.
public struct VerificationReport: Codable, Equatable, Sendable {
    public var cache: String
    public var ok: Bool
    public var recordsChecked: Int
    public var indexEntriesChecked: Int
    public var errorEntriesChecked: Int
    public var problems: [ProblemView]
}

public struct ErrorView: Codable, Equatable, Sendable {
    public var path: String
    public var reason: String
    /// Seconds since 1970-01-01 UTC, as stored.
    public var time: Double
    /// The same time in ISO 8601 UTC.
    public var timeISO8601: String
}

/// `inspect --errors`.
public struct ErrorsView: Codable, Equatable, Sendable {
    public var cache: String
    public var errors: [ErrorView]
}

public struct ChannelMean: Codable, Equatable, Sendable {
    public var channel: Int
    public var mean: Double
    public init(channel: Int, mean: Double) { self.channel = channel; self.mean = mean }
}

/// `inspect --entry PATH`: one image's view-0 features summarised.
public struct EntryView: Codable, Equatable, Sendable {
    public var cache: String
    public var path: String
    public var contentKey: String
    public var split: String
    public var label: Int
    public var className: String
    public var dtype: String
    /// [height, width, channels]
    public var shape: [Int]
    /// Over all values; `std` is the population standard deviation (divided by n).
    public var mean: Double
    public var std: Double
    public var min: Double
    public var max: Double
    /// Fraction of values exactly 0 (ReLU outputs that are off).
    public var zeroFraction: Double
    /// The channels with the largest mean over the height × width positions, largest first (ties: lower index
    /// first), at most 10.
    public var topChannels: [ChannelMean]
}

/// `inspect --heatmap PATH`: what was drawn (the image itself is `Heatmap.image`).
public struct HeatmapView: Codable, Equatable, Sendable {
    public var cache: String
    public var path: String
    /// The image file read (dataset root + path).
    public var imageFile: String
    public var width: Int
    public var height: Int
    /// [rows, columns] of the feature grid.
    public var grid: [Int]
    /// Mean over channels of each grid cell, row by row.
    public var cellMeans: [[Double]]
    public var minimum: Double
    public var maximum: Double
    public var colourMap: String
    public var alpha: Double
    /// False when the file's content is no longer what was extracted (the overlay then shows old features).
    public var contentMatchesIndex: Bool
    /// The file the image was written to, set by whoever writes it ("" until then).
    public var out: String = ""
}

public struct Heatmap: Sendable {
    public var view: HeatmapView
    /// The image at the cache's input size with the activation overlaid.
    public var image: RGBImage
}

public struct StaleFile: Codable, Equatable, Sendable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
}

/// `inspect --stale DATASET`: how the dataset folder differs from what was extracted, by relative path.
public struct StalenessReport: Codable, Equatable, Sendable {
    public var cache: String
    public var dataset: String
    /// Image files with neither an index entry nor an errors entry.
    public var added: [String]
    /// Files whose content differs from what was extracted, or that were modified after they failed.
    public var changed: [StaleFile]
    /// Index or errors entries whose file is gone.
    public var removed: [String]
    /// Files whose size or modification time differ but whose content is what was extracted.
    public var touched: [String]
    /// Files that could not be read to compare their content.
    public var unreadable: [StaleFile]
    public var unchanged: Int
    /// True when every file was hashed; false when files whose stat data (size, modification and change times,
    /// inode, device) is as recorded and not racy were trusted unchanged (as `extract` trusts them).
    public var hashedAll: Bool
    /// Anything added, changed or removed.
    public var stale: Bool
}

// MARK: - Building the views

public enum Inspection {
    /// The default view.
    public static func overview(_ cache: FeatureCache) throws -> CacheOverview {
        let classes = try cache.classNames()
        let counts = try cache.counts()
        let summary = try cache.recordSummary()
        let times = try cache.timestamps()
        let map = try cache.mapUse()

        var splits = [SplitCount]()
        for split in Split.allCases {
            let byLabel = counts.entriesBySplitAndLabel[split] ?? [:]
            let labels = Set(byLabel.keys.map(Int.init)).union(classes.indices).sorted()
            splits.append(SplitCount(
                split: split.description, images: counts.entriesBySplit[split] ?? 0,
                classes: labels.map { ClassCount(label: $0, name: className(classes, $0), images: byLabel[Int32($0)] ?? 0) }))
        }
        let images = summary.recordsByView[0] ?? 0
        let records = RecordCounts(
            total: summary.records, images: images, augmentedViews: summary.augmentedRecords,
            viewsPerImage: images > 0 ? Double(summary.augmentedRecords) / Double(images) : 0,
            unreferenced: summary.unreferencedRecords)

        func size(_ name: String) -> Int64 {
            let p = (cache.path as NSString).appendingPathComponent(name)
            let a = try? FileManager.default.attributesOfItem(atPath: p)
            return (a?[.size] as? NSNumber)?.int64Value ?? 0
        }
        let data = size("data.mdb"), lock = size("lock.mdb")
        let disk = DiskUse(dataBytes: data, lockBytes: lock, totalBytes: data + lock, mapSize: map.mapSize,
                           mapUsedBytes: map.usedBytes, mapFraction: map.mapSize > 0 ? Double(data) / Double(map.mapSize) : 0)
        let origin = WeightsOrigin(recorded: try cache.weightsOrigin())
        return CacheOverview(
            cache: cache.path, fingerprint: FingerprintView(cache.fingerprint),
            weightsOrigin: origin.recorded, weightsWarning: origin.warning, dataset: try cache.datasetRoot() ?? "",
            classes: classes, splits: splits,
            images: counts.entries, records: records, errors: counts.errors, disk: disk,
            created: times.created, updated: times.updated)
    }

    /// Re-checks every record, index entry and errors entry (`FeatureCache.verify`).
    public static func verify(_ cache: FeatureCache) throws -> VerificationReport {
        let problems = try cache.verify()
        let counts = try cache.counts()
        let summary = try cache.recordSummary()
        return VerificationReport(
            cache: cache.path, ok: problems.isEmpty, recordsChecked: summary.records,
            indexEntriesChecked: summary.indexEntries, errorEntriesChecked: counts.errors,
            problems: problems.map { ProblemView(database: $0.database, item: $0.item, reason: $0.reason) })
    }

    /// The errors table in path order.
    public static func errors(_ cache: FeatureCache) throws -> ErrorsView {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return ErrorsView(cache: cache.path, errors: try cache.errorEntries().map {
            ErrorView(path: $0.path, reason: $0.reason, time: $0.time,
                      timeISO8601: f.string(from: Date(timeIntervalSince1970: $0.time)))
        })
    }

    /// One image's features (view 0) summarised. `path` is relative to the dataset root, as in the index.
    public static func entry(_ cache: FeatureCache, path: String, topCount: Int = 10) throws -> EntryView {
        let (e, record) = try features(cache, path: path)
        guard record.shape.count == 3 else { throw InspectionError.badFeatureShape(cache: cache.path, shape: record.shape) }
        let s = statistics(record.values)
        return EntryView(
            cache: cache.path, path: e.path, contentKey: e.key.description, split: e.split.description,
            label: Int(e.label), className: className(try cache.classNames(), Int(e.label)),
            dtype: record.dtype.rawValue, shape: record.shape,
            mean: s.mean, std: s.std, min: s.min, max: s.max, zeroFraction: s.zeroFraction,
            topChannels: topChannels(record.values, shape: record.shape, count: topCount))
    }

    /// Mean, population standard deviation, extremes and the fraction of exact zeros, accumulated in Double.
    public static func statistics(_ values: [Float]) -> (mean: Double, std: Double, min: Double, max: Double, zeroFraction: Double) {
        guard !values.isEmpty else { return (0, 0, 0, 0, 0) }
        var sum = 0.0, lo = Double.infinity, hi = -Double.infinity, zeros = 0
        for v in values {
            let d = Double(v)
            sum += d; lo = Swift.min(lo, d); hi = Swift.max(hi, d)
            if v == 0 { zeros += 1 }
        }
        let n = Double(values.count), mean = sum / n
        var sq = 0.0
        for v in values { let d = Double(v) - mean; sq += d * d }  // two passes: no cancellation
        return (mean, (sq / n).squareRoot(), lo, hi, Double(zeros) / n)
    }

    /// Channels by mean over positions, features HWC (`shape` = [h, w, c]): the `count` largest, largest first,
    /// ties to the lower channel.
    public static func topChannels(_ values: [Float], shape: [Int], count: Int) -> [ChannelMean] {
        let c = shape[2], positions = shape[0] * shape[1]
        var sums = [Double](repeating: 0, count: c)
        for p in 0..<positions { for k in 0..<c { sums[k] += Double(values[p * c + k]) } }
        let means = sums.enumerated().map { ChannelMean(channel: $0.offset, mean: $0.element / Double(positions)) }
        return Array(means.sorted { $0.mean != $1.mean ? $0.mean > $1.mean : $0.channel < $1.channel }.prefix(count))
    }

    // MARK: heatmap

    /// The image of `path` (read from `datasetRoot`, else the folder recorded at extraction, else the fingerprint's
    /// extra["dataset"]), decoded and resized as extraction did, with its per-cell mean activation overlaid (see `overlay`).
    public static func heatmap(_ cache: FeatureCache, path: String, datasetRoot: URL?, alpha: Double = 0.5) throws -> Heatmap {
        let (e, record) = try features(cache, path: path)
        let shape = record.shape
        guard shape.count == 3 else { throw InspectionError.badFeatureShape(cache: cache.path, shape: shape) }
        guard let root = try datasetRoot ?? (cache.datasetRoot() ?? cache.fingerprint.extra["dataset"]).map({ URL(fileURLWithPath: $0) }) else {
            throw InspectionError.noDatasetRoot(cache: cache.path)
        }
        let fp = cache.fingerprint
        guard let method = ResizeMethod(rawValue: fp.resize) else {
            throw InspectionError.unknownResize(cache: cache.path, resize: fp.resize)
        }
        let file = root.appendingPathComponent(e.path).path
        let bytes = try ImageDecoder.readFile(fileSystemPath: Dataset.fileSystemPath(root: root.path, relativePath: e.path), name: file)
        let matches = ContentKey.of(Data(bytes)) == e.key
        var decoded = try ImageDecoder.decode(data: bytes, name: file)
        decoded.image = ImageResize.resize(decoded.image, height: fp.inputSize[0], width: fp.inputSize[1], method: method)

        let means = cellMeans(record.values, shape: shape)
        let image = overlay(decoded.image, cellMeans: means, gridHeight: shape[0], gridWidth: shape[1], alpha: alpha)
        let view = HeatmapView(
            cache: cache.path, path: e.path, imageFile: file, width: image.width, height: image.height,
            grid: [shape[0], shape[1]],
            cellMeans: (0..<shape[0]).map { Array(means[($0 * shape[1])..<(($0 + 1) * shape[1])]) },
            minimum: means.min() ?? 0, maximum: means.max() ?? 0, colourMap: "jet", alpha: alpha,
            contentMatchesIndex: matches)
        return Heatmap(view: view, image: image)
    }

    /// Mean over channels of each cell of HWC features (`shape` = [h, w, c]): h·w values, row-major.
    public static func cellMeans(_ values: [Float], shape: [Int]) -> [Double] {
        let (h, w, c) = (shape[0], shape[1], shape[2])
        return (0..<(h * w)).map { p in
            var s = 0.0
            for k in 0..<c { s += Double(values[p * c + k]) }
            return s / Double(c)
        }
    }

    /// Matplotlib's 'jet' as its piecewise-linear approximation: for v ∈ [0, 1],
    ///   r = clamp(1.5 − |4v − 3|), g = clamp(1.5 − |4v − 2|), b = clamp(1.5 − |4v − 1|), clamp to [0, 1];
    /// so 0 is dark blue (0, 0, 0.5), 0.5 green-ish (0.5, 1, 0.5) and 1 dark red (0.5, 0, 0).
    public static func jet(_ v: Double) -> (r: Double, g: Double, b: Double) {
        func c(_ x: Double) -> Double { Swift.min(1, Swift.max(0, x)) }
        return (c(1.5 - abs(4 * v - 3)), c(1.5 - abs(4 * v - 2)), c(1.5 - abs(4 * v - 1)))
    }

    /// The grid of `cellMeans` (gridHeight × gridWidth, row-major) upsampled to the image and blended over it.
    ///
    /// Upsampling is bilinear with half-pixel centres (TensorFlow's `resize(..., 'bilinear')`, PIL's): output
    /// pixel x samples grid coordinate u = (x + 0.5)·gridWidth/width − 0.5, clamped to [0, gridWidth − 1]; the
    /// value is interpolated between cells ⌊u⌋ and ⌊u⌋ + 1 (likewise for rows). It is then normalised over the
    /// grid, v = (value − min)/(max − min) (0 everywhere when max = min), coloured with `jet(v)` and blended:
    ///   out = round((1 − alpha)·pixel + alpha·255·colour), rounding halves away from zero.
    public static func overlay(_ image: RGBImage, cellMeans: [Double], gridHeight gh: Int, gridWidth gw: Int,
                               alpha: Double) -> RGBImage {
        let (W, H) = (image.width, image.height)
        let lo = cellMeans.min() ?? 0, hi = cellMeans.max() ?? 0
        let range = hi - lo
        func axis(_ i: Int, _ n: Int, _ g: Int) -> (Int, Int, Double) {
            let u = Swift.min(Double(g - 1), Swift.max(0, (Double(i) + 0.5) * Double(g) / Double(n) - 0.5))
            let i0 = Int(u.rounded(.down))
            return (i0, Swift.min(i0 + 1, g - 1), u - Double(i0))
        }
        let xs = (0..<W).map { axis($0, W, gw) }
        var out = image.pixels
        for y in 0..<H {
            let (y0, y1, fy) = axis(y, H, gh)
            for x in 0..<W {
                let (x0, x1, fx) = xs[x]
                let top = (1 - fx) * cellMeans[y0 * gw + x0] + fx * cellMeans[y0 * gw + x1]
                let bottom = (1 - fx) * cellMeans[y1 * gw + x0] + fx * cellMeans[y1 * gw + x1]
                let value = (1 - fy) * top + fy * bottom
                let colour = jet(range > 0 ? (value - lo) / range : 0)
                let o = (y * W + x) * 3
                for (k, c) in [colour.r, colour.g, colour.b].enumerated() {
                    let blended = (1 - alpha) * Double(image.pixels[o + k]) + alpha * 255 * c
                    out[o + k] = UInt8(Swift.min(255, Swift.max(0, blended.rounded(.toNearestOrAwayFromZero))))
                }
            }
        }
        return RGBImage(width: W, height: H, pixels: out)
    }

    // MARK: staleness

    /// Compares a fresh scan of `dataset` with the index and errors tables, by relative path: the thorough
    /// check. With `hashAll` (the default) every indexed file is read and its content key recomputed and compared;
    /// without it a file whose stat data is as recorded and not racy is trusted unchanged, as `extract` trusts it
    /// (`IndexEntry.check`). A file in the errors table counts as changed when it was modified after it failed.
    public static func staleness(_ cache: FeatureCache, dataset: URL, hashAll: Bool = true) throws -> StalenessReport {
        let scan = try Dataset.scan(root: dataset)
        var index = [String: IndexEntry]()
        for e in try cache.indexEntries() { index[e.path] = e }
        var failed = [String: ErrorEntry]()
        for e in try cache.errorEntries() { failed[e.path] = e }

        var r = StalenessReport(cache: cache.path, dataset: scan.root.path, added: [], changed: [], removed: [],
                                touched: [], unreadable: [], unchanged: 0, hashedAll: hashAll, stale: false)
        var present = Set<String>()
        for item in scan.items {
            present.insert(item.relativePath)
            if let e = index[item.relativePath] {
                let sameStat = e.fileSize == item.fileSize && e.modificationTimeNanoseconds == item.modificationTimeNanoseconds
                if !hashAll && e.check(FileStat(item)) == .unchanged { r.unchanged += 1; continue }
                let key: ContentKey
                do { key = ContentKey.of(Data(try ImageDecoder.readFile(fileSystemPath: item.fileSystemPath, name: item.relativePath))) } catch {
                    r.unreadable.append(StaleFile(path: item.relativePath, reason: "\(error)"))
                    continue
                }
                if key != e.key {
                    r.changed.append(StaleFile(path: item.relativePath, reason: "content differs from what was extracted"
                        + (sameStat ? " (same size and modification time)" : "")))
                } else if sameStat {
                    r.unchanged += 1
                } else {
                    r.touched.append(item.relativePath)
                }
            } else if let f = failed[item.relativePath] {
                if Double(item.modificationTimeNanoseconds) / 1e9 > f.time {
                    r.changed.append(StaleFile(path: item.relativePath, reason: "modified after it failed to extract (\(f.reason))"))
                } else {
                    r.unchanged += 1
                }
            } else {
                r.added.append(item.relativePath)
            }
        }
        r.removed = Set(index.keys).union(failed.keys).subtracting(present).sorted()
        r.stale = !(r.added.isEmpty && r.changed.isEmpty && r.removed.isEmpty)
        return r
    }

    // MARK: helpers

    static func className(_ classes: [String], _ label: Int) -> String {
        classes.indices.contains(label) ? classes[label] : "label \(label)"
    }

    /// The index entry of `path` and its view-0 record, or an error saying why there is none.
    static func features(_ cache: FeatureCache, path raw: String) throws -> (IndexEntry, FeatureRecord) {
        let path = raw.hasPrefix("./") ? String(raw.dropFirst(2)) : raw
        guard let e = try cache.indexEntry(path: path) else {
            if let f = try cache.errorEntries().first(where: { $0.path == path }) {
                throw InspectionError.failedEntry(cache: cache.path, path: path, reason: f.reason)
            }
            throw InspectionError.noIndexEntry(cache: cache.path, path: path)
        }
        guard let record = try cache.record(key: e.key, view: 0) else {
            throw InspectionError.missingRecord(cache: cache.path, path: path, record: "\(e.key)/0")
        }
        return (e, record)
    }
}
