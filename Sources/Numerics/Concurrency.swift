import CKernels
import Dispatch
import Foundation

// The general concurrency helpers, in the module every other one can reach (Extract, Store and HeadTrain never
// import each other). Extract's `WorkerPool` stays beside the network it drives.

/// Seconds on the monotonic clock (for durations; not a date).
public func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Runs `body` on this thread with denormal floats flushed to zero (FTZ and DAZ, as TensorFlow's threads run),
/// then restores the thread's previous mode. Training loops wrap each thread's share of a step in it: gradients
/// that underflow into the denormal range would otherwise cost a microcode assist per operation.
@inline(__always)
public func withDenormalsFlushed<T>(_ body: () throws -> T) rethrows -> T {
    let old = hs_fp_flush_denormals()
    defer { hs_fp_mode_restore(old) }
    return try body()
}

/// Runs body(0..<n) on n threads (inline when n == 1), each with denormals flushed to zero (`withDenormalsFlushed`:
/// a training step's gradients can underflow, and TensorFlow's threads flush them too). HeadTrain's head and
/// FineTune's block split their steps with it.
public func parallelFor(_ n: Int, _ body: (Int) -> Void) {
    if n <= 1 { if n == 1 { withDenormalsFlushed { body(0) } }; return }
    DispatchQueue.concurrentPerform(iterations: n) { t in withDenormalsFlushed { body(t) } }
}

/// A flag one thread sets and another polls.
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    public init() {}
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    public func set() { lock.lock(); value = true; lock.unlock() }
}

/// A bounded blocking queue between threads: `put` waits while it holds `capacity` items, `take` while it is empty.
public final class BlockingQueue<T>: @unchecked Sendable {
    private var items: [T] = []
    private let capacity: Int
    private let condition = NSCondition()
    public init(capacity: Int) { self.capacity = capacity }
    public func put(_ x: T) {
        condition.lock()
        while items.count >= capacity { condition.wait() }
        items.append(x)
        condition.broadcast()
        condition.unlock()
    }
    public func take() -> T {
        condition.lock()
        while items.isEmpty { condition.wait() }
        let x = items.removeFirst()
        condition.broadcast()
        condition.unlock()
        return x
    }
}
