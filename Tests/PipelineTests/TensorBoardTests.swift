import Foundation
import HeadTrain
import Pipeline
import XCTest

/// `train --tensorboard`: event files byte for byte as TensorFlow writes them (committed fixtures), and read by
/// TensorFlow's own summary_iterator where TensorFlow is installed.
final class TensorBoardTests: XCTestCase {
    struct Fixture: Decodable {
        struct Epoch: Decodable { var epoch: Int; var loss: Double; var accuracy: Double; var val_loss: Double; var val_accuracy: Double }
        var start: Double
        var step_seconds: Double
        var epochs: [Epoch]
    }

    /// Writes the fixture's history with the fixture's wall times into a new folder; returns it and the writer.
    func writeFixtureHistory() throws -> (String, TensorBoardWriter, Fixture) {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixture("tensorboard/history.json")))
        let dir = temporaryDirectory(self, "tb").path
        var tick = -1.0
        let writer = try TensorBoardWriter(directory: dir) {
            tick += 1
            return fixture.start + fixture.step_seconds * tick
        }
        for e in fixture.epochs {
            try writer.append(EpochLog(epoch: e.epoch, loss: e.loss, accuracy: e.accuracy, valLoss: e.val_loss,
                                       valAccuracy: e.val_accuracy, seconds: 1))
        }
        return (dir, writer, fixture)
    }

    func testTheEventFilesAreTheBytesTensorFlowWrites() throws {
        let (_, writer, _) = try writeFixtureHistory()
        XCTAssertEqual(writer.eventFiles.count, 2)
        for (file, run) in zip(writer.eventFiles, ["train", "validation"]) {
            XCTAssertEqual(URL(fileURLWithPath: file).deletingLastPathComponent().lastPathComponent, run)
            XCTAssertTrue(URL(fileURLWithPath: file).lastPathComponent.hasPrefix("events.out.tfevents.1764720000."), file)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), try Data(contentsOf: fixture("tensorboard/\(run).tfevents")),
                           "\(run): not TensorFlow's bytes")
        }
    }

    func testTheRecordChecksumIsMaskedCRC32C() {
        // CRC-32C check value (RFC 3720 B.4): "123456789" → 0xE3069283.
        XCTAssertEqual(TensorBoardEvents.crc32c(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(TensorBoardEvents.masked(0), 0xA282_EAD8)
    }

    func testTensorFlowsReaderReadsOnePointPerEpochInEachRun() throws {
        let (dir, _, fixture) = try writeFixtureHistory()
        let python = try tensorFlowPython()
        let script = repositoryRoot.appendingPathComponent("Tools/keras-reference/make_tensorboard_fixtures.py").path
        let (status, data) = try runQuietly(python, [script, "--read", dir])
        XCTAssertEqual(status, 0)
        let events = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        for (run, loss, accuracy) in [("train", \Fixture.Epoch.loss, \Fixture.Epoch.accuracy),
                                      ("validation", \Fixture.Epoch.val_loss, \Fixture.Epoch.val_accuracy)] {
            let points = events.filter { $0["run"] as? String == run && $0["file_version"] == nil }
            XCTAssertEqual(points.map { $0["step"] as? Int }, [0, 1, 2], run)
            for (point, e) in zip(points, fixture.epochs) {
                // float32 values, through JSON's decimal digits: equal once back in float32.
                let values = point["values"] as! [String: Double]
                XCTAssertEqual(values["epoch_loss"].map(Float.init), Float(e[keyPath: loss]), run)
                XCTAssertEqual(values["epoch_accuracy"].map(Float.init), Float(e[keyPath: accuracy]), run)
            }
        }
    }

    /// A Python with TensorFlow: $HEADSTART_TF_PYTHON, $HEADSTART_PYTHON, then /work/peers-venv.
    func tensorFlowPython() throws -> URL {
        let env = ProcessInfo.processInfo.environment
        let candidates = [env["HEADSTART_TF_PYTHON"], env["HEADSTART_PYTHON"], "/work/peers-venv/bin/python"].compactMap { $0 }
        for path in candidates where FileManager.default.isExecutableFile(atPath: path) {
            if try runQuietly(URL(fileURLWithPath: path), ["-c", "import tensorflow"]).status == 0 { return URL(fileURLWithPath: path) }
        }
        throw XCTSkip("no Python with TensorFlow (set HEADSTART_TF_PYTHON); the committed fixtures still check the bytes")
    }
}
