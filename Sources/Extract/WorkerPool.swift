import CKernels
import Foundation
import Synchronization

/// A fixed set of threads that run one parallel loop at a time, for the network's ~100 short steps per batch.
///
/// At batch 1 a step takes tens of microseconds, so handing work over must cost far less: a new loop is
/// published by bumping an atomic generation, which idle workers poll for a short while (`spinLimit`) before
/// they sleep on a condition; the caller takes part, then polls until every worker has finished. Chunks are
/// claimed from an atomic counter, so a late or preempted thread only means the others take more chunks, and
/// each chunk computes the same values whichever thread runs it: results do not depend on the schedule.
///
/// Workers hold only the shared `State`, never the pool: when the pool goes away they are told to stop and
/// leave on their own (a worker that captured the pool itself could outlive it).
final class WorkerPool: @unchecked Sendable {
    let threads: Int
    private let state: State

    /// Polls (about 30 ns each) a worker makes before sleeping: ~100 µs, longer than the gap between two
    /// steps of a forward pass, much shorter than the gap between batches.
    static let spinLimit = 4000

    private final class State: @unchecked Sendable {
        let generation = Atomic<Int>(0)
        let busy = Atomic<Int>(0)       // workers still running the current job
        let nextChunk = Atomic<Int>(0)  // the loop's next unclaimed chunk
        let stopping = Atomic<Bool>(false)
        let condition = NSCondition()
        /// The current job; written before `generation` is released, read after it is acquired.
        var body: ((Int) -> Void)?

        func work(_ index: Int) {
            var seen = 0
            while true {
                var spins = 0
                while generation.load(ordering: .acquiring) == seen {
                    if stopping.load(ordering: .acquiring) { return }
                    spins += 1
                    if spins < WorkerPool.spinLimit {
                        hs_cpu_relax()
                    } else {
                        condition.lock()
                        while generation.load(ordering: .acquiring) == seen && !stopping.load(ordering: .acquiring) {
                            condition.wait()
                        }
                        condition.unlock()
                    }
                }
                if stopping.load(ordering: .acquiring) { return }
                seen = generation.load(ordering: .acquiring)
                body!(index)
                busy.subtract(1, ordering: .releasing)
            }
        }
    }

    init(threads: Int) {
        self.threads = max(1, threads)
        state = State()
        for index in 1..<self.threads {
            let state = self.state
            let t = Thread { state.work(index) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    deinit {
        state.stopping.store(true, ordering: .releasing)
        state.condition.lock()
        state.condition.broadcast()
        state.condition.unlock()
    }

    /// Runs `body(thread)` on every thread of the pool (the caller is thread 0) and returns when all are done.
    func run(_ body: @escaping (Int) -> Void) {
        if threads == 1 { body(0); return }
        state.body = body
        state.busy.store(threads - 1, ordering: .relaxed)
        state.generation.add(1, ordering: .releasing)
        state.condition.lock()
        state.condition.broadcast()
        state.condition.unlock()
        body(0)
        // Poll for the workers; past the spin limit a worker has probably been preempted (by a decoder
        // thread, say), so give it this core rather than burn the time.
        var spins = 0
        while state.busy.load(ordering: .acquiring) > 0 {
            spins += 1
            if spins < WorkerPool.spinLimit { hs_cpu_relax() } else { sched_yield() }
        }
        state.body = nil
    }

    /// Splits 0..<count into chunks of `chunk` and runs `body(thread, start, end)` for each, chunks claimed in
    /// order from a shared counter.
    func parallelFor(_ count: Int, chunk: Int, _ body: @escaping (_ thread: Int, _ start: Int, _ end: Int) -> Void) {
        let chunks = (count + chunk - 1) / chunk
        parallelChunks(chunks) { thread, c in body(thread, c * chunk, min(count, (c + 1) * chunk)) }
    }

    /// Runs `body(thread, c)` for c in 0..<chunks, claimed in order from a shared counter.
    func parallelChunks(_ chunks: Int, _ body: @escaping (_ thread: Int, _ chunk: Int) -> Void) {
        if chunks <= 1 || threads == 1 {
            for c in 0..<chunks { body(0, c) }
            return
        }
        let state = self.state
        state.nextChunk.store(0, ordering: .relaxed)
        run { thread in
            while true {
                let c = state.nextChunk.add(1, ordering: .relaxed).oldValue
                if c >= chunks { return }
                body(thread, c)
            }
        }
    }
}
