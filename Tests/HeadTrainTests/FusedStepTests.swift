import Numerics
import XCTest
@testable import HeadTrain

/// The fused first-layer update (tile gradient GEMM + RMSprop per tile, split over threads) against the plain
/// step (whole gradient, then RMSprop): same parameters and optimiser state after several steps.
final class FusedStepTests: XCTestCase {
    func runSteps(config: HeadConfig, B: Int, steps: Int, fused: Bool, parallelism: Parallelism, tileRows: Int,
                  backend: HeadBackend = .preferred) throws -> Head {
        let head = try Head(config: config, seed: 3)
        let stepper = HeadStepper(head: head, maxBatch: B, optimizer: RMSpropConfig(learningRate: 1e-3),
                                  parallelism: parallelism, tileRows: tileRows, backend: backend)
        let x = syntheticFeatures(seed: 8, count: B * steps, featureCount: config.featureCount)
        let labels = syntheticLabels(seed: 8, count: B * steps, classes: config.classes)
        for s in 0..<steps {
            x.withUnsafeBufferPointer {
                stepper.workspace.x.update(from: $0.baseAddress! + s * B * config.featureCount, count: B * config.featureCount)
            }
            for b in 0..<B { stepper.workspace.labels[b] = Int32(labels[s * B + b]) }
            var rng = SplitMix64(key: UInt64(s))
            if fused { stepper.trainStep(B: B, rng: &rng) } else { stepper.trainStepReference(B: B, rng: &rng) }
        }
        return head
    }

    func assertAgree(_ a: Head, _ b: Head, file: StaticString = #filePath, line: UInt = #line) {
        // ≤ 1e-6 relative (differences below 1e-7 absolute are float32 rounding of near-zero values).
        XCTAssertLessThanOrEqual(maxRelativeDifference(a.kernel1, b.kernel1, floor: 0.1), 1e-6, file: file, line: line)
        XCTAssertLessThanOrEqual(maxRelativeDifference(a.bias1, b.bias1, floor: 0.1), 1e-6, file: file, line: line)
        XCTAssertLessThanOrEqual(maxRelativeDifference(a.kernel2, b.kernel2, floor: 0.1), 1e-6, file: file, line: line)
        XCTAssertLessThanOrEqual(maxRelativeDifference(a.bias2, b.bias2, floor: 0.1), 1e-6, file: file, line: line)
        XCTAssertNotEqual(a.kernel1, try! Head(config: a.config, seed: 3).kernel1, "the steps changed w1", file: file, line: line)
    }

    func testFusedStepMatchesReferenceStepOnOneThread() throws {
        let c = HeadConfig(featureCount: 300, hidden: 48, classes: 2)
        let ref = try runSteps(config: c, B: 8, steps: 4, fused: false, parallelism: .threads(1), tileRows: 64)
        let fused = try runSteps(config: c, B: 8, steps: 4, fused: true, parallelism: .threads(1), tileRows: 37)
        assertAgree(fused, ref)
    }

    func testFusedStepMatchesReferenceStepOnTwoThreadsWithUnevenTiles() throws {
        let c = HeadConfig(featureCount: 301, hidden: 40, classes: 3, dropout: 0.3)
        let ref = try runSteps(config: c, B: 7, steps: 3, fused: false, parallelism: .threads(2), tileRows: 64)
        let fused = try runSteps(config: c, B: 7, steps: 3, fused: true, parallelism: .threads(2), tileRows: 13)
        assertAgree(fused, ref)
    }

    func testOpenBLASThreadedForwardMatchesOwnThreads() throws {
        let c = HeadConfig(featureCount: 500, hidden: 64, classes: 2)
        let a = try runSteps(config: c, B: 9, steps: 3, fused: true, parallelism: .openBLAS(2), tileRows: 64)
        let b = try runSteps(config: c, B: 9, steps: 3, fused: true, parallelism: .threads(2), tileRows: 64)
        assertAgree(a, b)
    }

    /// headstart's kernels (gradient tiles in registers, RMSprop from them) and OpenBLAS agree, on every
    /// instruction set this machine runs, with odd sizes: H not a multiple of any register tile, tiles shorter
    /// than the kernels' gathering threshold, a batch longer than one K block.
    func testKernelBackendMatchesOpenBLASBackendOnEveryInstructionSet() throws {
        let cases: [(HeadConfig, B: Int, tileRows: Int)] = [
            (HeadConfig(featureCount: 301, hidden: 40, classes: 3, dropout: 0.3), 7, 13),
            (HeadConfig(featureCount: 500, hidden: 33, classes: 2), 9, 64),
            (HeadConfig(featureCount: 130, hidden: 17, classes: 2), 300, 11),   // B > KC: several K pieces
        ]
        for (c, B, T) in cases {
            let blas = try runSteps(config: c, B: B, steps: 3, fused: true, parallelism: .threads(2), tileRows: T, backend: .openBLAS)
            for isa in InstructionSet.supported {
                let ours = try runSteps(config: c, B: B, steps: 3, fused: true, parallelism: .threads(2), tileRows: T, backend: .kernels(isa))
                assertAgree(ours, blas)
            }
        }
    }

    /// The training loop's fused steps also compute the next batch's first layer inside the update pass; a whole
    /// fit that way (2 threads, dropout, shuffle, a partial last batch) agrees with a fit by the plain step.
    func testFitWithNextBatchForwardInsideTheUpdateMatchesPlainSteps() throws {
        let c = HeadConfig(featureCount: 257, hidden: 33, classes: 2, dropout: 0.2)
        let train = try InMemoryFeatures(features: syntheticFeatures(seed: 4, count: 29, featureCount: 257), featureCount: 257,
                                         labels: syntheticLabels(seed: 4, count: 29, classes: 2))
        func fit(reference: Bool) throws -> (Head, [Double]) {
            let head = try Head(config: c, seed: 3)
            var o = TrainingOptions(epochs: 3, batchSize: 6, learningRate: 1e-3, seed: 2)
            o.referenceStep = reference
            o.tileRows = 19
            let h = try HeadTrainer(head: head, options: o).fit(train: train)
            return (head, h.epochs.map(\.loss))
        }
        let (fused, fusedLoss) = try fit(reference: false)
        let (plain, plainLoss) = try fit(reference: true)
        assertAgree(fused, plain)
        for (a, b) in zip(fusedLoss, plainLoss) { XCTAssertEqual(a, b, accuracy: 1e-6 * b) }
    }
}
