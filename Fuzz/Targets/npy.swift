// libFuzzer target: .npy files (header dictionary, shape, data length). Every input must end in an array whose
// data matches its shape, or a FormatError.
import Foundation
import Numerics

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        let a = try NPY.parse(Data(bytes: data, count: size), name: "fuzz.npy")
        precondition(a.data.count == a.count * (a.dtype == .uint8 ? 1 : a.dtype == .float16 ? 2 : 4))
    } catch is NPY.FormatError {
    } catch {
        preconditionFailure("not a FormatError: \(error)")
    }
    return 0
}
