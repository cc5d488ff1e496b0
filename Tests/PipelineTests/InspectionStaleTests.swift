import Foundation
import Pipeline
import Store
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `--stale DATASET`: the dataset folder against the index and errors tables, by relative path.
final class InspectionStaleTests: XCTestCase {
    func report(_ path: String, _ root: URL, hashAll: Bool = false) throws -> StalenessReport {
        try Inspection.staleness(FeatureCache(path: path, fingerprint: nil), dataset: root, hashAll: hashAll)
    }

    func testTheDatasetAsExtractedIsNotStale() throws {
        let (root, path) = try InspectionFixture.extracted(self)
        for hashAll in [false, true] {
            let r = try report(path, root, hashAll: hashAll)
            XCTAssertFalse(r.stale)
            XCTAssertEqual(r.added + r.removed + r.touched, [])
            XCTAssertEqual(r.changed, [])
            XCTAssertEqual(r.unchanged, 6, "five extracted files and the one that failed")
            XCTAssertEqual(r.hashedAll, hashAll)
        }
    }

    func testAddedChangedAndRemovedFilesAreFound() throws {
        let (root, path) = try InspectionFixture.extracted(self)
        let fm = FileManager.default
        try fm.copyItem(at: InspectionFixture.fixture("images/inputs/rgb.png"), to: root.appendingPathComponent("train/humans/f.png"))
        try fm.removeItem(at: root.appendingPathComponent("validation/horses/d.jpg"))
        try fm.copyItem(at: InspectionFixture.fixture("images/inputs/gray.jpg"), to: root.appendingPathComponent("validation/horses/d.jpg"))
        try fm.removeItem(at: root.appendingPathComponent("train/horses/b.png"))
        let r = try report(path, root)
        XCTAssertTrue(r.stale)
        XCTAssertEqual(r.added, ["train/humans/f.png"])
        XCTAssertEqual(r.changed, [StaleFile(path: "validation/horses/d.jpg", reason: "content differs from what was extracted")])
        XCTAssertEqual(r.removed, ["train/horses/b.png"])
        XCTAssertEqual(r.unchanged, 4)
    }

    func testAFileWithANewTimeButTheSameContentIsTouchedNotChanged() throws {
        let (root, path) = try InspectionFixture.extracted(self)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000_000)],
                                              ofItemAtPath: root.appendingPathComponent("train/humans/c.jpg").path)
        let r = try report(path, root)
        XCTAssertFalse(r.stale)
        XCTAssertEqual(r.touched, ["train/humans/c.jpg"])
        XCTAssertEqual(r.changed, [])
    }

    func testAChangeThatKeepsSizeAndModificationTimeIsFoundByHashingAndByItsChangeTime() throws {
        let (root, path) = try InspectionFixture.extracted(self)
        let file = root.appendingPathComponent("validation/humans/e.png").path
        var st = stat()
        XCTAssertEqual(stat(file, &st), 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: file))
        var times = [st.st_atim, st.st_mtim]
        XCTAssertEqual(utimensat(AT_FDCWD, file, &times, 0), 0, "restoring the modification time")

        // Hashing every file finds it; trusting stat data as extract does finds it too: its ctime moved.
        for hashAll in [true, false] {
            let r = try report(path, root, hashAll: hashAll)
            XCTAssertTrue(r.stale)
            XCTAssertEqual(r.changed, [StaleFile(path: "validation/humans/e.png",
                                                 reason: "content differs from what was extracted (same size and modification time)")])
        }
    }

    func testAFailedFileModifiedSinceItFailedIsChanged() throws {
        let (root, path) = try InspectionFixture.extracted(self)
        let bad = root.appendingPathComponent("validation/humans/bad.png")
        try FileManager.default.removeItem(at: bad)
        try FileManager.default.copyItem(at: InspectionFixture.fixture("images/inputs/rgb.png"), to: bad)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(1)], ofItemAtPath: bad.path)
        let r = try report(path, root)
        XCTAssertEqual(r.changed.map(\.path), ["validation/humans/bad.png"])
        XCTAssertTrue(r.changed[0].reason.hasPrefix("modified after it failed to extract (unsupported format"), r.changed[0].reason)
    }

    func testAFailedFileThatIsGoneIsRemoved() throws {
        let (root, path) = try InspectionFixture.extracted(self)
        try FileManager.default.removeItem(at: root.appendingPathComponent("validation/humans/bad.png"))
        XCTAssertEqual(try report(path, root).removed, ["validation/humans/bad.png"])
    }
}
