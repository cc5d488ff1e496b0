import CLMDB
import Foundation

/// A thin LMDB environment: named databases, short read transactions, and write transactions that grow the map
/// when it fills.
///
/// Concurrency: LMDB lets readers run beside the one writer. `mdb_env_set_mapsize` however may only be called
/// while this process has no transaction open, so every transaction holds `resizeLock` shared and a resize holds
/// it exclusively. Read transactions are short-lived (one per call) and the environment is opened with
/// MDB_NOTLS, so any thread may read.
final class LMDBEnvironment {
    let path: String
    private(set) var env: OpaquePointer
    private var dbis: [String: MDB_dbi] = [:]
    private let writer = NSLock()
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t>
    /// Number of times the map was doubled (for tests and reports).
    private(set) var growCount = 0
    /// Opened with MDB_RDONLY: every write refuses.
    let readOnly: Bool
    /// Opened with MDB_NOLOCK as well, because lock.mdb could not be opened for writing (a read-only directory
    /// or file system): no reader table, so a writer in another process could reuse pages this one is reading.
    /// Fine for an archived or shared cache nobody writes; said in `docs/cache-format.md`.
    private(set) var lockless = false
    /// data.mdb existed (even empty) before this process opened it.
    let existed: Bool

    static let databaseNames = ["meta", "records", "index", "errors"]

    /// Opens the environment without touching its databases (`openDatabases` does, inside a transaction).
    ///
    /// Before any page is read, the size of data.mdb is compared with what its meta page says the data spans:
    /// a truncated file (a half-finished copy) would otherwise end the process with SIGBUS on the first read of a
    /// page past its end. Read-only, a directory or lock file that cannot be written falls back to MDB_NOLOCK.
    init(path: String, initialMapSize: Int, readOnly: Bool) throws {
        self.path = path
        self.readOnly = readOnly
        let dataPath = (path as NSString).appendingPathComponent("data.mdb")
        var st = stat()
        existed = stat(dataPath, &st) == 0
        resizeLock = .allocate(capacity: 1)
        pthread_rwlock_init(resizeLock, nil)
        var lockless = false
        var opened = try LMDBEnvironment.open(path, mapSize: initialMapSize, flags: readOnly ? Int32(MDB_RDONLY) : 0)
        if case .failure(let rc) = opened, readOnly, rc == EACCES || rc == EROFS || rc == EPERM {
            lockless = true
            opened = try LMDBEnvironment.open(path, mapSize: initialMapSize, flags: Int32(MDB_RDONLY) | Int32(MDB_NOLOCK))
        }
        switch opened {
        case .success(let e): env = e
        case .failure(let rc):
            pthread_rwlock_destroy(resizeLock)
            resizeLock.deallocate()
            if rc == MDB_INVALID {
                throw StoreError.notACache(cache: path, reason: "data.mdb (\(st.st_size) bytes) is not an LMDB file, or ends before its two meta pages do")
            }
            throw StoreError.lmdb(cache: path, operation: "mdb_env_open", code: rc, message: String(cString: mdb_strerror(rc)))
        }
        self.lockless = lockless
        // On a throw from here every stored property is initialised, so deinit closes the environment.
        // The map of an existing file may be larger than asked; adopt the file's size (0 = current).
        try check(mdb_env_set_mapsize(env, 0), "mdb_env_set_mapsize")
        try checkNotTruncated()
    }

    private enum Opened { case success(OpaquePointer), failure(Int32) }

    /// A created and opened environment, or the code mdb_env_open failed with (the handle is then closed, as
    /// LMDB asks).
    private static func open(_ path: String, mapSize: Int, flags: Int32) throws -> Opened {
        var e: OpaquePointer?
        try LMDBEnvironment.check(mdb_env_create(&e), path, "mdb_env_create")
        var rc = mdb_env_set_maxdbs(e, MDB_dbi(LMDBEnvironment.databaseNames.count + 4))
        if rc == 0 { rc = mdb_env_set_mapsize(e, mapSize) }
        // Default sync settings: a commit returns after fsync, so a crash keeps every committed transaction.
        if rc == 0 { rc = mdb_env_open(e, path, UInt32(Int32(MDB_NOTLS) | flags), 0o644) }
        if rc != 0 { mdb_env_close(e); return .failure(rc) }
        return .success(e!)
    }

    /// data.mdb must hold every page up to the last one its newest meta page names: (last page + 1) × page size.
    private func checkNotTruncated() throws {
        var info = MDB_envinfo(), st = MDB_stat()
        try check(mdb_env_info(env, &info), "mdb_env_info")
        try check(mdb_env_stat(env, &st), "mdb_env_stat")
        var fd: Int32 = -1
        try check(mdb_env_get_fd(env, &fd), "mdb_env_get_fd")
        var file = stat()
        guard fstat(fd, &file) == 0 else {
            throw StoreError.notACache(cache: path, reason: "cannot stat data.mdb: \(String(cString: strerror(errno)))")
        }
        let (needed, overflow) = (Int(info.me_last_pgno) + 1).multipliedReportingOverflow(by: Int(st.ms_psize))
        if overflow || Int(file.st_size) < needed {
            throw StoreError.truncated(cache: path, bytes: Int(file.st_size), needed: overflow ? Int.max : needed)
        }
    }

    /// Opens (and, writing, creates) the four named databases inside `txn`. Handles opened in a transaction
    /// belong to the environment once it commits; `write` and `readCommitted` commit.
    /// Returns the names that do not exist (never any when `create`).
    func openDatabases(_ txn: OpaquePointer, create: Bool) throws -> [String] {
        var missing: [String] = []
        for name in LMDBEnvironment.databaseNames {
            var dbi = MDB_dbi()
            let rc = mdb_dbi_open(txn, name, create ? UInt32(MDB_CREATE) : 0, &dbi)
            if rc == MDB_NOTFOUND { missing.append(name); continue }
            try check(rc, "mdb_dbi_open \(name)")
            dbis[name] = dbi
        }
        return missing
    }

    deinit {
        mdb_env_close(env)
        pthread_rwlock_destroy(resizeLock)
        resizeLock.deallocate()
    }

    func dbi(_ name: String) -> MDB_dbi { dbis[name]! }

    /// The longest key LMDB accepts (511 bytes in the default build of liblmdb).
    var maxKeySize: Int { Int(mdb_env_get_maxkeysize(env)) }

    var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        return info.me_mapsize
    }

    /// Thrown by `put` inside a write body when the map is full; `write` catches it, grows and retries.
    struct MapFull: Error {}

    static func check(_ rc: Int32, _ path: String, _ op: String) throws {
        if rc != 0 { throw StoreError.lmdb(cache: path, operation: op, code: rc, message: String(cString: mdb_strerror(rc))) }
    }

    func check(_ rc: Int32, _ op: String) throws {
        if rc == MDB_MAP_FULL { throw MapFull() }
        try LMDBEnvironment.check(rc, path, op)
    }

    private func setMapSize(_ size: Int) throws {
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        try LMDBEnvironment.check(mdb_env_set_mapsize(env, size), path, "mdb_env_set_mapsize")
    }

    private func begin(flags: Int32) throws -> OpaquePointer {
        while true {
            pthread_rwlock_rdlock(resizeLock)
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, UInt32(flags), &txn)
            if rc == 0 { return txn! }
            pthread_rwlock_unlock(resizeLock)
            // Another process grew the map: adopt its size and try again.
            if rc == MDB_MAP_RESIZED { try setMapSize(0); continue }
            try LMDBEnvironment.check(rc, path, "mdb_txn_begin")
        }
    }

    /// Runs `body` in a read-only transaction; data pointers it sees are valid only inside it.
    func read<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        let txn = try begin(flags: MDB_RDONLY)
        defer {
            mdb_txn_abort(txn)
            pthread_rwlock_unlock(resizeLock)
        }
        return try body(txn)
    }

    /// Runs `body` in a read-only transaction that is committed rather than aborted, so database handles opened
    /// in it stay open for the environment (LMDB closes those of an aborted transaction).
    func readCommitted<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        let txn = try begin(flags: MDB_RDONLY)
        let result: T
        do { result = try body(txn) } catch {
            mdb_txn_abort(txn)
            pthread_rwlock_unlock(resizeLock)
            throw error
        }
        let rc = mdb_txn_commit(txn)
        pthread_rwlock_unlock(resizeLock)
        try check(rc, "mdb_txn_commit")
        return result
    }

    /// Runs `body` in a write transaction and commits it. If the map fills (in a put or at commit), the
    /// transaction is aborted, the map doubled and `body` run again from the start, so `body` must only
    /// depend on its inputs and what it reads through `txn`.
    func write<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        guard !readOnly else { throw StoreError.readOnly(cache: path) }
        writer.lock()
        defer { writer.unlock() }
        while true {
            let txn = try begin(flags: 0)
            let result: T
            do {
                result = try body(txn)
            } catch is MapFull {
                mdb_txn_abort(txn)
                pthread_rwlock_unlock(resizeLock)
                try grow()
                continue
            } catch {
                mdb_txn_abort(txn)
                pthread_rwlock_unlock(resizeLock)
                throw error
            }
            let rc = mdb_txn_commit(txn)  // frees txn whatever the outcome
            pthread_rwlock_unlock(resizeLock)
            if rc == MDB_MAP_FULL { try grow(); continue }
            try LMDBEnvironment.check(rc, path, "mdb_txn_commit")
            return result
        }
    }

    private func grow() throws {
        let next = mapSize * 2
        try setMapSize(next)
        growCount += 1
    }

    // MARK: operations inside a transaction

    /// Calls `body` with the value's bytes (valid only inside the transaction), or nil when absent.
    func get<T>(_ txn: OpaquePointer, _ db: String, _ key: [UInt8], _ body: (UnsafeRawBufferPointer?) throws -> T) throws -> T {
        var v = MDB_val()
        let rc = key.withUnsafeBytes { k -> Int32 in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            return mdb_get(txn, dbi(db), &kv, &v)
        }
        if rc == MDB_NOTFOUND { return try body(nil) }
        try check(rc, "mdb_get \(db)")
        return try body(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// Puts a value; returns false if `noOverwrite` and the key already exists.
    @discardableResult
    func put(_ txn: OpaquePointer, _ db: String, _ key: [UInt8], _ value: UnsafeRawBufferPointer, noOverwrite: Bool = false) throws -> Bool {
        let rc = key.withUnsafeBytes { k -> Int32 in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            var vv = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            return mdb_put(txn, dbi(db), &kv, &vv, noOverwrite ? UInt32(MDB_NOOVERWRITE) : 0)
        }
        if rc == MDB_KEYEXIST { return false }
        try check(rc, "mdb_put \(db)")
        return true
    }

    @discardableResult
    func put(_ txn: OpaquePointer, _ db: String, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool = false) throws -> Bool {
        try value.withUnsafeBytes { try put(txn, db, key, $0, noOverwrite: noOverwrite) }
    }

    /// Deletes a key; absent keys are fine.
    func delete(_ txn: OpaquePointer, _ db: String, _ key: [UInt8]) throws {
        let rc = key.withUnsafeBytes { k -> Int32 in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            return mdb_del(txn, dbi(db), &kv, nil)
        }
        if rc == MDB_NOTFOUND { return }
        try check(rc, "mdb_del \(db)")
    }

    /// Visits every (key, value) in key order (bytewise); return false from `body` to stop.
    func forEach(_ txn: OpaquePointer, _ db: String, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, dbi(db), &cursor), "mdb_cursor_open \(db)")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        var op = MDB_FIRST
        while true {
            let rc = mdb_cursor_get(cursor, &k, &v, op)
            if rc == MDB_NOTFOUND { return }
            try check(rc, "mdb_cursor_get \(db)")
            let go = try body(UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                              UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
            if !go { return }
            op = MDB_NEXT
        }
    }

    func entryCount(_ txn: OpaquePointer, _ db: String) throws -> Int {
        var st = MDB_stat()
        try check(mdb_stat(txn, dbi(db), &st), "mdb_stat \(db)")
        return st.ms_entries
    }
}
