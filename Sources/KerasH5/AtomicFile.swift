import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files that appear whole or not at all, and that leave nothing behind when the process is killed while writing.
///
/// The content is written into an unnamed file in the target's folder (Linux O_TMPFILE), then given a temporary
/// name (a link through /proc/self/fd) and renamed over the target. A kill
/// before the link leaves nothing at all — the kernel frees the unnamed file — and the microseconds between
/// link and rename leave `<name>.partial-<pid>`, which the next write of the same target removes once that
/// process is gone. Where O_TMPFILE is not available the content goes to `<name>.partial-<pid>` directly, cleaned
/// up the same way. Used for weights and head files (`KerasWeightsFile.write`) and the pipeline's reports.
public enum AtomicFile {
    public struct Failure: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    /// Puts `data` at `path` in one rename.
    public static func write(_ data: Data, to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let temporary = partialName(path, pid: getpid())
        removeStalePartials(of: path)
        #if os(Linux) && (arch(x86_64) || arch(arm64))
        let tmpfile: Int32 = 0o20200000  // O_TMPFILE (__O_TMPFILE | O_DIRECTORY) on these architectures
        let fd = open(folder, tmpfile | O_RDWR | O_CLOEXEC, 0o644)
        if fd >= 0 {
            defer { close(fd) }
            try writeAll(data, to: fd, path)
            unlink(temporary)
            if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, temporary, AT_SYMLINK_FOLLOW) == 0 {
                try moveIntoPlace(temporary, path)
                return
            }
            // Some kernels refuse the /proc link to an unprivileged process: write under a name instead.
        }
        #endif
        let named = open(temporary, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644)
        guard named >= 0 else { throw Failure(path: path, reason: "cannot create the file (\(String(cString: strerror(errno))))") }
        do {
            defer { close(named) }
            try writeAll(data, to: named, path)
        } catch {
            unlink(temporary)
            throw error
        }
        try moveIntoPlace(temporary, path)
    }

    /// Writes every byte and syncs, so the rename publishes a complete file even across a crash.
    private static func writeAll(_ data: Data, to fd: Int32, _ path: String) throws {
        try data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure(path: path, reason: "cannot write the file (\(String(cString: strerror(errno))))")
                }
                done += n
            }
        }
        guard fsync(fd) == 0 else { throw Failure(path: path, reason: "cannot write the file (\(String(cString: strerror(errno))))") }
    }

    static func partialName(_ path: String, pid: pid_t) -> String { "\(path).partial-\(pid)" }

    private static func moveIntoPlace(_ temporary: String, _ path: String) throws {
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(path: path, reason: "cannot move the finished file into place: \(reason)")
        }
    }

    /// Removes `<path>.partial-<pid>` files whose process no longer exists (left by a kill -9).
    public static func removeStalePartials(of path: String) {
        let folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let prefix = (path as NSString).lastPathComponent + ".partial-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) == -1 && errno == ESRCH { unlink((folder as NSString).appendingPathComponent(name)) }
        }
    }
}
