import Foundation
import XCTest
@testable import Extract

/// The scan lists the same files, in the same order, with the same class ids as Keras's own
/// `DirectoryIterator` (flow_from_directory, shuffle=False) on a tree with awkward names. (The scan also takes
/// .gif and .webp, which flow_from_directory leaves out: the tree has none.)
/// Needs a Python with keras ($HEADSTART_PYTHON or /work/venv/bin/python); skipped otherwise.
final class DatasetKerasTests: XCTestCase {
    static let script = """
        import json, sys
        from keras.src.legacy.preprocessing.image import DirectoryIterator, ImageDataGenerator
        it = DirectoryIterator(sys.argv[1], ImageDataGenerator(), shuffle=False)
        names = sorted(it.class_indices, key=it.class_indices.get)
        print(json.dumps({"classes": names, "filenames": it.filenames, "labels": [int(c) for c in it.classes]}))
        """

    func testScanListsWhatKerasFlowFromDirectoryLists() throws {
        let python = ProcessInfo.processInfo.environment["HEADSTART_PYTHON"] ?? "/work/venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("\(python) is absent (needs keras)") }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: python)
        probe.arguments = ["-c", "import keras"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        try probe.run()
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else { throw XCTSkip("\(python) cannot import keras") }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-keras-walk-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        let files = [
            "b/z.png", "b/A.JPG", "b/sub/x.jpeg", "b/sub b/y.bmp", "b/sub/deeper/w.ppm", "b/sub-c/v.TIF",
            "b/scanpng", "b/not.svg", "b/notes.txt", "a/only.tiff", "a/é.png", "a/e\u{301}.png", "Z/1.png",
            ".hidden/h.png", "a b/c.png",
        ]
        for f in files {
            let u = root.appendingPathComponent(f)
            try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(f.utf8).write(to: u)
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", Self.script, root.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
              let keras = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw XCTSkip("keras is not importable from \(python)")
        }
        let d = try Dataset.scan(root: root)
        XCTAssertEqual(d.classNames, keras["classes"] as? [String])
        XCTAssertEqual(d.items.map(\.relativePath), keras["filenames"] as? [String])
        XCTAssertEqual(d.items.map(\.label), keras["labels"] as? [Int])
    }
}
