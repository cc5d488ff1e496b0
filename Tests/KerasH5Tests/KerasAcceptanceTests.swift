import Foundation
import KerasH5
import XCTest

/// Keras itself (model.load_weights, by order) loads the files our writer produces, with every weight
/// equal to the seeded value. Needs a Python with keras and h5py; skipped otherwise.
final class KerasAcceptanceTests: XCTestCase {
    /// $HEADSTART_PYTHON, the project venv beside the checkout (../venv), /work/venv, then python3 on PATH:
    /// the first that can import keras and h5py.
    func pythonWithKeras() throws -> URL {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["HEADSTART_PYTHON"] { candidates.append(URL(fileURLWithPath: env)) }
        candidates.append(Fixtures.repoRoot.deletingLastPathComponent().appendingPathComponent("venv/bin/python"))
        candidates.append(URL(fileURLWithPath: "/work/venv/bin/python"))
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append(URL(fileURLWithPath: String(dir)).appendingPathComponent("python3"))
        }
        for python in candidates where FileManager.default.isExecutableFile(atPath: python.path) {
            if (try? run(python, ["-c", "import keras, h5py"]))?.status == 0 { return python }
        }
        throw XCTSkip("no Python with keras and h5py found (set HEADSTART_PYTHON); Keras acceptance not checked")
    }

    func run(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
        environment["CUDA_VISIBLE_DEVICES"] = ""
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testKerasLoadsWhatTheWriterWritesInBothStylesAndSplit() throws {
        let python = try pythonWithKeras()
        let dir = try temporaryDirectory(self)
        let weights = try KerasWeightsFile.read(path: Fixtures.path("keras3_weights.h5"))
        var accepted: [String] = []
        for (name, style, limit) in [("classic.h5", KerasStringStyle.fixedLength, 64512),
                                     ("keras3.h5", .variableLength, 64512),
                                     ("classic_split.h5", .fixedLength, 40),
                                     ("keras3_split.h5", .variableLength, 40)] {
            let path = dir.appendingPathComponent(name).path
            try weights.write(to: path, style: style, attributeSizeLimit: limit)
            accepted.append(path)
        }
        // Control: one value changed, which the check must notice, so a passing run means something.
        var altered = weights
        altered.layers[5].weights[1].values[0] += 1
        let alteredPath = dir.appendingPathComponent("altered.h5").path
        try altered.write(to: alteredPath, style: .variableLength)

        let script = Fixtures.repoRoot.appendingPathComponent("Tools/keras-reference/make_h5_fixtures.py").path
        let result = try run(python, [script, "--check"] + accepted + [alteredPath])
        let lines = result.output.split(separator: "\n").map(String.init)
        for path in accepted {
            XCTAssertTrue(lines.contains("ok \(path)"), "Keras did not accept \(path):\n\(result.output)")
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("FAIL \(alteredPath): weights differ") && $0.contains("dense_1") },
                      result.output)
        XCTAssertEqual(result.status, 1, "exit status counts the altered file as the only failure")
    }
}
