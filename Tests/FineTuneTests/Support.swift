import Extract
import Foundation
import Numerics
import XCTest

/// Uniform values in [lo, hi) from headstart's generator, so every check is the same on every run.
func uniforms(_ n: Int, seed: UInt64, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
    var rng = SplitMix64(key: seed)
    return (0..<n).map { _ in lo + (hi - lo) * rng.nextUniform() }
}

/// Σ r·y in float64: the scalar a gradient check differentiates (∂/∂y = r).
func dot(_ y: [Float], _ r: [Float]) -> Double {
    precondition(y.count == r.count)
    var s = 0.0
    for i in y.indices { s += Double(y[i]) * Double(r[i]) }
    return s
}

/// Central difference (L(θ + ε·e_i) − L(θ − ε·e_i)) / 2ε of a loss computed in float64 from float32 outputs.
func centralDifference(_ theta: inout [Float], _ i: Int, eps: Float, _ loss: ([Float]) -> Double) -> Double {
    let saved = theta[i]
    theta[i] = saved + eps
    let plus = loss(theta)
    theta[i] = saved - eps
    let minus = loss(theta)
    theta[i] = saved
    return (plus - minus) / (2 * Double(eps))
}

/// Checks analytic against numerical gradients of every entry: |a − n| ≤ tolerance·max(|a|, |n|, floor).
func assertGradientsMatch(_ analytic: [Float], _ theta: inout [Float], eps: Float, tolerance: Double = 1e-3, floor: Double = 1e-2,
                          _ what: String, file: StaticString = #filePath, line: UInt = #line, _ loss: ([Float]) -> Double) {
    precondition(analytic.count == theta.count)
    var worst = 0.0, worstIndex = 0
    for i in theta.indices {
        let n = centralDifference(&theta, i, eps: eps, loss)
        let a = Double(analytic[i])
        let err = abs(a - n) / max(abs(a), abs(n), floor)
        if err > worst { worst = err; worstIndex = i }
    }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(what): worst relative difference at entry \(worstIndex) of \(theta.count)", file: file, line: line)
}

enum Fixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String {
        repositoryRoot.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative).path
    }
}

/// mixed7's ten conv2d_bn units of InceptionV3 with weights from seed 7 (docs/seeded-weights.md).
let seededWeights = InceptionV3Weights(units: SeededWeights.generate(seed: 7), sha256: "", sourceName: "seeded weights (seed 7)")
let seededMixed7Units = Array(seededWeights.units[60..<70])
