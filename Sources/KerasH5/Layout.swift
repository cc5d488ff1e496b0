// A textual inventory of an HDF5 file's structure, used to prove that the writer reproduces the layout
// Keras writes (same groups, datasets, attributes, string encodings), not merely something the reader accepts.
import CHDF5
import CShims
import Foundation

/// One line per object and per attribute, sorted, e.g.
///   "/conv2d_1 group"
///   "/conv2d_1 @weight_names string var nullterm ascii [1] = conv2d_1/kernel"
///   "/conv2d_1/conv2d_1/kernel dataset float32 [3, 3, 2, 3]"
/// Only structure and string attribute values are listed, not dataset values.
func hdf5Layout(path: String) throws -> [String] {
    try HDF5Lock.withLock {
        let file = H5Fopen(path, hs_h5f_acc_rdonly(), hs_h5p_default())
        guard file >= 0 else { throw KerasH5Error(file: path, reason: "cannot open: \(hdf5ErrorText())") }
        defer { H5Fclose(file) }
        var lines: [String] = []
        try describeObject(file, "/", into: &lines)
        return lines.sorted()
    }
}

private func describeObject(_ object: hid_t, _ path: String, into lines: inout [String]) throws {
    for name in attributeNames(object) {
        lines.append("\(path) @\(name) \(describeAttribute(object, name))")
    }
    switch H5Iget_type(object) {
    case H5I_DATASET:
        let type = H5Dget_type(object)
        defer { H5Tclose(type) }
        let space = H5Dget_space(object)
        defer { H5Sclose(space) }
        lines.append("\(path) dataset \(describeType(type)) \(extent(space))")
    case H5I_GROUP, H5I_FILE:
        lines.append("\(path) group")
        var info = H5G_info_t()
        guard H5Gget_info(object, &info) >= 0 else { throw hdf5Failure("cannot list \(path)") }
        for i in 0..<info.nlinks {
            let length = H5Lget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, hs_h5p_default())
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            H5Lget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, hs_h5p_default())
            let name = String(cString: buffer)
            let child = H5Oopen(object, name, hs_h5p_default())
            guard child >= 0 else { throw hdf5Failure("cannot open \(path)\(name)") }
            defer { H5Oclose(child) }
            try describeObject(child, path == "/" ? "/" + name : path + "/" + name, into: &lines)
        }
    default:
        lines.append("\(path) other object")
    }
}

private func extent(_ space: hid_t) -> String {
    switch H5Sget_simple_extent_type(space) {
    case H5S_SCALAR: return "scalar"
    case H5S_NULL: return "null"
    default:
        var dims = [hsize_t](repeating: 0, count: Int(H5Sget_simple_extent_ndims(space)))
        H5Sget_simple_extent_dims(space, &dims, nil)
        return "\(dims.map { Int($0) })"
    }
}

private func describeAttribute(_ loc: hid_t, _ name: String) -> String {
    let attr = H5Aopen(loc, name, hs_h5p_default())
    guard attr >= 0 else { return "unreadable" }
    defer { H5Aclose(attr) }
    let type = H5Aget_type(attr)
    defer { H5Tclose(type) }
    let space = H5Aget_space(attr)
    defer { H5Sclose(space) }
    guard H5Tget_class(type) == H5T_STRING else { return "\(describeType(type)) \(extent(space))" }
    let length = H5Tis_variable_str(type) > 0 ? "var" : "fixed\(H5Tget_size(type))"
    let pad: String
    switch H5Tget_strpad(type) {
    case H5T_STR_NULLTERM: pad = "nullterm"
    case H5T_STR_NULLPAD: pad = "nullpad"
    default: pad = "spacepad"
    }
    let cset = H5Tget_cset(type) == H5T_CSET_UTF8 ? "utf8" : "ascii"
    let values = (try? readStringAttribute(loc, name))?.joined(separator: ",") ?? "unreadable"
    return "string \(length) \(pad) \(cset) \(extent(space)) = \(values)"
}
