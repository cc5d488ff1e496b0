import Foundation
import Numerics
@testable import HeadTrain

/// Deterministic synthetic features from headstart's generator: post-ReLU-like values max(0, 2u − 1)·scale.
/// Tools/keras-reference/head_reference.py builds the same numbers with NumPy (see `syntheticFeatures` there).
func syntheticFeatures(seed: UInt64, count: Int, featureCount: Int, scale: Float = 2) -> [Float] {
    var rng = SplitMix64(key: SplitMix64.streamKey(seed: seed, tag: .features))
    return (0..<(count * featureCount)).map { _ in max(0, 2 * rng.nextUniform() - 1) * scale }
}

/// Labels: element i of the `.labels` stream, next() % classes.
func syntheticLabels(seed: UInt64, count: Int, classes: Int) -> [Int] {
    var rng = SplitMix64(key: SplitMix64.streamKey(seed: seed, tag: .labels))
    return (0..<count).map { _ in Int(rng.next() % UInt64(classes)) }
}

/// The repository root, found from this file's path.
func repoRoot() -> URL {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        url.deleteLastPathComponent()
    }
    fatalError("no Package.swift above \(#filePath)")
}

func fixtureURL(_ name: String) -> URL {
    repoRoot().appendingPathComponent("Tests/Fixtures/head").appendingPathComponent(name)
}

func maxRelativeDifference(_ a: [Float], _ b: [Float], floor: Float = 1e-6) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i]) / max(abs(a[i]), abs(b[i]), floor)) }
    return m
}

func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i])) }
    return m
}
