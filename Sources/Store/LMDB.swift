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

    static let databaseNames = ["meta", "records", "index", "errors"]

    init(path: String, initialMapSize: Int) throws {
        self.path = path
        resizeLock = .allocate(capacity: 1)
        pthread_rwlock_init(resizeLock, nil)
        var e: OpaquePointer?
        try LMDBEnvironment.check(mdb_env_create(&e), path, "mdb_env_create")
        env = e!
        do {
            try check(mdb_env_set_maxdbs(env, MDB_dbi(LMDBEnvironment.databaseNames.count + 4)), "mdb_env_set_maxdbs")
            try check(mdb_env_set_mapsize(env, initialMapSize), "mdb_env_set_mapsize")
            // Default sync settings: a commit returns after fsync, so a crash keeps every committed transaction.
            try check(mdb_env_open(env, path, UInt32(MDB_NOTLS), 0o644), "mdb_env_open")
            // The map of an existing file may be larger than asked; adopt the file's size (0 = current).
            try check(mdb_env_set_mapsize(env, 0), "mdb_env_set_mapsize")
            try write { txn in
                for name in LMDBEnvironment.databaseNames {
                    var dbi = MDB_dbi()
                    try self.check(mdb_dbi_open(txn, name, UInt32(MDB_CREATE), &dbi), "mdb_dbi_open \(name)")
                    self.dbis[name] = dbi
                }
            }
        }
        // On a throw every stored property is initialised, so deinit closes the environment.
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

    /// Runs `body` in a write transaction and commits it. If the map fills (in a put or at commit), the
    /// transaction is aborted, the map doubled and `body` run again from the start, so `body` must only
    /// depend on its inputs and what it reads through `txn`.
    func write<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
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
