import Foundation
import XCTest
@testable import Extract

/// The network's worker pool outlives nothing it does not own: a pool released at once — a command that fails
/// right after building its network, under load — must not leave a thread reaching for it.
final class WorkerPoolTests: XCTestCase {
    func testAPoolReleasedBeforeItsThreadsRunDoesNotAbortTheProcess() {
        // Threads start at the scheduler's leisure; with hundreds of pools released at once, many start after
        // their pool is gone. Each must then simply end.
        for _ in 0..<300 { _ = WorkerPool(threads: 4) }
        Thread.sleep(forTimeInterval: 0.5)
    }

    func testAPoolReleasedAfterUseDoesNotAbortTheProcess() {
        for _ in 0..<100 {
            let pool = WorkerPool(threads: 3)
            let sum = ManagedAtomicCounter()
            pool.parallelFor(64, chunk: 4) { _, start, end in sum.add(end - start) }
            XCTAssertEqual(sum.value, 64)
        }
        Thread.sleep(forTimeInterval: 0.3)
    }
}

/// A counter several threads add to.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    func add(_ n: Int) { lock.lock(); total += n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return total }
}
