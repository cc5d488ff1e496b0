import Extract
import Foundation
import Store

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The stages of an extraction that decide which files it need not open: those of other shards (by path) and
/// those whose stat data says they are what was hashed before (as git's index decides).
extension Extraction {
    /// A file a rerun does not open, and what its last read found.
    enum Trusted {
        /// Its content key, hashed at `hashedAt` (ns since 1970): indexed, or kept out of the index by a rule.
        case content(ContentKey, hashedAt: Int64)
        /// It could not be used, for the reason recorded then (a file whose bytes were read, e.g. one that
        /// does not decode; a file that could not be read at all is tried again).
        case failed(ErrorEntry)
    }

    /// The items and dataset problems of shard `shard` (all of them without one), decided from the paths alone
    /// (`Dataset.shard`), so no file is opened to learn where it belongs.
    static func shardShare(_ items: [DatasetItem], _ problems: [DatasetProblem],
                           shard: (index: Int, count: Int)?) -> ([DatasetItem], [DatasetProblem]) {
        guard let shard else { return (items, problems) }
        func mine(_ path: String) -> Bool { Dataset.shard(relativePath: path, count: shard.count) == shard.index }
        return (items.filter { mine($0.relativePath) }, problems.filter { mine($0.relativePath) })
    }

    /// The files a rerun reuses without opening them: the stat data recorded when each was hashed (size, mtime,
    /// ctime, inode, device) equals the scan's, the entry is not racy (`StatCheck`), and nothing is left to
    /// compute for it (its view-0 record is sound and, for a training image of a run with views, every view).
    /// Entries without stat data (written before the index kept it) are not trusted: those files are hashed once.
    /// `existing` are the screened, usable index entries (their view-0 records are known sound).
    static func trustedByStat(_ items: [DatasetItem], existing: [String: IndexEntry], errors: [String: ErrorEntry],
                              cache: FeatureCache, views: Int) throws -> [String: Trusted] {
        var out = [String: Trusted]()
        for item in items {
            let p = item.relativePath, now = FileStat(item)
            if let e = existing[p] ?? errors[p]?.keptOut {
                guard e.check(now) == .unchanged else { continue }
                if existing[p] == nil, !(try cache.hasSoundRecord(key: e.key)) { continue }
                if views > 0, item.split == .train,
                   try (1...views).contains(where: { !(try cache.hasSoundRecord(key: e.key, view: UInt16($0))) }) { continue }
                out[p] = .content(e.key, hashedAt: e.hashedAtNanoseconds)
            } else if let f = errors[p], f.key != nil, f.check(now) == .unchanged {
                out[p] = .failed(f)
            }
        }
        return out
    }
}

extension FileStat {
    /// The stat data the dataset scan read for `item`.
    init(_ item: DatasetItem) {
        self.init(size: item.fileSize, modificationTimeNanoseconds: item.modificationTimeNanoseconds,
                  changeTimeNanoseconds: item.changeTimeNanoseconds, inode: item.inode, device: item.device)
    }
}

/// The wall clock (CLOCK_REALTIME), ns since 1970: the clock file times are stamped from, which the racy rule
/// compares them with.
func wallClockNanoseconds() -> Int64 {
    var t = timespec()
    clock_gettime(CLOCK_REALTIME, &t)
    return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
}
