import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What a finished `Downloader.download` did.
public struct DownloadResult: Equatable {
    /// The installed file.
    public var path: String
    /// Its size in bytes.
    public var bytes: Int64
    /// True when the destination was already there with the right checksum and nothing was fetched.
    public var alreadyPresent: Bool
    /// Bytes of an earlier `.part` that the server accepted to continue (206); 0 for a fresh transfer.
    public var resumedFrom: Int64
    /// True when a `.part` existed but the server sent the whole file again (200 to a Range request, or 416),
    /// so the transfer restarted from byte 0.
    public var restarted: Bool

    public init(path: String, bytes: Int64, alreadyPresent: Bool, resumedFrom: Int64, restarted: Bool) {
        self.path = path
        self.bytes = bytes
        self.alreadyPresent = alreadyPresent
        self.resumedFrom = resumedFrom
        self.restarted = restarted
    }
}

/// Tuning for `Downloader`.
public struct DownloadOptions {
    /// Give up when no byte arrives for this long (seconds); also bounds the connection attempt.
    public var idleTimeout: TimeInterval
    /// Give up on the whole transfer after this long (seconds). Generous: the weights are 87 MB.
    public var totalTimeout: TimeInterval

    public init(idleTimeout: TimeInterval = 60, totalTimeout: TimeInterval = 6 * 3600) {
        self.idleTimeout = idleTimeout
        self.totalTimeout = totalTimeout
    }
}

/// Resumable HTTP(S) downloads that stream to `<destination>.part`, verify a checksum and only then rename the
/// file into place (rename(2): atomic on one file system, so the destination is either absent, the old file or
/// the complete verified new one).
///
/// Resumption: when `<destination>.part` exists with N bytes the request carries `Range: bytes=N-`.
///   206 with `Content-Range: bytes N-…/total`  → append;
///   200 (server ignores Range)                → truncate the .part and write from byte 0;
///   416 (N is past the end)                   → delete the .part and ask again without Range.
/// A transfer that ends short of the announced length keeps its .part and throws `FetchError.truncated`.
public struct Downloader {
    public var options: DownloadOptions

    public init(options: DownloadOptions = DownloadOptions()) {
        self.options = options
    }

    /// The partial file a download of `destination` writes to.
    public static func partPath(for destination: String) -> String { destination + ".part" }

    /// Downloads `url` to `destination` (a file path; its folder is created), verifying `checksum` when given.
    /// When `destination` already exists with the right checksum (or exists and `checksum` is nil) nothing is
    /// fetched. `progress(done, total)` is called from a URLSession queue as bytes arrive; `done` counts resumed
    /// bytes too, and `total` is nil when the server sends no length. Blocks until done.
    public func download(from url: URL, to destination: String, checksum: Checksum?,
                         progress: ((Int64, Int64?) -> Void)? = nil) throws -> DownloadResult {
        let fm = FileManager.default
        if fm.fileExists(atPath: destination) {
            let matches = try checksum.map { try $0.digest(ofFileAt: destination) == $0.hex } ?? true
            if matches {
                return DownloadResult(path: destination, bytes: fileSize(destination) ?? 0, alreadyPresent: true,
                                      resumedFrom: 0, restarted: false)
            }
        }
        let folder = (destination as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw FetchError.io(path: folder, reason: "cannot create folder: \(error.localizedDescription)")
            }
        }
        let part = Downloader.partPath(for: destination)
        var offset = fileSize(part) ?? 0
        var outcome: Outcome
        do {
            outcome = try transfer(url: url, part: part, offset: offset, progress: progress)
            if case .rangeNotSatisfiable = outcome.status {
                // The .part is as long as the file or longer (or the file changed): start over, once.
                try? fm.removeItem(atPath: part)
                offset = 0
                outcome = try transfer(url: url, part: part, offset: 0, progress: progress)
                outcome.restarted = true
            }
        } catch {
            // An empty .part (nothing received: no network, 404, …) is not worth keeping.
            if fileSize(part) == 0 { try? fm.removeItem(atPath: part) }
            throw error
        }
        let restarted = outcome.restarted
        if let checksum = checksum {
            let got: String
            do { got = try checksum.digest(ofFileAt: part) } catch {
                throw FetchError.io(path: part, reason: "cannot read back: \(error.localizedDescription)")
            }
            if got != checksum.hex {
                try? fm.removeItem(atPath: part)
                throw FetchError.checksumMismatch(url: url.absoluteString, algorithm: checksum.algorithm,
                                                  expected: checksum.hex, got: got)
            }
        }
        if rename(part, destination) != 0 {
            throw FetchError.io(path: destination, reason: "cannot rename \(part) into place: \(errnoString())")
        }
        return DownloadResult(path: destination, bytes: fileSize(destination) ?? 0, alreadyPresent: false,
                              resumedFrom: restarted ? 0 : offset, restarted: restarted)
    }

    // MARK: - One HTTP request

    fileprivate struct Outcome {
        enum Status { case complete, rangeNotSatisfiable }
        var status: Status
        var restarted: Bool
    }

    private func transfer(url: URL, part: String, offset: Int64,
                          progress: ((Int64, Int64?) -> Void)?) throws -> Outcome {
        if !FileManager.default.fileExists(atPath: part) {
            guard FileManager.default.createFile(atPath: part, contents: nil) else {
                throw FetchError.io(path: part, reason: "cannot create: \(errnoString())")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: part) else {
            throw FetchError.io(path: part, reason: "cannot open for writing: \(errnoString())")
        }
        defer { try? handle.close() }
        do {
            // Whatever lies past `offset` (none, normally) is not trusted.
            try handle.truncate(atOffset: UInt64(offset))
            try handle.seekToEnd()
        } catch {
            throw FetchError.io(path: part, reason: error.localizedDescription)
        }

        var request = URLRequest(url: url)
        request.timeoutInterval = options.idleTimeout
        // Bytes as stored: a transparently decoded body would not match Content-Length or the Range arithmetic.
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }

        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = options.idleTimeout
        config.timeoutIntervalForResource = options.totalTimeout
        config.urlCache = nil
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        let state = TransferState(url: url, handle: handle, part: part, offset: offset, progress: progress)
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: config, delegate: state, delegateQueue: queue)
        let task = session.dataTask(with: request)
        task.resume()
        state.done.wait()
        session.finishTasksAndInvalidate()
        return try state.result()
    }
}

/// The delegate of one request: checks the status, writes the body to the .part as it arrives, and keeps what
/// is needed to explain a failure. All callbacks run on one serial queue and the caller reads the state only after
/// `done` is signalled at completion, hence `@unchecked Sendable`.
private final class TransferState: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let url: URL
    let handle: FileHandle
    let part: String
    let offset: Int64
    let progress: ((Int64, Int64?) -> Void)?
    let done = DispatchSemaphore(value: 0)

    var written: Int64 = 0          // bytes in the .part
    var expectedTotal: Int64?       // full file length when the server says
    var gotResponse = false
    var restarted = false
    var rangeNotSatisfiable = false
    var failure: FetchError?        // our own reason for cancelling
    var transportError: Error?

    init(url: URL, handle: FileHandle, part: String, offset: Int64, progress: ((Int64, Int64?) -> Void)?) {
        self.url = url
        self.handle = handle
        self.part = part
        self.offset = offset
        self.progress = progress
        self.written = offset
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        gotResponse = true
        guard let http = response as? HTTPURLResponse else {
            failure = .io(path: url.absoluteString, reason: "not an HTTP response")
            completionHandler(.cancel)
            return
        }
        let where_ = http.url?.absoluteString ?? url.absoluteString
        let length: Int64? = http.expectedContentLength >= 0 ? http.expectedContentLength : nil
        switch http.statusCode {
        case 200:
            if offset > 0 {
                // The server ignored Range and sends the whole file: start the .part again.
                do { try handle.truncate(atOffset: 0) } catch {
                    failure = .io(path: part, reason: error.localizedDescription)
                    completionHandler(.cancel)
                    return
                }
                written = 0
                restarted = true
            }
            expectedTotal = length
        case 206:
            // Content-Range: bytes FIRST-LAST/TOTAL (TOTAL may be *).
            let contentRange = http.value(forHTTPHeaderField: "Content-Range") ?? ""
            guard let parsed = TransferState.parseContentRange(contentRange), parsed.first == offset else {
                failure = .badContentRange(url: where_, requestedFrom: offset, contentRange: contentRange)
                completionHandler(.cancel)
                return
            }
            expectedTotal = parsed.total ?? length.map { offset + $0 }
        case 416 where offset > 0:
            rangeNotSatisfiable = true
            completionHandler(.cancel)
            return
        default:
            failure = .httpStatus(url: where_, status: http.statusCode)
            completionHandler(.cancel)
            return
        }
        progress?(written, expectedTotal)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard failure == nil else { return }
        do {
            try handle.write(contentsOf: data)
        } catch {
            failure = .io(path: part, reason: "write failed: \(error.localizedDescription)")
            dataTask.cancel()
            return
        }
        written += Int64(data.count)
        progress?(written, expectedTotal)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        transportError = error
        try? handle.synchronize()
        done.signal()
    }

    /// `bytes FIRST-LAST/TOTAL` → (FIRST, TOTAL or nil for `*`).
    static func parseContentRange(_ s: String) -> (first: Int64, total: Int64?)? {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard t.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = t.dropFirst(6)
        let halves = spec.split(separator: "/", maxSplits: 1)
        guard halves.count == 2 else { return nil }
        let range = halves[0].split(separator: "-", maxSplits: 1)
        guard range.count == 2, let first = Int64(range[0]) else { return nil }
        return (first, halves[1] == "*" ? nil : Int64(halves[1]))
    }

    func result() throws -> (Downloader.Outcome) {
        if rangeNotSatisfiable { return .init(status: .rangeNotSatisfiable, restarted: true) }
        if let failure = failure { throw failure }
        let host = url.host ?? url.absoluteString
        if let error = transportError {
            let code = (error as? URLError)?.code
            if !gotResponse {
                throw FetchError.noNetwork(host: host, reason: TransferState.reason(code, error))
            }
            throw FetchError.truncated(url: url.absoluteString, received: written, expected: expectedTotal,
                                       partPath: part, reason: TransferState.reason(code, error))
        }
        if let total = expectedTotal, written < total {
            throw FetchError.truncated(url: url.absoluteString, received: written, expected: total,
                                       partPath: part, reason: "connection closed early")
        }
        return .init(status: .complete, restarted: restarted)
    }

    static func reason(_ code: URLError.Code?, _ error: Error) -> String {
        switch code {
        case .cannotConnectToHost?: return "connection refused"
        case .cannotFindHost?, .dnsLookupFailed?: return "host name not found (DNS)"
        case .notConnectedToInternet?: return "not connected to the internet"
        case .timedOut?: return "timed out"
        case .networkConnectionLost?: return "connection lost"
        case .secureConnectionFailed?, .serverCertificateUntrusted?, .serverCertificateHasBadDate?,
             .serverCertificateNotYetValid?, .serverCertificateHasUnknownRoot?:
            return "TLS failed: \(error.localizedDescription)"
        default: return error.localizedDescription
        }
    }
}

func fileSize(_ path: String) -> Int64? {
    guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
          let size = attrs[.size] as? NSNumber else { return nil }
    return size.int64Value
}

func errnoString() -> String { String(cString: strerror(errno)) }
