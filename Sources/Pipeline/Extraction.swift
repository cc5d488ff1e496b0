import Dispatch
import Extract
import Foundation
import Numerics
import Store

/// One `headstart extract` run: a dataset folder into a feature cache.
public struct ExtractionJob: Sendable {
    public var dataset: URL
    public var cache: String
    /// Fraction of each class held out for validation when the dataset has no train/validation folders.
    public var validationSplit: Double = 0
    public var dtype: FeatureDType = .f16
    public var batchSize: Int = 32
    /// Only the images whose path falls in shard `index` of `count` (`Dataset.shard`, for several machines): the
    /// other files are never opened.
    public var shard: (index: Int, count: Int)? = nil
    /// Read and hash every file, even those whose stat data is unchanged since they were hashed.
    public var rehash = false
    /// Only the first `limit` images of the dataset (in its sorted order).
    public var limit: Int? = nil
    /// Delete the cache's contents first.
    public var rebuild = false
    /// Threads that read, hash and decode images, overlapped with the network (at least 1).
    public var decodeThreads = 2
    /// Augmented views 1…views to store for every training image (never validation), besides the image itself.
    public var views = 0
    /// The ranges views are drawn from; nil takes the ones the cache recorded (an error if it has none).
    public var augmentation: AugmentationSettings? = nil
    /// The global seed of the views; nil takes the cache's recorded one, else 0.
    public var augmentSeed: UInt64? = nil
    /// Index files of one content under different classes, each with its own label, as Keras would train on
    /// them. Without it such files are conflicts: all of them are kept out, with the reason.
    public var allowLabelConflicts = false
    /// Where the weights come from (`BaseWeights.loadClassified`), recorded in the cache for every reader to show;
    /// nil leaves what the cache recorded as it is.
    public var weightsOrigin: WeightsOrigin? = nil

    public init(dataset: URL, cache: String) { self.dataset = dataset; self.cache = cache }
}

public struct ExtractionProgress: Sendable {
    public var done = 0, total = 0
    /// Of `total`, the files to open (those not trusted by their unchanged stat data), and how many are done:
    /// the work actually left, for an ETA.
    public var toRead = 0, read = 0
    /// Files reused without opening them: their stat data is unchanged since they were hashed.
    public var unchangedByStat = 0
    public var extracted = 0, reused = 0, failed = 0
    /// Augmented views (view > 0) the network computed, and those already cached.
    public var viewsExtracted = 0, viewsReused = 0
    public var elapsed = 0.0
}

public struct ExtractionSummary: Sendable {
    public var classNames: [String] = []
    /// Images of the dataset considered by this run (after --limit, before --shard).
    public var considered = 0
    /// Images whose features the network computed in this run.
    public var extracted = 0
    /// Images whose features were already cached (same content, this run or an earlier one).
    public var reused = 0
    /// Images left to other shards (never opened).
    public var otherShards = 0
    /// Files whose outcome (content key, or the reason they were skipped) was reused without opening them, their
    /// stat data being what it was when they were hashed; and files read and hashed by this run.
    public var unchangedByStat = 0
    public var hashed = 0
    /// Augmented views asked per training image (the job's `views`), and the recipe they were drawn with.
    public var views = 0
    public var recipe: AugmentRecipe?
    /// Augmented views (view > 0) computed in this run, and those already cached.
    public var viewsExtracted = 0
    public var viewsReused = 0
    /// Files that could not be used, with the reason (also in the cache's errors table, except paths too long to
    /// be its keys).
    public var failed: [(path: String, reason: String)] = []
    /// Index entries of files no longer in the dataset, removed.
    public var removed = 0
    /// Files that decoded with libjpeg warnings ("Corrupt JPEG data"): count and first message.
    public var warnings: [(path: String, count: Int, first: String)] = []
    /// Validation files whose content is also in train: kept in train only, so the splits stay disjoint.
    public var splitCollisions: [(validation: String, train: String)] = []
    /// One content under different classes of a split: every file of it, with its class, kept out of the index
    /// (unless `allowLabelConflicts`).
    public var labelConflicts: [LabelConflict] = []
    public var seconds = 0.0, decodeSeconds = 0.0, networkSeconds = 0.0, writeSeconds = 0.0
    public var counts = CacheCounts()
    /// The cache existed but had never been completed (no fingerprint was ever committed): this run finished it.
    public var finishedIncompleteCache = false
    /// Index entries or records found damaged at the start: read and extracted again.
    public var repaired: [DamagedEntry] = []
}

/// One content under different classes of one split.
public struct LabelConflict: Sendable {
    public var key: ContentKey
    /// Every file of it: path and class name.
    public var files: [(path: String, className: String)]
}

public enum Extraction {
    /// The cache fingerprint for features made by `extractor` from the weights `weights`.
    public static func fingerprint(_ extractor: FeatureExtractor, weights: InceptionV3Weights, dtype: FeatureDType) -> CacheFingerprint {
        let s = extractor.settings
        return CacheFingerprint(
            weightsSHA256: weights.sha256, weightsName: weights.sourceName, layer: s.layer.rawValue,
            inputSize: [s.size, s.size], resize: s.resize.rawValue, preprocess: s.preprocess.rawValue, dtype: dtype,
            featureShape: extractor.featureShape)
    }

    /// What the reading stage found for one file.
    private enum Prepared {
        /// Unusable, with the reason; `key` when its bytes were read (or trusted).
        case failed(String, key: ContentKey?)
        /// An image to index. `work` lists the views the network computes for it in this chunk, each in its slot
        /// of the chunk's input (empty when everything is cached, by an earlier run or earlier in this one);
        /// `reusedViews` counts its augmented views already cached.
        case image(ContentKey, work: [ViewSlot], reusedViews: Int, warnings: Int, firstWarning: String?)
    }

    private struct ViewSlot { var view: UInt16; var slot: Int }

    private final class Chunk {
        var items: [DatasetItem] = []
        var prepared: [Prepared] = []
        var input: UnsafeMutableBufferPointer<Float>
        var decodeSeconds = 0.0
        /// Wall clock (ns since 1970) just before the chunk's files were read: their entries' `hashedAt`.
        var readStamp: Int64 = 0
        init(capacity: Int) { input = .allocate(capacity: capacity) }
        deinit { input.deallocate() }
    }

    /// Runs `job`: every image of the dataset is read and hashed; images whose content is cached are reused,
    /// the others are decoded on `decodeThreads` threads while the network runs the previous batch; each batch
    /// is committed in one transaction, so a killed run leaves every finished batch and nothing partial.
    /// Stages: check the job, scan the dataset, open the cache, reconcile the index with the scan, read ahead on
    /// one thread while the network runs and commits each chunk, then the index rules over every file.
    public static func run(
        _ job: ExtractionJob, extractor: FeatureExtractor, weights: InceptionV3Weights,
        progress: (ExtractionProgress) -> Void = { _ in }
    ) throws -> ExtractionSummary {
        let start = now()
        // The values a caller gave, checked as their flags are (`Setting`), before anything is sized from them.
        try Setting.extractBatch.check(job.batchSize, as: "batch size")
        if let limit = job.limit { try Setting.limit.check(limit, as: "limit") }
        try Setting.validationSplit.check(job.validationSplit, as: "validation split")
        try extractor.checkMemory(batch: job.batchSize)
        let dataset = try Dataset.scan(root: job.dataset, validationSplit: job.validationSplit)
        let considered = job.limit.map { Array(dataset.items.prefix($0)) } ?? dataset.items
        let (cache, recipe) = try openCache(job, extractor: extractor, weights: weights, dataset: dataset)

        var summary = ExtractionSummary()
        summary.finishedIncompleteCache = cache.opening == .finished
        summary.classNames = dataset.classNames
        summary.views = job.views
        summary.recipe = recipe
        // Every dataset entry this run looked at: the images (after --limit) and the entries that could not even
        // be listed as images (broken links, unreadable folders), so extracted + reused + skipped + other
        // shards adds up to it.
        summary.considered = considered.count + dataset.problems.count
        let plan = try reconcile(job, dataset: dataset, considered: considered, cache: cache, summary: &summary)
        var commits = CommitState(plan: plan, slotCapacity: plan.batch * (job.views + 1), featureCount: extractor.featureCount)
        commits.progress.total = plan.items.count
        commits.progress.toRead = plan.items.count - plan.trusted.count
        try readAhead(job, plan: plan, extractor: extractor, cache: cache, recipe: recipe) { chunk in
            try commit(chunk, extractor: extractor, cache: cache, state: &commits, summary: &summary)
            commits.progress.elapsed = now() - start
            progress(commits.progress)
        }
        try applyIndexRules(to: cache, heldBack: commits.heldBack, classNames: dataset.classNames,
                            allowLabelConflicts: job.allowLabelConflicts, existingErrors: plan.existingErrors, summary: &summary)
        summary.counts = try cache.counts()
        summary.seconds = now() - start
        return summary
    }

    /// Opens (or creates) the cache for this extraction's fingerprint and records what the run is about: the
    /// augmentation recipe when it extracts views, the class names, the dataset folder and the weights' origin.
    private static func openCache(
        _ job: ExtractionJob, extractor: FeatureExtractor, weights: InceptionV3Weights, dataset: Dataset
    ) throws -> (FeatureCache, AugmentRecipe?) {
        guard (0...Int(UInt16.max) - 1).contains(job.views) else {
            throw AugmentedViewsError.tooManyViews(cache: job.cache, views: job.views)
        }
        // The augmentation field is not compared on opening: a plain run may add images to a cache with views,
        // and a run with views records its recipe below (refused if the cache recorded another).
        let cache = try FeatureCache(path: job.cache, fingerprint: fingerprint(extractor, weights: weights, dtype: job.dtype),
                                     rebuild: job.rebuild, adoptAugmentation: true)
        var recipe: AugmentRecipe? = nil
        if job.views > 0 {
            guard let r = AugmentRecipe.resolve(given: job.augmentation, seed: job.augmentSeed,
                                                recorded: try AugmentRecipe.recorded(in: cache)) else {
                throw AugmentedViewsError.noSettings(cache: job.cache, views: job.views)
            }
            try cache.recordAugmentation(r.fingerprintDescription)
            recipe = r
        }
        try cache.setClassNames(dataset.classNames, replace: true)
        try cache.setDatasetRoot(dataset.root.path)
        if let origin = job.weightsOrigin { try cache.setWeightsOrigin(origin.recorded) }
        return (cache, recipe)
    }

    /// What the scan and the cache agree on before any image is read: this shard's images, the usable index and
    /// errors entries, the files trusted by their unchanged stat data, and the chunking.
    private struct Plan {
        var items: [DatasetItem]
        var existing: [String: IndexEntry]
        var existingErrors: [String: ErrorEntry]
        var trusted: [String: Trusted]
        /// Images per chunk, and chunks.
        var batch: Int
        var chunkCount: Int
    }

    /// Reconciles the index with the scan: entries of files gone (or damaged) leave, files that cannot be listed
    /// or keyed are recorded as failed, in one commit; then decides which files need no reading.
    private static func reconcile(
        _ job: ExtractionJob, dataset: Dataset, considered: [DatasetItem], cache: FeatureCache, summary: inout ExtractionSummary
    ) throws -> Plan {
        // The index and errors tables are keyed by the path, and LMDB refuses keys over maxPathBytes: such a file
        // can be neither indexed nor listed as failed in the cache, so it is reported in the summary only (putting
        // it in a batch would fail that batch's commit and end the run).
        let maxPath = cache.maxPathBytes
        func tooLong(_ path: String) -> String? {
            let n = path.utf8.count
            return n > maxPath ? "the path is \(n) bytes long; the cache keys paths of at most \(maxPath) bytes (UTF-8): not extracted" : nil
        }
        let (mine, mineProblems) = shardShare(considered, dataset.problems, shard: job.shard)
        summary.otherShards = considered.count + dataset.problems.count - mine.count - mineProblems.count
        let items = mine.filter { tooLong($0.relativePath) == nil }
        // Entries whose bytes or record are damaged count as absent: their files are read (and, for a damaged
        // record, run through the network) again, and their entries rewritten.
        let screening = try cache.screen()
        var existing = [String: IndexEntry]()
        for e in screening.usable { existing[e.path] = e }
        let present = Set(dataset.items.map(\.relativePath))
        let problems = mineProblems.filter { tooLong($0.relativePath) == nil }
            .map { ErrorEntry(path: $0.relativePath, reason: $0.reason) }
        summary.failed += (mine.map(\.relativePath) + mineProblems.map(\.relativePath))
            .compactMap { p in tooLong(p).map { (p, $0) } }
        let problemPaths = Set(problems.map(\.path))
        let stale = (Array(existing.keys) + screening.damaged.map(\.path)).filter { !present.contains($0) }
            + (try cache.errorEntries()).map(\.path).filter { !present.contains($0) && !problemPaths.contains($0) }
        summary.removed = existing.keys.filter { !present.contains($0) }.count
        summary.repaired = screening.damaged.filter { present.contains($0.path) }
        try cache.commit(batch: Batch(errors: problems, removedPaths: stale))
        summary.failed += problems.map { ($0.path, $0.reason) }
        var existingErrors = [String: ErrorEntry]()
        for e in try cache.errorEntries() { existingErrors[e.path] = e }
        let trusted = job.rehash ? [:] : try trustedByStat(items, existing: existing, errors: existingErrors, cache: cache, views: job.views)
        // With views, an image may need up to views + 1 network inputs, so a chunk holds batch / (views + 1)
        // images and network batches stay near --batch.
        let batch = max(1, job.batchSize / (job.views + 1))
        return Plan(items: items, existing: existing, existingErrors: existingErrors, trusted: trusted,
                    batch: batch, chunkCount: (items.count + batch - 1) / batch)
    }

    /// The reading stage on its own thread, ahead of `body` (the network stage, on this one), through a queue of
    /// at most two chunks whose buffers are recycled. When `body` throws, the reader is stopped and drained
    /// before the error leaves, so it is never left blocked holding the cache open and its buffers.
    private static func readAhead(
        _ job: ExtractionJob, plan: Plan, extractor: FeatureExtractor, cache: FeatureCache, recipe: AugmentRecipe?,
        _ body: (Chunk) throws -> Void
    ) throws {
        let slotCapacity = plan.batch * (job.views + 1)
        let full = BlockingQueue<Result<Chunk, Error>?>(capacity: 1)
        let free = BlockingQueue<Chunk>(capacity: 2)
        for _ in 0..<2 { free.put(Chunk(capacity: slotCapacity * extractor.inputCount)) }
        // Set when this function leaves by an error: the reader stops at its next chunk (see the defer below).
        let stop = StopFlag()
        let items = plan.items, batch = plan.batch
        let reader = Thread {
            var seen = Set<ContentKey>()  // keys whose view 0 was sent to the network in this run
            var viewsSeen = Set<ContentKey>()  // keys whose augmented views were sent to the network in this run
            for c in 0..<plan.chunkCount {
                if stop.isSet { break }
                let chunk = free.take()
                if stop.isSet { break }
                chunk.items = Array(items[(c * batch)..<min(items.count, (c + 1) * batch)])
                let t0 = now()
                do {
                    chunk.prepared = try prepare(chunk, extractor: extractor, cache: cache, trusted: plan.trusted,
                                                 threads: max(1, job.decodeThreads), views: job.views, recipe: recipe,
                                                 seen: &seen, viewsSeen: &viewsSeen)
                } catch {
                    full.put(.failure(error))
                    return
                }
                chunk.decodeSeconds = now() - t0
                full.put(.success(chunk))
            }
            full.put(nil)
        }
        reader.stackSize = 4 << 20
        reader.start()
        var readerFinished = false
        defer {
            if !readerFinished {
                stop.set()
                drain: while true {
                    switch full.take() {
                    case .success(let chunk)?: free.put(chunk)
                    case .failure?, nil: break drain
                    }
                }
            }
        }
        while let next = full.take() {
            let chunk: Chunk
            do { chunk = try next.get() } catch { readerFinished = true; throw error }
            try body(chunk)
            free.put(chunk)
        }
        readerFinished = true
    }

    /// What the network stage carries from chunk to chunk.
    private struct CommitState {
        var existing: [String: IndexEntry]
        var existingErrors: [String: ErrorEntry]
        var trusted: [String: Trusted]
        /// Content already indexed in train: a validation file with the same bytes stays out of the index (so
        /// the splits stay disjoint) and its reason is written only when it changes, so reruns do not churn.
        var trainKeys = [ContentKey: String]()
        /// Entries kept out by an earlier run's label conflict, decided again after the last chunk.
        var heldBack: [IndexEntry] = []
        var output: [Float]
        var progress = ExtractionProgress()

        init(plan: Plan, slotCapacity: Int, featureCount: Int) {
            existing = plan.existing
            existingErrors = plan.existingErrors
            trusted = plan.trusted
            for e in existing.values.sorted(by: { $0.path < $1.path }) where e.split == .train { trainKeys[e.key] = trainKeys[e.key] ?? e.path }
            output = [Float](repeating: 0, count: slotCapacity * featureCount)
        }
    }

    /// The network stage for one chunk: its new views through the network, then its records, index entries and
    /// errors in one transaction.
    private static func commit(
        _ chunk: Chunk, extractor: FeatureExtractor, cache: FeatureCache, state: inout CommitState, summary: inout ExtractionSummary
    ) throws {
        summary.decodeSeconds += chunk.decodeSeconds
        let slots = chunk.prepared.reduce(0) { n, p in if case let .image(_, work, _, _, _) = p { return n + work.count } else { return n } }
        if slots > 0 {
            let t0 = now()
            state.output.withUnsafeMutableBufferPointer { out in
                extractor.run(UnsafePointer(chunk.input.baseAddress!), count: slots, into: out.baseAddress!)
            }
            summary.networkSeconds += now() - t0
        }
        var writes = Batch()
        for (item, prepared) in zip(chunk.items, chunk.prepared) {
            record(item, prepared, chunk: chunk, featureCount: extractor.featureCount, state: &state, summary: &summary, writes: &writes)
        }
        let t0 = now()
        try cache.commit(batch: writes)
        summary.writeSeconds += now() - t0
        state.progress.done += chunk.items.count
    }

    /// One file's outcome into `writes`: its records and index entry, or its error; counted in the summary and
    /// the progress.
    private static func record(
        _ item: DatasetItem, _ prepared: Prepared, chunk: Chunk, featureCount n: Int,
        state: inout CommitState, summary: inout ExtractionSummary, writes: inout Batch
    ) {
        let key: ContentKey
        // When the outcome below was found: by this run's read, or by the read a trusted file's entry records.
        let hashedAt: Int64
        switch state.trusted[item.relativePath] {
        case let .content(_, at)?: hashedAt = at
        case let .failed(e)?: hashedAt = e.hashedAtNanoseconds ?? chunk.readStamp
        case nil: hashedAt = chunk.readStamp
        }
        if state.trusted[item.relativePath] != nil {
            summary.unchangedByStat += 1; state.progress.unchangedByStat += 1
        } else {
            summary.hashed += 1; state.progress.read += 1
        }
        switch prepared {
        case let .failed(reason, k):
            var e = ErrorEntry(path: item.relativePath, reason: reason)
            if let k { e.key = k; e.stat = FileStat(item); e.hashedAtNanoseconds = hashedAt }
            if !e.isSameOutcome(state.existingErrors[item.relativePath]) { writes.errors.append(e) }
            summary.failed.append((item.relativePath, reason))
            state.progress.failed += 1
            return
        case let .image(k, work, reusedViews, warnings, first):
            key = k
            for w in work {
                writes.records.append(PendingRecord(key: k, view: w.view, values: Array(state.output[(w.slot * n)..<((w.slot + 1) * n)])))
            }
            if work.contains(where: { $0.view == 0 }) {
                summary.extracted += 1; state.progress.extracted += 1
                if warnings > 0 { summary.warnings.append((item.relativePath, warnings, first ?? "")) }
            } else {
                summary.reused += 1; state.progress.reused += 1
            }
            let made = work.filter { $0.view > 0 }.count
            summary.viewsExtracted += made; state.progress.viewsExtracted += made
            summary.viewsReused += reusedViews; state.progress.viewsReused += reusedViews
        }
        let entry = IndexEntry(path: item.relativePath, key: key, label: Int32(item.label),
                               split: item.split == .train ? .train : .validation, stat: FileStat(item),
                               hashedAtNanoseconds: hashedAt)
        // Kept out by an earlier run's label conflict of this very content: the pass after the last chunk
        // decides again, with every file's key known, so reruns do not churn.
        if let r = state.existingErrors[item.relativePath]?.reason, r == heldBackReason(r, key: key) {
            state.heldBack.append(entry)
            return
        }
        if item.split == .train {
            state.trainKeys[key] = state.trainKeys[key] ?? item.relativePath
        } else if let t = state.trainKeys[key] {
            summary.splitCollisions.append((item.relativePath, t))
            let keptOut = ErrorEntry(keptOut: entry, reason: collisionReason(train: t))
            if !keptOut.isSameOutcome(state.existingErrors[item.relativePath]) { writes.errors.append(keptOut) }
            return
        }
        if state.existing[item.relativePath] != entry { writes.entries.append(entry) }
    }

    /// The rules over every indexed file: content in both splits whose validation copy was indexed before its
    /// train twin (flat layouts, where the two interleave) stays in train only; label conflicts stay out.
    private static func applyIndexRules(
        to cache: FeatureCache, heldBack: [IndexEntry], classNames: [String], allowLabelConflicts: Bool,
        existingErrors: [String: ErrorEntry], summary: inout ExtractionSummary
    ) throws {
        let entries = try cache.indexEntries(skippingDamaged: true)
        let rules = applyIndexRules(entries, heldBack: heldBack, classNames: classNames, allowLabelConflicts: allowLabelConflicts)
        summary.splitCollisions += rules.splitCollisions
        summary.labelConflicts = rules.labelConflicts
        // An indexed file to keep out moves to the errors table; one kept out already is rewritten only if its
        // outcome changed, so reruns do not churn.
        let indexed = Set(entries.map(\.path))
        let moves = Batch(entries: rules.readmitted,
                          errors: rules.keptOut.filter { indexed.contains($0.path) || !$0.isSameOutcome(existingErrors[$0.path]) })
        if !moves.errors.isEmpty || !moves.entries.isEmpty { try cache.commit(batch: moves) }
    }

    /// The reading stage for one chunk: read and hash every file, decide which views need the network (view 0
    /// of new content; views 1…`views` of training images), decode each such file once and write its views into
    /// consecutive slots. Runs on `threads` threads.
    private static func prepare(
        _ chunk: Chunk, extractor: FeatureExtractor, cache: FeatureCache, trusted: [String: Trusted],
        threads: Int, views: Int, recipe: AugmentRecipe?, seen: inout Set<ContentKey>, viewsSeen: inout Set<ContentKey>
    ) throws -> [Prepared] {
        let items = chunk.items
        let (bytes, keys, read) = readAndHash(items, trusted: trusted, threads: threads, chunk: chunk)
        var result = read
        let (wanted, toDecode) = try decideWork(items, keys: keys, trusted: trusted, cache: cache, views: views,
                                                result: &result, seen: &seen, viewsSeen: &viewsSeen)
        let lock = NSLock()
        // Decode (and load_img resize) each file once.
        var decoded = [DecodedImage?](repeating: nil, count: items.count)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, toDecode.count))) { t in
            var j = t
            while j < toDecode.count {
                let i = toDecode[j]
                do {
                    let d = try ViewInput.load(bytes[i]!, name: items[i].relativePath, extractor: extractor)
                    lock.lock(); decoded[i] = d; lock.unlock()
                } catch {
                    lock.lock(); result[i] = .failed(reason(error, item: items[i]), key: keys[i]); lock.unlock()
                }
                j += threads
            }
        }
        // Consecutive slots for the decoded files' views, in item order; then write them.
        var jobs: [(item: Int, view: UInt16, slot: Int)] = []
        for i in toDecode {
            guard let d = decoded[i], case let .image(key, _, reused, _, _) = result[i] else { continue }
            var work: [ViewSlot] = []
            for v in wanted[i]! {
                work.append(ViewSlot(view: v, slot: jobs.count))
                jobs.append((i, v, jobs.count))
            }
            result[i] = .image(key, work: work, reusedViews: reused, warnings: d.warningCount, firstWarning: d.firstWarning)
        }
        let mode = extractor.settings.preprocess
        let n = extractor.inputCount
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, jobs.count))) { t in
            let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: 2 * n)
            defer { scratch.deallocate() }
            var j = t
            while j < jobs.count {
                let (i, v, slot) = jobs[j]
                ViewInput.write(decoded[i]!.image, key: keys[i]!, view: v, recipe: recipe, mode: mode,
                                into: chunk.input, slot: slot, scratch: scratch)
                j += threads
            }
        }
        try shareFailures(&result, keys: keys, cache: cache, seen: &seen, viewsSeen: &viewsSeen)
        return result
    }

    /// Reads and hashes every file not trusted by its stat data, on `threads` threads; a trusted file's key (or
    /// failure) is the one its last read found. Stamps the chunk with the time just before the reads.
    private static func readAndHash(
        _ items: [DatasetItem], trusted: [String: Trusted], threads: Int, chunk: Chunk
    ) -> (bytes: [[UInt8]?], keys: [ContentKey?], result: [Prepared]) {
        var bytes = [[UInt8]?](repeating: nil, count: items.count)
        var result = [Prepared](repeating: .failed("not read", key: nil), count: items.count)
        var keys = [ContentKey?](repeating: nil, count: items.count)
        let trust = items.map { trusted[$0.relativePath] }
        for (i, t) in trust.enumerated() {
            switch t {
            case let .content(k, _)?: keys[i] = k
            case let .failed(e)?: result[i] = .failed(e.reason, key: e.key)
            case nil: break
            }
        }
        chunk.readStamp = wallClockNanoseconds()
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: max(1, threads)) { t in
            var i = t
            while i < items.count {
                if trust[i] != nil { i += threads; continue }
                do {
                    let b = try ImageDecoder.readFile(fileSystemPath: items[i].fileSystemPath, name: items[i].relativePath)
                    let k = b.withUnsafeBytes { ContentKey(bytes: SHA256Hasher.digest($0))! }
                    lock.lock(); bytes[i] = b; keys[i] = k; lock.unlock()
                } catch {
                    lock.lock(); result[i] = .failed(reason(error, item: items[i]), key: nil); lock.unlock()
                }
                i += threads
            }
        }
        return (bytes, keys, result)
    }

    /// Decides, sequentially so identical files in one chunk are extracted once, which views of each keyed file
    /// the network must compute (view 0 of content not cached; views 1…`views` of training images); files with
    /// work are listed in `toDecode`, every keyed file's `result` becomes an image (work filled in later).
    private static func decideWork(
        _ items: [DatasetItem], keys: [ContentKey?], trusted: [String: Trusted], cache: FeatureCache, views: Int,
        result: inout [Prepared], seen: inout Set<ContentKey>, viewsSeen: inout Set<ContentKey>
    ) throws -> (wanted: [Int: [UInt16]], toDecode: [Int]) {
        var wanted = [Int: [UInt16]]()  // item → the views the network must compute
        var toDecode: [Int] = []
        for i in items.indices {
            guard let key = keys[i] else { continue }
            if trusted[items[i].relativePath] != nil {  // `trustedByStat` found everything it needs cached
                result[i] = .image(key, work: [], reusedViews: views > 0 && items[i].split == .train ? views : 0,
                                   warnings: 0, firstWarning: nil)
                continue
            }
            var need: [UInt16] = []
            if !seen.contains(key), !(try cache.hasSoundRecord(key: key)) {
                seen.insert(key)
                need.append(0)
            }
            var reused = 0
            if views > 0, items[i].split == .train, !viewsSeen.contains(key) {
                viewsSeen.insert(key)
                for v in 1...views {
                    if try cache.hasSoundRecord(key: key, view: UInt16(v)) { reused += 1 } else { need.append(UInt16(v)) }
                }
            } else if views > 0, items[i].split == .train {
                reused = views  // an identical file earlier in this run has them (or is making them)
            }
            result[i] = .image(key, work: [], reusedViews: reused, warnings: 0, firstWarning: nil)
            if !need.isEmpty { wanted[i] = need; toDecode.append(i) }
        }
        return (wanted, toDecode)
    }

    /// Identical bytes fail identically: a file with no work because an identical one in this chunk was to be
    /// decoded shares that one's failure, and the key is forgotten so no index entry points to no record.
    private static func shareFailures(
        _ result: inout [Prepared], keys: [ContentKey?], cache: FeatureCache,
        seen: inout Set<ContentKey>, viewsSeen: inout Set<ContentKey>
    ) throws {
        var failedKeys = [ContentKey: String]()
        for i in result.indices {
            if case let .failed(r, _) = result[i], let k = keys[i] { failedKeys[k] = r; seen.remove(k); viewsSeen.remove(k) }
        }
        for i in result.indices {
            if case let .image(k, work, _, _, _) = result[i], work.isEmpty, let r = failedKeys[k], !(try cache.hasSoundRecord(key: k)) {
                result[i] = .failed(r, key: k)
            }
        }
    }

    /// What the index rules decided (`applyIndexRules`).
    struct IndexRules {
        /// Files to keep out of the index, each with its reason and the entry it would have.
        var keptOut: [ErrorEntry] = []
        /// Files kept out by an earlier run whose reason is gone: to index again.
        var readmitted: [IndexEntry] = []
        var splitCollisions: [(validation: String, train: String)] = []
        var labelConflicts: [LabelConflict] = []
    }

    /// The rules one extraction applies over every file it indexes, also applied by `cache merge` over every
    /// file of its shards: a validation file whose content is in train (the train file first in path order is
    /// named) is kept in train only, so the splits stay disjoint; then, unless `allowLabelConflicts`, files of
    /// one content in one split under different classes are all kept out (`labelConflicts`). `heldBack` are
    /// files an earlier run kept out for a label conflict, decided again here.
    static func applyIndexRules(_ entries: [IndexEntry], heldBack: [IndexEntry] = [], classNames: [String],
                                allowLabelConflicts: Bool) -> IndexRules {
        var out = IndexRules()
        let sorted = entries.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        var trainPath = [ContentKey: String]()
        for e in sorted where e.split == .train { trainPath[e.key] = trainPath[e.key] ?? e.path }
        for e in sorted where e.split == .validation {
            if let t = trainPath[e.key] {
                out.splitCollisions.append((e.path, t))
                out.keptOut.append(ErrorEntry(keptOut: e, reason: collisionReason(train: t)))
            }
        }
        guard !allowLabelConflicts else { out.readmitted = heldBack; return out }
        let moved = Set(out.keptOut.map(\.path))
        let (conflicts, keptOut, readmitted) = labelConflicts(sorted.filter { !moved.contains($0.path) }, heldBack: heldBack,
                                                              classNames: classNames)
        out.labelConflicts = conflicts
        out.keptOut += keptOut
        out.readmitted = readmitted
        return out
    }

    /// Files of one content in one split under different classes: Keras would train on each with its own label,
    /// teaching the head both answers for the same features. All of them are kept out (errors table, with the
    /// reason naming the content and the others), and files kept out by an earlier run whose conflict is gone
    /// (`heldBack`) are indexed again. Returns the conflicts, the files to keep out and those to index again.
    static func labelConflicts(_ entries: [IndexEntry], heldBack: [IndexEntry], classNames: [String])
        -> ([LabelConflict], keptOut: [ErrorEntry], readmitted: [IndexEntry]) {
        var groups: [String: [IndexEntry]] = [:]  // "<key>/<split>" → files
        for e in entries + heldBack { groups["\(e.key)/\(e.split)", default: []].append(e) }
        let held = Set(heldBack.map(\.path))
        var conflicts: [LabelConflict] = []
        var keptOut: [ErrorEntry] = []
        var readmitted: [IndexEntry] = []
        for (_, files) in groups.sorted(by: { $0.key < $1.key }) {
            let sorted = files.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
            guard Set(sorted.map(\.label)).count > 1 else {
                readmitted += sorted.filter { held.contains($0.path) }  // its conflict is gone
                continue
            }
            func name(_ e: IndexEntry) -> String { Int(e.label) < classNames.count ? classNames[Int(e.label)] : "label \(e.label)" }
            conflicts.append(LabelConflict(key: sorted[0].key, files: sorted.map { ($0.path, name($0)) }))
            for e in sorted {
                let others = sorted.filter { $0.path != e.path }.map { "\($0.path) (\(name($0)))" }.joined(separator: ", ")
                let reason = "\(labelConflictPrefix) the same content (\(e.key)) is also \(others); kept out of \(e.split) "
                    + "(extract --allow-label-conflicts keeps every copy with its own label)"
                keptOut.append(ErrorEntry(keptOut: e, reason: reason))
            }
        }
        return (conflicts, keptOut, readmitted)
    }

    static let labelConflictPrefix = "labels conflict:"

    /// `reason` when it is a label conflict of content `key` (kept out by an earlier run), else nil.
    static func heldBackReason(_ reason: String, key: ContentKey) -> String? {
        reason.hasPrefix(labelConflictPrefix) && reason.contains("(\(key))") ? reason : nil
    }

    static func collisionReason(train: String) -> String {
        "same content as train file \(train): kept in train only, so the splits stay disjoint"
    }

    /// An error's reason without the path (the cache's errors table is keyed by path).
    private static func reason(_ error: Error, item: DatasetItem) -> String {
        if let e = error as? ImageError {
            let text = "\(e)"
            for prefix in [e.path + ": ", item.relativePath + ": "] where text.hasPrefix(prefix) {
                return String(text.dropFirst(prefix.count))
            }
            return text
        }
        return "\(error)"
    }
}
