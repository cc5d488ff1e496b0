// Thin helpers over the libhdf5 C API: string attributes (fixed- and variable-length), link checks,
// and HDF5's own error text. Every function closes what it opens before returning.
import CHDF5
import CShims
import Foundation

/// libhdf5 as packaged by Debian is not built thread-safe: every call goes through this lock.
enum HDF5Lock {
    private static let lock = NSLock()
    static func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        hs_h5_silence_errors()  // HDF5 must never print; errors are reported through KerasH5Error
        return try body()
    }
}

/// A failure inside an HDF5 call, before the caller adds the file and layer.
struct HDF5Failure: Error {
    var reason: String
}

/// The descriptions on HDF5's error stack (outermost first), then clears it; "" when the stack is empty.
func hdf5ErrorText() -> String {
    var buffer = [CChar](repeating: 0, count: 2048)
    _ = hs_h5_error_message(&buffer, buffer.count)
    return String(cString: buffer)
}

/// `what` failed: the reason with HDF5's own explanation appended when it gave one.
func hdf5Failure(_ what: String) -> HDF5Failure {
    let text = hdf5ErrorText()
    return HDF5Failure(reason: text.isEmpty ? what : "\(what) (HDF5: \(text))")
}

/// Whether `path` (possibly nested, "a/b/c") names a link under `loc`. H5Lexists fails instead of
/// answering false when an intermediate component is missing, so each prefix is checked in turn.
func linkExists(_ loc: hid_t, _ path: String) -> Bool {
    var prefix = ""
    for component in path.split(separator: "/", omittingEmptySubsequences: false) {
        prefix += prefix.isEmpty ? String(component) : "/" + component
        if H5Lexists(loc, prefix, hs_h5p_default()) <= 0 { return false }
    }
    return true
}

func attributeExists(_ loc: hid_t, _ name: String) -> Bool {
    H5Aexists(loc, name) > 0
}

/// Names of the attributes attached to `loc`, in name order.
func attributeNames(_ loc: hid_t) -> [String] {
    final class Box { var names: [String] = [] }
    let box = Box()
    var index: hsize_t = 0
    _ = H5Aiterate2(loc, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, data in
        let box = Unmanaged<Box>.fromOpaque(data!).takeUnretainedValue()
        box.names.append(String(cString: name!))
        return 0
    }, Unmanaged.passUnretained(box).toOpaque())
    return box.names
}

/// A short name for an HDF5 datatype, for messages: "float32", "int32", "string", ...
func describeType(_ type: hid_t) -> String {
    let size = H5Tget_size(type)
    switch H5Tget_class(type) {
    case H5T_FLOAT: return "float\(size * 8)"
    case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + "\(size * 8)"
    case H5T_STRING: return "string"
    case H5T_COMPOUND: return "compound"
    case H5T_ENUM: return "enum (e.g. bool)"
    case H5T_ARRAY: return "array"
    case H5T_VLEN: return "variable-length sequence"
    case H5T_OPAQUE: return "opaque"
    case H5T_BITFIELD: return "bitfield"
    case H5T_REFERENCE: return "reference"
    default: return "unknown HDF5 type"
    }
}

/// Element count of a dataspace (1 for a scalar, 0 for a null or empty space).
private func pointCount(_ space: hid_t) -> Int {
    if H5Sget_simple_extent_type(space) == H5S_NULL { return 0 }
    return Int(H5Sget_simple_extent_npoints(space))
}

/// Reads attribute `name` of `loc` as strings: a scalar gives one string, an array one per element, and an
/// empty attribute of any type (Keras writes np.asarray([]), a float64 array of shape (0,)) gives [].
func readStringAttribute(_ loc: hid_t, _ name: String) throws -> [String] {
    let attr = H5Aopen(loc, name, hs_h5p_default())
    guard attr >= 0 else { throw hdf5Failure("cannot open attribute '\(name)'") }
    defer { H5Aclose(attr) }
    let space = H5Aget_space(attr)
    defer { H5Sclose(space) }
    let type = H5Aget_type(attr)
    defer { H5Tclose(type) }
    let count = pointCount(space)
    if count == 0 { return [] }
    // Keras keeps an attribute under 64 KiB (it splits longer ones); anything near these bounds is damage.
    guard count > 0, count <= 1 << 20 else { throw HDF5Failure(reason: "attribute '\(name)' has \(count) elements") }
    guard H5Tget_class(type) == H5T_STRING else {
        throw HDF5Failure(reason: "attribute '\(name)' holds \(describeType(type)) values, expected strings")
    }
    let memType = H5Tcopy(hs_h5t_c_s1())
    defer { H5Tclose(memType) }
    H5Tset_cset(memType, H5Tget_cset(type))

    if H5Tis_variable_str(type) > 0 {
        H5Tset_size(memType, hs_h5t_variable())
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        guard H5Aread(attr, memType, &pointers) >= 0 else { throw hdf5Failure("cannot read attribute '\(name)'") }
        defer { for p in pointers where p != nil { H5free_memory(p) } }
        return pointers.map { $0.map { String(cString: $0) } ?? "" }
    }

    // Fixed-length: count slots of `size` bytes, each ended by the first NUL (NULLTERM / NULLPAD) or
    // padded with spaces (SPACEPAD, Fortran style).
    let size = H5Tget_size(type)
    let (total, overflow) = count.multipliedReportingOverflow(by: size)
    guard size > 0, !overflow, total <= 64 << 20 else {
        throw HDF5Failure(reason: "attribute '\(name)' has \(count) strings of \(size) bytes")
    }
    let spacePadded = H5Tget_strpad(type) == H5T_STR_SPACEPAD
    H5Tset_size(memType, size)
    H5Tset_strpad(memType, H5T_STR_NULLPAD)
    var bytes = [UInt8](repeating: 0, count: count * size)
    guard H5Aread(attr, memType, &bytes) >= 0 else { throw hdf5Failure("cannot read attribute '\(name)'") }
    return (0..<count).map { i in
        var slot = bytes[i * size..<(i + 1) * size]
        if let nul = slot.firstIndex(of: 0) { slot = slot[..<nul] }
        if spacePadded { while slot.last == 0x20 { slot = slot.dropLast() } }
        return String(decoding: slot, as: UTF8.self)
    }
}

/// Whether attribute `name` is a single string stored as a scalar (as backend and keras_version are).
func isScalarStringAttribute(_ loc: hid_t, _ name: String) -> Bool {
    let attr = H5Aopen(loc, name, hs_h5p_default())
    guard attr >= 0 else { return false }
    defer { H5Aclose(attr) }
    let space = H5Aget_space(attr)
    defer { H5Sclose(space) }
    let type = H5Aget_type(attr)
    defer { H5Tclose(type) }
    return H5Sget_simple_extent_type(space) == H5S_SCALAR && H5Tget_class(type) == H5T_STRING
}

/// How to store a string attribute, following what h5py does with Keras's values.
enum StringEncoding {
    /// numpy 'S' array or np.bytes_: size = longest string (at least 1), NUL-padded, ASCII.
    case fixed
    /// A chunk of a numpy 'S' array: the whole array's item size, however short this chunk's strings are.
    case fixedSize(Int)
    /// h5py 3 with bytes or str: variable length, NUL-terminated, ASCII.
    case variable
}

/// Writes `strings` as attribute `name`: a scalar when `scalar`, else a 1-D array. An empty array is
/// written as Keras writes `np.asarray([])`: float64 of shape (0,).
func writeStringAttribute(_ loc: hid_t, _ name: String, _ strings: [String], scalar: Bool,
                          encoding: StringEncoding) throws {
    precondition(!scalar || strings.count == 1)
    if strings.isEmpty {
        var dims: [hsize_t] = [0]
        let space = H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        let attr = H5Acreate2(loc, name, hs_h5t_ieee_f64le(), space, hs_h5p_default(), hs_h5p_default())
        guard attr >= 0 else { throw hdf5Failure("cannot create attribute '\(name)'") }
        H5Aclose(attr)
        return
    }
    var dims: [hsize_t] = [hsize_t(strings.count)]
    let space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
    defer { H5Sclose(space) }
    let type = H5Tcopy(hs_h5t_c_s1())
    defer { H5Tclose(type) }
    H5Tset_cset(type, H5T_CSET_ASCII)

    switch encoding {
    case .variable:
        H5Tset_size(type, hs_h5t_variable())
        H5Tset_strpad(type, H5T_STR_NULLTERM)
        let attr = H5Acreate2(loc, name, type, space, hs_h5p_default(), hs_h5p_default())
        guard attr >= 0 else { throw hdf5Failure("cannot create attribute '\(name)'") }
        defer { H5Aclose(attr) }
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        guard H5Awrite(attr, type, &pointers) >= 0 else { throw hdf5Failure("cannot write attribute '\(name)'") }
    case .fixed, .fixedSize:
        let longest = max(strings.map { $0.utf8.count }.max() ?? 0, 1)
        var size = longest
        if case .fixedSize(let itemSize) = encoding { size = itemSize }
        precondition(size >= longest, "fixed string size \(size) cannot hold \(longest) bytes")
        H5Tset_size(type, size)
        H5Tset_strpad(type, H5T_STR_NULLPAD)
        var bytes = [UInt8](repeating: 0, count: strings.count * size)
        for (i, s) in strings.enumerated() {
            for (j, b) in s.utf8.enumerated() { bytes[i * size + j] = b }
        }
        let attr = H5Acreate2(loc, name, type, space, hs_h5p_default(), hs_h5p_default())
        guard attr >= 0 else { throw hdf5Failure("cannot create attribute '\(name)'") }
        defer { H5Aclose(attr) }
        guard H5Awrite(attr, type, &bytes) >= 0 else { throw hdf5Failure("cannot write attribute '\(name)'") }
    }
}
