import Extract
import Foundation
import Pipeline
import Store
import XCTest

/// Files a dataset folder can hold that are neither a plain image nor plainly broken: names that are not UTF-8,
/// FIFOs, huge sparse files, symbolic link loops, and one image filed under two classes. None is dropped,
/// misread or waited on silently.
final class AwkwardFilesTests: XCTestCase {
    /// Creates `relative` (whose last component is `name` as raw bytes) under the dataset root.
    func writeRaw(_ d: TestDataset, folder: String, name: [UInt8], _ bytes: [UInt8]) -> [UInt8] {
        let dir = d.root.appendingPathComponent(folder)
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = Array(dir.path.utf8) + [0x2F] + name
        let fd = (path + [0]).withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY | O_TRUNC, 0o644) }
        }
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return path
    }

    func testANameThatIsNotUTF8IsExtractedUnderItsEscapedName() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 2)
        let latin1 = Array("caf".utf8) + [0xE9] + Array("\\.jpg".utf8)  // "café\.jpg" in Latin-1, with a backslash
        let path = writeRaw(d, folder: "b", name: latin1, TestImages.jpegVariant(40))
        let scan = try Dataset.scan(root: d.root)
        let item = try XCTUnwrap(scan.items.first { $0.relativePath.hasPrefix("b/caf") }, "\(scan.items.map(\.relativePath))")
        XCTAssertEqual(item.relativePath, "b/caf\\xe9\\x5c.jpg")
        XCTAssertEqual(item.fileSystemPath, path)
        XCTAssertEqual(FileName.unescape("caf\\xe9\\x5c.jpg"), latin1)
        XCTAssertEqual(Dataset.fileSystemPath(root: d.root.path, relativePath: item.relativePath), path)

        let cacheURL = temporaryDirectory(self, "cache")
        let s = try extract(d, cache: cacheURL)
        XCTAssertEqual(s.extracted, 5)
        XCTAssertEqual(s.failed.count, 0, "\(s.failed)")
        let entry = try XCTUnwrap(FeatureCache.open(cacheURL).indexEntry(path: "b/caf\\xe9\\x5c.jpg"))
        XCTAssertEqual(entry.key, ContentKey.of(Data(TestImages.jpegVariant(40))))
        XCTAssertEqual(entry.label, 1)
    }

    func testUTF8NamesAreShownAsThemselves() {
        XCTAssertEqual(FileName.display(Array("ü 1\\x.png".utf8)), "ü 1\\x.png")
        XCTAssertEqual(FileName.display([0x61, 0xED, 0xA0, 0x80, 0x62]), "a\\xed\\xa0\\x80b", "an encoded surrogate is not UTF-8")
        XCTAssertEqual(FileName.display([0xC0, 0xAF]), "\\xc0\\xaf", "an overlong '/' is not UTF-8")
    }

    func testAFIFONamedJpgIsReportedWithoutWaitingForAWriter() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 1)
        let fifo = d.path("a/pipe.jpg")
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let done = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var result: Result<[UInt8], Error>? }
        let box = Box()
        Thread.detachNewThread {
            box.result = Result { try ImageDecoder.readFile(fifo) }
            done.signal()
        }
        if done.wait(timeout: .now() + 10) == .timedOut {
            // Free the reader stuck in open(2) before failing.
            let fd = open(fifo, O_WRONLY | O_NONBLOCK); close(fd)
            return XCTFail("readFile waited on the FIFO for a writer")
        }
        XCTAssertThrowsError(try box.result!.get()) { error in
            XCTAssertEqual((error as? ImageError)?.reason, .notRegular(kind: "a FIFO"))
        }
        let scan = try Dataset.scan(root: d.root)
        XCTAssertEqual(scan.problems.map(\.description), ["a/pipe.jpg: not a regular file (a FIFO): not read"])
    }

    func testAHugeSparseFileIsRefusedFromItsSizeUnread() throws {
        let d = TestDataset(self)
        let url = d.write("a/huge.png", TestImages.pngHeader(width: 100, height: 100))
        XCTAssertEqual(truncate(url.path, 3 << 30), 0)  // 3 GiB, sparse
        let start = Date()
        XCTAssertThrowsError(try ImageDecoder.readFile(url.path)) { error in
            XCTAssertEqual((error as? ImageError)?.reason,
                           .tooLarge(bytes: 3 << 30, limit: ImageDecoder.maxFileBytes(pixelLimit: ImageDecoder.defaultPixelLimit)))
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "refused from its size, not read")
    }

    func testASymbolicLinkLoopIsReportedAsALoop() throws {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["a", "b"], count: 1)
        d.symlink("a/one.jpg", to: "two.jpg")
        d.symlink("a/two.jpg", to: "one.jpg")
        let scan = try Dataset.scan(root: d.root)
        XCTAssertEqual(scan.problems.map(\.relativePath), ["a/one.jpg", "a/two.jpg"])
        XCTAssertEqual(scan.problems.first?.reason, "symbolic link loop (two.jpg leads back to itself: too many levels of symbolic links)")
        XCTAssertThrowsError(try ImageDecoder.readFile(d.path("a/one.jpg"))) { error in
            XCTAssertEqual((error as? ImageError)?.reason, .symlinkLoop(target: "two.jpg"))
        }
    }

    // MARK: one image, two classes

    /// `count` images per class, and one more image twice: horses/twin.jpg and humans/twin-copy.jpg.
    func twins(count: Int) -> TestDataset {
        let d = TestDataset(self)
        d.addJPEGs(classes: ["horses", "humans"], count: count)
        d.write("horses/twin.jpg", TestImages.jpegVariant(50))
        d.write("humans/twin-copy.jpg", TestImages.jpegVariant(50))
        return d
    }

    func testTheSameImageUnderTwoClassesIsAConflictKeptOutOfTheIndex() throws {
        let d = twins(count: 3)
        let cacheURL = temporaryDirectory(self, "cache")
        let s = try extract(d, cache: cacheURL)
        XCTAssertEqual(s.labelConflicts.count, 1)
        XCTAssertEqual(s.labelConflicts.first?.files.map(\.path), ["horses/twin.jpg", "humans/twin-copy.jpg"])
        XCTAssertEqual(s.labelConflicts.first?.files.map(\.className), ["horses", "humans"])
        let cache = try FeatureCache.open(cacheURL)
        XCTAssertNil(try cache.indexEntry(path: "horses/twin.jpg"))
        XCTAssertNil(try cache.indexEntry(path: "humans/twin-copy.jpg"))
        let reasons = try cache.errorReasons()
        XCTAssertTrue(reasons["horses/twin.jpg"]?.hasPrefix("labels conflict: the same content") ?? false, "\(reasons)")
        XCTAssertTrue(reasons["horses/twin.jpg"]?.contains("humans/twin-copy.jpg (humans)") ?? false, "\(reasons)")
        XCTAssertEqual(try cache.counts().entries, 6)

        // A rerun finds the same conflict and leaves the reasons as they were.
        let again = try extract(d, cache: cacheURL)
        XCTAssertEqual(again.labelConflicts.count, 1)
        XCTAssertEqual(try cache.errorReasons(), reasons)
        XCTAssertEqual(try cache.counts().entries, 6)

        // Allowed, each copy is indexed with its own label.
        let allowed = try extract(d, cache: cacheURL) { $0.allowLabelConflicts = true }
        XCTAssertTrue(allowed.labelConflicts.isEmpty)
        XCTAssertEqual(try cache.indexEntry(path: "horses/twin.jpg")?.label, 0)
        XCTAssertEqual(try cache.indexEntry(path: "humans/twin-copy.jpg")?.label, 1)
    }

    func testAConflictThatIsGoneIndexesTheFileItKeptOut() throws {
        let d = twins(count: 2)
        let cacheURL = temporaryDirectory(self, "cache")
        XCTAssertEqual(try extract(d, cache: cacheURL).labelConflicts.count, 1)
        d.remove("humans/twin-copy.jpg")
        let again = try extract(d, cache: cacheURL)
        XCTAssertTrue(again.labelConflicts.isEmpty)
        let cache = try FeatureCache.open(cacheURL)
        XCTAssertEqual(try cache.indexEntry(path: "horses/twin.jpg")?.label, 0)
        XCTAssertNil(try cache.errorReasons()["horses/twin.jpg"])
    }
}
