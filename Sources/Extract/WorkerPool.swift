import Foundation

/// A fixed set of threads that run one parallel loop at a time, for the network's ~100 short steps per batch.
/// `DispatchQueue.concurrentPerform` hands iterations to whichever pool threads are awake, and when its second
/// thread wakes late the caller runs both halves of a step itself; over a hundred steps that made whole batches
/// up to 40% slower, at random. Here the threads exist for the pool's lifetime and claim chunks from a shared
/// counter, so a late or preempted thread only means the other one takes more chunks. Each chunk computes the
/// same values whichever thread runs it, so results do not depend on the schedule.
final class WorkerPool {
    let threads: Int
    private let condition = NSCondition()
    private var generation = 0
    private var running = 0
    private var stopping = false
    private var body: ((Int) -> Void)?
    private var workers: [Thread] = []

    init(threads: Int) {
        self.threads = max(1, threads)
        for index in 1..<self.threads {
            let t = Thread { [unowned self] in self.work(index) }
            t.stackSize = 1 << 20
            workers.append(t)
            t.start()
        }
    }

    deinit {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func work(_ index: Int) {
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

    /// Runs `body(thread)` on every thread of the pool (the caller is thread 0) and returns when all are done.
    func run(_ body: @escaping (Int) -> Void) {
        if threads == 1 { body(0); return }
        condition.lock()
        self.body = body
        running = threads - 1
        generation += 1
        condition.broadcast()
        condition.unlock()
        body(0)
        condition.lock()
        while running > 0 { condition.wait() }
        self.body = nil
        condition.unlock()
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
