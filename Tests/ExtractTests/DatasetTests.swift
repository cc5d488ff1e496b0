import Foundation
import XCTest
@testable import Extract

final class DatasetTests: XCTestCase {
    /// A fresh dataset root, removed after the test.
    func makeRoot() -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-dataset-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        addTeardownBlock {
            _ = try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: u.path)
            try? FileManager.default.removeItem(at: u)
        }
        return u
    }

    /// Creates files (with distinct contents) at the given '/'-separated paths.
    func touch(_ root: URL, _ paths: [String]) {
        for p in paths {
            let u = root.appendingPathComponent(p)
            try! FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
            try! Data("content of \(p)".utf8).write(to: u)
        }
    }

    func testClassIdsAreTheSubfolderNamesInPythonSortOrder() throws {
        let root = makeRoot()
        touch(root, ["b/1.png", "a/1.png", "A/1.png", "_x/1.png", "é/1.png", "e\u{301}/1.png", "stray-file.png"])
        let d = try Dataset.scan(root: root)
        // Code point order: "A" 0x41 < "_" 0x5F < "a" < "b" < "e\u{301}" (0x65…) < "é" 0xE9. Swift's String `<`
        // would treat the last two as equal (canonically equivalent); Python does not.
        XCTAssertEqual(d.classNames, ["A", "_x", "a", "b", "e\u{301}", "é"])
        XCTAssertEqual(d.layout, .flat)
        XCTAssertEqual(d.items.map(\.label), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(d.items.map(\.className), d.classNames)
        XCTAssertFalse(d.items.contains { $0.relativePath == "stray-file.png" }, "files at the root are not a class")
    }

    func testFilesAreFoundRecursivelyInKerasWalkOrder() throws {
        let root = makeRoot()
        touch(root, ["c/z.png", "c/a.png", "c/sub/b.png", "c/sub b/c.png", "c/sub/deeper/d.png", "c/B.png"])
        let d = try Dataset.scan(root: root)
        // os.walk roots sorted by path: "c" < "c/sub" (prefix) < "c/sub b" < "c/sub/deeper" (' ' < '/'); files
        // sorted within each root ("B" < "a"). Keras 3.15's _list_valid_filenames_in_directory gives this order.
        XCTAssertEqual(d.items.map(\.relativePath), ["c/B.png", "c/a.png", "c/z.png", "c/sub/b.png", "c/sub b/c.png", "c/sub/deeper/d.png"])
        XCTAssertEqual(d.items[0].url.path, root.appendingPathComponent("c/B.png").standardizedFileURL.path)
        XCTAssertEqual(d.items[0].fileSize, Int64("content of c/B.png".utf8.count))
    }

    /// flow_from_directory's suffixes, plus gif (image_dataset_from_directory's list has it) and webp (PIL reads it).
    func testImageExtensionsFollowKerasCaseInsensitively() throws {
        let root = makeRoot()
        let taken = ["a.png", "b.PNG", "c.Jpg", "d.jpeg", "e.bmp", "f.ppm", "g.tif", "h.TIFF", "i.gif", "j.WebP", "scanpng"]
        touch(root, (taken + ["k.txt", "l.png.bak", "noext", "m.svg"]).map { "k/" + $0 })
        let d = try Dataset.scan(root: root)
        // "scanpng": Keras tests name.lower().endswith(("png", …)) with no dot, so it takes this file too.
        XCTAssertEqual(Set(d.items.map(\.relativePath)), Set(taken.map { "k/" + $0 }))
        XCTAssertEqual(d.problems, [])
    }

    func testTrainAndValidationFoldersGiveTheSplits() throws {
        let root = makeRoot()
        touch(root, ["train/horses/h1.png", "train/humans/p1.png", "train/humans/p2.png",
                     "validation/horses/vh.png", "validation/humans/vp.png"])
        let d = try Dataset.scan(root: root, validationSplit: 0.5)  // ignored: the folders decide
        XCTAssertEqual(d.layout, .splitFolders)
        XCTAssertEqual(d.classNames, ["horses", "humans"])
        XCTAssertEqual(d.items.map(\.relativePath), ["train/horses/h1.png", "train/humans/p1.png", "train/humans/p2.png",
                                                     "validation/horses/vh.png", "validation/humans/vp.png"])
        XCTAssertEqual(d.items.map(\.split), [.train, .train, .train, .validation, .validation])
        XCTAssertEqual(d.items.map(\.label), [0, 1, 1, 0, 1])
    }

    func testAClassMissingFromOneSplitFolderIsReportedAndKeepsItsId() throws {
        let root = makeRoot()
        touch(root, ["train/a/1.png", "train/b/1.png", "validation/a/1.png"])
        let d = try Dataset.scan(root: root)
        XCTAssertEqual(d.classNames, ["a", "b"])
        XCTAssertEqual(d.problems, [DatasetProblem(relativePath: "validation/b", reason: "class folder exists in train/ but not in validation/")])
    }

    func testValidationSplitByHashIsStableWhenFilesAreAdded() throws {
        let root = makeRoot()
        touch(root, (0..<200).map { "c\($0 % 2)/img\($0).png" })
        let before = try Dataset.scan(root: root, validationSplit: 0.2)
        touch(root, (200..<260).map { "c\($0 % 2)/img\($0).png" })
        let after = try Dataset.scan(root: root, validationSplit: 0.2)
        let splitAfter = Dictionary(uniqueKeysWithValues: after.items.map { ($0.relativePath, $0.split) })
        for item in before.items { XCTAssertEqual(splitAfter[item.relativePath], item.split, item.relativePath) }
        XCTAssertEqual(after.items.count, 260)
        // 260 draws at p = 0.2: mean 52, sd 6.4; [26, 78] is ±4 sd.
        let validation = after.items.filter { $0.split == .validation }.count
        XCTAssertTrue((26...78).contains(validation), "\(validation) validation images of 260")
    }

    func testValidationSplitDoesNotDependOnWhereTheDatasetLives() throws {
        let a = makeRoot(), b = makeRoot()
        let files = (0..<50).map { "k/sub/\($0).jpg" }
        touch(a, files)
        touch(b, files)
        let sa = try Dataset.scan(root: a, validationSplit: 0.3).items.map(\.split)
        let sb = try Dataset.scan(root: b, validationSplit: 0.3).items.map(\.split)
        XCTAssertEqual(sa, sb)
        XCTAssertTrue(sa.contains(.train) && sa.contains(.validation))
        XCTAssertEqual(try Dataset.scan(root: a, validationSplit: 0).items.filter { $0.split == .validation }.count, 0)
    }

    func testSplitFractionIsTheLeading53BitsOfTheSHA256OfThePath() {
        // sha256("abc") = ba7816bf8f01cfea…; 0xba7816bf8f01cfea >> 11 · 2^-53
        XCTAssertEqual(Dataset.splitFraction(pathWithinClass: "abc"), Double(UInt64(0xba78_16bf_8f01_cfea) >> 11) * 0x1p-53)
    }

    func testAnOutOfRangeValidationSplitIsRefused() {
        XCTAssertThrowsError(try Dataset.scan(root: makeRoot(), validationSplit: 1)) { error in
            XCTAssertEqual(error as? DatasetError, .invalidValidationSplit(1))
        }
    }

    func testAFolderWithoutClassesIsAnError() {
        let root = makeRoot()
        touch(root, ["loose.png"])
        XCTAssertThrowsError(try Dataset.scan(root: root)) { error in
            XCTAssertEqual(error as? DatasetError, .noClasses(path: root.standardizedFileURL.path))
        }
    }

    func testBrokenSymlinksAreReportedNotFatal() throws {
        let root = makeRoot()
        touch(root, ["k/good.png", "other/target.png"])
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("k/broken.png").path, withDestinationPath: "missing.png")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("k/linked.png").path,
                                  withDestinationPath: root.appendingPathComponent("other/target.png").path)
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("k/linked-dir").path,
                                  withDestinationPath: root.appendingPathComponent("other").path)
        let d = try Dataset.scan(root: root)
        // A link to a file is an image (os.walk lists it); a link to a folder is not followed (followlinks=False).
        XCTAssertEqual(d.items.filter { $0.className == "k" }.map(\.relativePath), ["k/good.png", "k/linked.png"])
        XCTAssertEqual(d.problems, [DatasetProblem(relativePath: "k/broken.png", reason: "broken symbolic link (target missing.png does not exist)")])
    }

    func testNonRegularFilesWithImageNamesAreReported() throws {
        let root = makeRoot()
        touch(root, ["k/good.png"])
        XCTAssertEqual(mkfifo(root.appendingPathComponent("k/pipe.png").path, 0o644), 0)
        let d = try Dataset.scan(root: root)
        XCTAssertEqual(d.items.map(\.relativePath), ["k/good.png"])
        XCTAssertEqual(d.problems, [DatasetProblem(relativePath: "k/pipe.png", reason: "not a regular file (a FIFO): not read")])
    }

    func testUnreadableFilesAndFoldersAreReportedNotFatal() throws {
        guard getuid() != 0 else { throw XCTSkip("running as root: permission bits do not stop root from reading") }
        let root = makeRoot()
        touch(root, ["k/good.png", "k/secret.png", "k/locked/inside.png"])
        let fm = FileManager.default
        try fm.setAttributes([.posixPermissions: 0o000], ofItemAtPath: root.appendingPathComponent("k/secret.png").path)
        try fm.setAttributes([.posixPermissions: 0o000], ofItemAtPath: root.appendingPathComponent("k/locked").path)
        addTeardownBlock { try? fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root.appendingPathComponent("k/locked").path) }
        let d = try Dataset.scan(root: root)
        XCTAssertEqual(d.items.map(\.relativePath), ["k/good.png"])
        XCTAssertEqual(d.problems.map(\.relativePath), ["k/secret.png", "k/locked"])
    }

    func testSplitCollisionsFindTheSameContentInBothSplits() throws {
        let root = makeRoot()
        touch(root, ["train/a/1.png", "train/a/2.png", "validation/a/copy-of-1.png", "validation/a/3.png"])
        let d = try Dataset.scan(root: root)
        let keys = ["train/a/1.png": "K1", "train/a/2.png": "K2", "validation/a/copy-of-1.png": "K1", "validation/a/3.png": "K3"]
        let collisions = Dataset.splitCollisions(d.items.map { (item: $0, key: keys[$0.relativePath]!) })
        XCTAssertEqual(collisions.count, 1)
        XCTAssertEqual(collisions.first?.key, "K1")
        XCTAssertEqual(collisions.first?.trainPaths, ["train/a/1.png"])
        XCTAssertEqual(collisions.first?.validationPaths, ["validation/a/copy-of-1.png"])
        XCTAssertEqual(Dataset.splitCollisions(d.items.map { (item: $0, key: $0.relativePath) }).count, 0)
    }

    func testHorseOrHumanFolderHasKerasCounts() throws {
        var root = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root = root.deletingLastPathComponent()
        }
        let data = root.appendingPathComponent("../shared/data/horse-or-human").standardizedFileURL
        guard FileManager.default.fileExists(atPath: data.path) else {
            throw XCTSkip("\(data.path) is absent (the Horses-or-Humans images)")
        }
        let d = try Dataset.scan(root: data)
        XCTAssertEqual(d.layout, .splitFolders)
        XCTAssertEqual(d.classNames, ["horses", "humans"])
        XCTAssertEqual(d.problems, [])
        let train = d.items.filter { $0.split == .train }, validation = d.items.filter { $0.split == .validation }
        XCTAssertEqual(train.count, 1027)
        XCTAssertEqual(train.filter { $0.label == 0 }.count, 500)
        XCTAssertEqual(train.filter { $0.label == 1 }.count, 527)
        XCTAssertEqual(validation.count, 256)
        XCTAssertEqual(validation.filter { $0.label == 0 }.count, 128)
        XCTAssertTrue(d.items.allSatisfy { $0.relativePath.hasSuffix(".png") && $0.fileSize > 0 })
    }
}
