import Foundation
import XCTest
@testable import Store

/// A fresh directory under the system temporary directory, removed at the end of the test.
func temporaryDirectory(_ test: XCTestCase, _ name: String = "cache") -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("headstart-store-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return (dir as NSString).appendingPathComponent(name)
}

func testFingerprint(dtype: FeatureDType = .f16, shape: [Int] = [2, 3, 4]) -> CacheFingerprint {
    CacheFingerprint(
        weightsSHA256: String(repeating: "ab", count: 32), weightsName: "inception_v3_test.h5", layer: "mixed7",
        inputSize: [150, 150], resize: "nearest", preprocess: "rescale", dtype: dtype, featureShape: shape)
}

/// Deterministic pseudo-random values in [-scale, scale) (64-bit LCG, top 24 bits).
func testValues(_ n: Int, seed: UInt64, scale: Float = 8) -> [Float] {
    var s = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<n).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
}

/// A content key made from a small integer (the SHA-256 of its decimal text).
func testKey(_ i: Int) -> ContentKey { ContentKey.of(Data("image-\(i)".utf8)) }

func testEntry(_ path: String, _ key: ContentKey, label: Int32 = 0, split: Split = .train) -> IndexEntry {
    IndexEntry(path: path, key: key, label: label, split: split, fileSize: 1000, modificationTimeNanoseconds: 1_700_000_000_000_000_000)
}
