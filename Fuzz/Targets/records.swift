// libFuzzer target: the feature cache's value parsers, on bytes as a damaged or hostile data.mdb would hand
// them over. The first byte chooses the parser: record values (header, dims, length, CRC, then the payload
// decoded), index entries, errors entries, or a fingerprint (JSON, then its sizes checked). Every input must end
// in a parsed value or a reported fault; a trap, an ASan report or a hang is a bug.
import Foundation
@testable import Store

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecord(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let b = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    switch data[0] % 4 {
    case 0:
        if case .success(let h) = Layout.parseRecord(b, checkCRC: true) {
            let out = UnsafeMutablePointer<Float>.allocate(capacity: max(h.count, 1))
            defer { out.deallocate() }
            Layout.decodePayload(b, h, into: out)
        }
    case 1:
        if case .success(let e) = Layout.decodeIndex(path: "fuzz.png", b) {
            let again = Layout.encodeIndex(e).withUnsafeBytes { Layout.decodeIndex(path: "fuzz.png", $0) }
            guard case .success(let same) = again, same == e else { preconditionFailure("index entry does not round-trip") }
        }
    case 2:
        _ = Layout.decodeError(path: "fuzz.png", b)
    default:
        if let f = try? JSONDecoder().decode(CacheFingerprint.self, from: Data(b)), f.invalidity() == nil {
            precondition(f.featureCount > 0)
            _ = f.differences(from: f)
        }
    }
    return 0
}
