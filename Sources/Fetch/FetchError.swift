import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Everything that can go wrong fetching a file or unpacking a dataset. Each message names the URL or file,
/// what was expected and what was found.
public enum FetchError: Error, CustomStringConvertible, Equatable {
    /// No connection could be made: refused, host unreachable, DNS failure, offline, or a connect timeout.
    case noNetwork(host: String, reason: String)
    /// The server answered with a status other than 200/206 (after redirects).
    case httpStatus(url: String, status: Int)
    /// The transfer stopped before the end. The partial file is kept at `partPath` so that the next attempt
    /// resumes it with a Range request. `expected` is nil when the server sent no length.
    case truncated(url: String, received: Int64, expected: Int64?, partPath: String, reason: String)
    /// The complete download does not have the published digest. The bad file has been removed.
    case checksumMismatch(url: String, algorithm: String, expected: String, got: String)
    /// The server's 206 answer did not start where the partial file ends (Content-Range shown as sent).
    case badContentRange(url: String, requestedFrom: Int64, contentRange: String)
    /// A local file operation failed.
    case io(path: String, reason: String)
    /// A zip entry would land outside the destination (absolute path, `..`, or a symlink). Nothing was extracted.
    case unsafeZipEntry(zip: String, entry: String)
    /// The zip could not be read.
    case unreadableZip(zip: String, reason: String)
    /// The destination folder already holds files and replacing it was not asked for.
    case destinationNotEmpty(path: String)
    /// The unpacked images do not match the manifest. Nothing was installed.
    case datasetMismatch(VerificationReport)

    public var description: String {
        switch self {
        case let .noNetwork(host, reason):
            return "no network: could not reach \(host) (\(reason))"
        case let .httpStatus(url, status):
            let phrase = HTTPURLResponse.localizedString(forStatusCode: status)
            return "HTTP \(status) (\(phrase)) for \(url)"
        case let .truncated(url, received, expected, partPath, reason):
            let of = expected.map { " of \($0)" } ?? ""
            return "transfer of \(url) stopped after \(received)\(of) bytes (\(reason)); "
                + "the partial file \(partPath) is kept and the next attempt resumes it"
        case let .checksumMismatch(url, algorithm, expected, got):
            return "checksum mismatch for \(url): expected \(algorithm) \(expected), got \(got); "
                + "the downloaded file was removed"
        case let .badContentRange(url, from, contentRange):
            return "server answered a Range request from byte \(from) of \(url) with Content-Range '\(contentRange)'"
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .unsafeZipEntry(zip, entry):
            return "\(zip): refusing entry '\(entry)' (absolute path, '..' or symlink would escape the destination); "
                + "nothing was extracted"
        case let .unreadableZip(zip, reason):
            return "\(zip): not a readable zip (\(reason))"
        case let .destinationNotEmpty(path):
            return "\(path) already holds files; not replacing it"
        case let .datasetMismatch(report):
            return "the unpacked images do not match the manifest; nothing was installed\n" + report.description
        }
    }
}
