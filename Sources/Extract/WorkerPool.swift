import Foundation

/// A fixed set of threads that run one parallel loop at a time, for the network's ~100 short steps per batch.
/// `DispatchQueue.concurrentPerform` hands iterations to whichever pool threads are awake, and when its second
/// thread wakes late the caller runs both halves of a step itself; over a hundred steps that made whole batches
/// up to 40% slower, at random. Here the threads exist for the pool's lifetime and claim chunks from a shared
/// counter, so a late or preempted thread only means the other one takes more chunks. Each chunk computes the
/// same values whichever thread runs it, so results do not depend on the schedule.
final class WorkerPool {
    let threads: Int
    private let shared = Shared()
    private var workers: [Thread] = []

    init(threads: Int) {
        self.threads = max(1, threads)
        for index in 1..<self.threads {
            // A thread holds the pool's shared state, never the pool: a pool released before a thread starts
            // (a command failing right after building its network) must not be reached for — an unowned
            // reference to it here aborted the process.
            let t = Thread { [shared] in shared.work(index) }
            t.stackSize = 1 << 20
            workers.append(t)
            t.start()
        }
    }

    deinit { shared.stop() }

    /// What the pool's threads and the caller share; it lives as long as the last of them.
    private final class Shared {
        let condition = NSCondition()
        var generation = 0
        var running = 0
        var stopping = false
        var body: ((Int) -> Void)?

        func stop() {
            condition.lock()
            stopping = true
            condition.broadcast()
            condition.unlock()
        }

        func work(_ index: Int) {
            var seen = 0
            while true {
                condition.lock()
                while generation == seen && !stopping { condition.wait() }
                if stopping { condition.unlock(); return }
                seen = generation
                let job = body!
                condition.unlock()
                job(index)
                condition.lock()
                running -= 1
                if running == 0 { condition.broadcast() }
                condition.unlock()
            }
        }
    }

    /// Runs `body(thread)` on every thread of the pool (the caller is thread 0) and returns when all are done.
    func run(_ body: @escaping (Int) -> Void) {
        if threads == 1 { body(0); return }
        let s = shared
        s.condition.lock()
        s.body = body
        s.running = threads - 1
        s.generation += 1
        s.condition.broadcast()
        s.condition.unlock()
        body(0)
        s.condition.lock()
        while s.running > 0 { s.condition.wait() }
        s.body = nil
        s.condition.unlock()
    }

    /// Splits 0..<count into chunks of `chunk` and runs `body(thread, start, end)` for each, chunks claimed in
    /// order from a shared counter.
    func parallelFor(_ count: Int, chunk: Int, _ body: @escaping (_ thread: Int, _ start: Int, _ end: Int) -> Void) {
        let chunks = (count + chunk - 1) / chunk
        if chunks <= 1 || threads == 1 {
            for c in 0..<chunks { body(0, c * chunk, min(count, (c + 1) * chunk)) }
            return
        }
        let counter = ChunkCounter()
        run { thread in
            while true {
                let c = counter.next()
                if c >= chunks { return }
                body(thread, c * chunk, min(count, (c + 1) * chunk))
            }
        }
    }
}

/// The next chunk to claim.
private final class ChunkCounter {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock(); defer { lock.unlock() }
        value += 1
        return value - 1
    }
}
