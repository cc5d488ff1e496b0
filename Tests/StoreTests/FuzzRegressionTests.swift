import Foundation
import XCTest
@testable import Store

/// Every input in Tests/Fixtures/fuzz/records (the first byte picks the parser, as in Fuzz/Targets/records.swift)
/// replayed: each ends in a parsed value or a reported fault, never a trap.
final class RecordFuzzRegressionTests: XCTestCase {
    func testEveryRecordInputParsesOrIsAFault() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz/records")
        let inputs = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
        XCTAssertGreaterThanOrEqual(inputs.count, 2)
        for url in inputs {
            let bytes = [UInt8](try Data(contentsOf: url))
            guard let selector = bytes.first else { continue }
            let body = Array(bytes.dropFirst())
            body.withUnsafeBytes { b in
                switch selector % 4 {
                case 0:
                    if case .success(let h) = Layout.parseRecord(b, checkCRC: true) {
                        var out = [Float](repeating: 0, count: h.count)
                        out.withUnsafeMutableBufferPointer { Layout.decodePayload(b, h, into: $0.baseAddress!) }
                    }
                case 1: _ = Layout.decodeIndex(path: "fuzz.png", b)
                case 2: _ = Layout.decodeError(path: "fuzz.png", b)
                default:
                    // Only a fingerprint with no invalidity may be sized from.
                    if let f = try? JSONDecoder().decode(CacheFingerprint.self, from: Data(b)), f.invalidity() == nil {
                        XCTAssertGreaterThan(f.featureCount, 0)
                    }
                }
            }
        }
    }
}
