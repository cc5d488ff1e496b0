import Extract
import Foundation
import Pipeline
import XCTest
@testable import Store

#if canImport(Glibc)
import Glibc
#endif

/// Reruns trust a file whose stat data (size, mtime, ctime, inode, device) is what it was when it was hashed,
/// without opening it, as git's index does; any change, a racy entry, an entry without stat data or --rehash
/// means the file is read and hashed again.
final class StatReuseTests: XCTestCase {
    /// 6 images per class, one validation copy of a train image (kept out by the split-collision rule) and one
    /// file that does not decode, all with modification times an hour old, so no entry is racy.
    func dataset() -> TestDataset {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["train/a", "train/b"], count: 6, prefix: "img")
        d.addJPEGs(classes: ["validation/a", "validation/b"], count: 2, offset: 50, prefix: "img")
        d.write("validation/a/copy-of-train.jpg", TestImages.jpegVariant(0))
        d.write("train/b/broken.jpg", Array(TestImages.jpegVariant(1).prefix(300)))
        age(d)
        return d
    }

    /// Sets every file's modification time an hour back (its ctime becomes now).
    func age(_ d: TestDataset) {
        let old = Date().addingTimeInterval(-3600)
        let files = FileManager.default.enumerator(at: d.root, includingPropertiesForKeys: nil)!
        for case let url as URL in files where !url.hasDirectoryPath {
            try! FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: url.path)
        }
    }

    /// Bytes this process read with read(2) and friends while `body` ran (/proc/self/io rchar): the cache is
    /// read through its memory map, so what is left is the image files.
    func bytesRead<T>(_ body: () throws -> T) throws -> (T, Int) {
        func rchar() throws -> Int {
            let text = try String(contentsOfFile: "/proc/self/io", encoding: .utf8)
            let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("rchar:") })
            return try XCTUnwrap(Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces)))
        }
        guard FileManager.default.fileExists(atPath: "/proc/self/io") else { throw XCTSkip("no /proc/self/io on this system") }
        let before = try rchar()
        let result = try body()
        return (result, try rchar() - before)
    }

    func testARerunOverAnUnchangedDatasetOpensNoneOfItsFiles() throws {
        let d = dataset()
        let cache = temporaryDirectory(self, "cache")
        let first = try extract(d, cache: cache)
        XCTAssertEqual(first.hashed, 18)
        XCTAssertEqual(first.unchangedByStat, 0)
        XCTAssertEqual(first.splitCollisions.map(\.validation), ["validation/a/copy-of-train.jpg"])
        XCTAssertEqual(first.failed.map(\.path), ["train/b/broken.jpg"])
        let smallest = try FileManager.default.contentsOfDirectory(atPath: d.path("train/a"))
            .map { try Data(contentsOf: d.root.appendingPathComponent("train/a/\($0)")).count }.min()!

        let (second, read) = try bytesRead { try extract(d, cache: cache) }
        XCTAssertEqual(second.unchangedByStat, 18, "every file, the kept-out copy and the broken one included")
        XCTAssertEqual(second.hashed, 0)
        XCTAssertEqual(second.reused, 17, "16 indexed files and the kept-out copy, whose features are its twin's")
        XCTAssertEqual(second.failed.map(\.path), ["train/b/broken.jpg"], "the failure is reported again, from the cache")
        XCTAssertEqual(second.splitCollisions.map(\.validation), ["validation/a/copy-of-train.jpg"])
        XCTAssertLessThan(read, smallest, "no image was read (\(read) bytes read in all)")
        XCTAssertEqual(try FeatureCache.open(cache).verify(), [])
    }

    func testARerunLeavesEveryEntryAndErrorAsItWas() throws {
        let d = dataset()
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache)
        let (entries, errors) = (try FeatureCache.open(cache).indexEntries(), try FeatureCache.open(cache).errorEntries())
        _ = try extract(d, cache: cache)
        XCTAssertEqual(try FeatureCache.open(cache).indexEntries(), entries)
        XCTAssertEqual(try FeatureCache.open(cache).errorEntries(), errors, "not even the times are rewritten")
    }

    func testAFileChangedWithItsSizeAndModificationTimeRestoredIsFoundByItsChangeTime() throws {
        let d = dataset()
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache)
        let file = d.path("train/a/img-002.jpg")
        var st = Glibc.stat()
        XCTAssertEqual(stat(file, &st), 0)
        let replacement = TestImages.jpegVariant(200)
        XCTAssertEqual(replacement.count, Int(st.st_size), "same size")
        d.write("train/a/img-002.jpg", replacement)
        var times = [st.st_atim, st.st_mtim]
        XCTAssertEqual(utimensat(AT_FDCWD, file, &times, 0), 0, "restoring the modification time")

        let s = try extract(d, cache: cache)
        XCTAssertEqual(s.hashed, 1, "only the file whose ctime moved")
        XCTAssertEqual(s.extracted, 1)
        XCTAssertEqual(try FeatureCache.open(cache).indexEntry(path: "train/a/img-002.jpg")?.key,
                       ContentKey.of(Data(replacement)))
    }

    /// Extracts `d` into a new cache, then again with `configure`, and checks that the second run read and
    /// hashed all `files` and extracted none.
    func assertRerunHashesEveryFile(_ d: TestDataset, files: Int, _ why: String,
                                    configure: (inout ExtractionJob) -> Void = { _ in }) throws {
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache)
        let s = try extract(d, cache: cache, configure: configure)
        XCTAssertEqual(s.hashed, files, why)
        XCTAssertEqual(s.unchangedByStat, 0, why)
        XCTAssertEqual(s.extracted, 0, "the content is cached")
    }

    func testFilesHashedWithinTheRacyWindowOfTheirModificationAreHashedAgain() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 3)  // modified just now
        try assertRerunHashesEveryFile(d, files: 6, "each was modified less than 2 s before it was hashed: its stat cannot vouch for it")
    }

    func testRehashReadsAndHashesEveryFile() throws {
        try assertRerunHashesEveryFile(dataset(), files: 18, "--rehash") { $0.rehash = true }
    }

    func testEntriesWithoutStatDataAreHashedOnceThenTrusted() throws {
        let d = dataset()
        let cache = temporaryDirectory(self, "cache")
        _ = try extract(d, cache: cache)
        // Rewrite every entry as version 2 (what headstart wrote before the index kept stat data).
        let c = try FeatureCache.open(cache)
        try c.lmdb.write { txn in
            for e in try c.indexEntries() {
                var v2 = Array(Layout.encodeIndex(e).prefix(56))
                v2[0] = 2
                v2 += withUnsafeBytes(of: CRC32.checksum(v2 + Array(e.path.utf8)).littleEndian, Array.init)
                try c.lmdb.put(txn, "index", Array(e.path.utf8), v2)
            }
        }
        XCTAssertTrue(try c.indexEntries().allSatisfy { $0.stat == nil })

        let second = try extract(d, cache: cache)
        XCTAssertEqual(second.extracted, 0, "the old entries' records are reused")
        XCTAssertEqual(second.hashed, 16, "the 16 indexed files are hashed once (the copy and the broken file kept theirs)")
        XCTAssertTrue(try FeatureCache.open(cache).indexEntries().allSatisfy { $0.stat != nil }, "rewritten as version 3")
        let third = try extract(d, cache: cache)
        XCTAssertEqual(third.hashed, 0)
        XCTAssertEqual(third.unchangedByStat, 18)
    }
}
