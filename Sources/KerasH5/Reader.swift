// Reads the layout described in KerasWeightsFile.swift, the way Keras's load_weights_from_hdf5_group
// does: layer_names (or its chunks) in order, then each layer's weight_names (or chunks), then the datasets.
import CHDF5
import CShims
import Foundation

struct KerasWeightsReader {
    let path: String
    /// The most values one weight may hold: 2^31 (8 GiB as float32), far beyond any head or base this reads.
    static let maxValues = 1 << 31

    private func error(_ reason: String, layer: String? = nil) -> KerasH5Error {
        KerasH5Error(file: path, layer: layer, reason: reason)
    }

    func read() throws -> KerasWeightsFile {
        try checkIsHDF5()
        let file = H5Fopen(path, hs_h5f_acc_rdonly(), hs_h5p_default())
        guard file >= 0 else {
            let text = hdf5ErrorText()
            if text.contains("truncated") {
                // HDF5 says "truncated file: eof = 9616, sblock->base_addr = 0, stored_eof = 19232".
                let sizes = (number(after: " eof = ", in: text), number(after: "stored_eof = ", in: text))
                if let actual = sizes.0, let recorded = sizes.1 {
                    throw error("truncated HDF5 file: \(actual) bytes, but its superblock records \(recorded) "
                        + "(an interrupted download or copy?)")
                }
                throw error("truncated HDF5 file (HDF5: \(text))")
            }
            throw error("HDF5 cannot open the file, it may be damaged (HDF5: \(text))")
        }
        defer { H5Fclose(file) }

        let (group, groupPath) = try weightsGroup(file)
        defer { if group != file { H5Gclose(group) } }

        let layerNames: [String]
        do {
            layerNames = try readChunkedStrings(group, "layer_names") ?? []
        } catch let failure as HDF5Failure {
            throw error("cannot read layer_names in \(groupPath): \(failure.reason)")
        }
        var layers: [KerasLayer] = []
        layers.reserveCapacity(layerNames.count)
        for name in layerNames {
            layers.append(try readLayer(group, name, groupPath: groupPath))
        }

        var attributes: [String: String] = [:]
        for name in attributeNames(group) where isScalarStringAttribute(group, name) {
            if let value = try? readStringAttribute(group, name).first { attributes[name] = value }
        }
        return KerasWeightsFile(layers: layers, attributes: attributes)
    }

    /// Missing path, directory, or a file without the HDF5 signature: said plainly before HDF5 is asked
    /// to open it.
    private func checkIsHDF5() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw error("no such file")
        }
        if isDirectory.boolValue { throw error("is a directory, expected a Keras .h5 weights file") }
        let status = hs_h5f_is_hdf5(path)
        if status > 0 { return }
        if status < 0 { throw error("cannot read the file (HDF5: \(hdf5ErrorText()))") }
        throw error("not an HDF5 file: no HDF5 signature (\\x89HDF\\r\\n\\x1a\\n); it \(describeStart())")
    }

    /// What the first bytes suggest the file is, to make a wrong-file mistake obvious.
    private func describeStart() -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "cannot be read" }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 16)) ?? Data())
        let hex = head.prefix(8).map { String(format: "%02X", $0) }.joined(separator: " ")
        let kind: String
        if head.isEmpty { return "is empty" }
        if head.starts(with: [0xFF, 0xD8, 0xFF]) { kind = "a JPEG image" }
        else if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { kind = "a PNG image" }
        else if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) { kind = "a zip archive (a .keras file is a zip)" }
        else if head.allSatisfy({ $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20..<0x7F).contains($0) }) {
            kind = "text"
        } else { kind = "unknown data" }
        return "starts with \(hex), which looks like \(kind)"
    }

    /// The group holding layer_names: the root (save_weights) or /model_weights (model.save), chosen as
    /// Keras's load_weights chooses.
    private func weightsGroup(_ file: hid_t) throws -> (hid_t, String) {
        if hasChunkedStrings(file, "layer_names") { return (file, "/") }
        if linkExists(file, "model_weights") {
            let group = H5Gopen2(file, "model_weights", hs_h5p_default())
            if group >= 0 {
                if hasChunkedStrings(group, "layer_names") { return (group, "/model_weights") }
                H5Gclose(group)
            }
        }
        _ = hdf5ErrorText()
        throw error("not a Keras weights file: no 'layer_names' attribute (nor layer_names0, ...) at the root "
            + "or in /model_weights")
    }

    private func hasChunkedStrings(_ loc: hid_t, _ name: String) -> Bool {
        attributeExists(loc, name) || attributeExists(loc, name + "0")
    }

    /// attrs[name], else attrs[name0] + attrs[name1] + ... (Keras's split form); nil when neither exists.
    private func readChunkedStrings(_ loc: hid_t, _ name: String) throws -> [String]? {
        if attributeExists(loc, name) { return try readStringAttribute(loc, name) }
        var strings: [String] = []
        var chunk = 0
        while attributeExists(loc, "\(name)\(chunk)") {
            strings += try readStringAttribute(loc, "\(name)\(chunk)")
            chunk += 1
        }
        return chunk == 0 ? nil : strings
    }

    private func readLayer(_ root: hid_t, _ name: String, groupPath: String) throws -> KerasLayer {
        guard linkExists(root, name) else {
            throw error("listed in layer_names but the file has no group \(join(groupPath, name))", layer: name)
        }
        let group = H5Gopen2(root, name, hs_h5p_default())
        guard group >= 0 else {
            throw error("\(join(groupPath, name)) is not a group (HDF5: \(hdf5ErrorText()))", layer: name)
        }
        defer { H5Gclose(group) }
        let weightNames: [String]
        do {
            // A layer group without weight_names loads as weightless in Keras too.
            weightNames = try readChunkedStrings(group, "weight_names") ?? []
        } catch let failure as HDF5Failure {
            throw error("cannot read weight_names: \(failure.reason)", layer: name)
        }
        var weights: [KerasWeight] = []
        for weightName in weightNames {
            let datasetPath = join(join(groupPath, name), weightName)
            guard linkExists(group, weightName) else {
                throw error("weight '\(weightName)' is listed in weight_names but the file has no dataset "
                    + datasetPath, layer: name)
            }
            do {
                weights.append(try readWeight(group, weightName))
            } catch let failure as HDF5Failure {
                throw error("weight '\(weightName)' (\(datasetPath)): \(failure.reason)", layer: name)
            }
        }
        return KerasLayer(name: name, weights: weights)
    }

    /// A float32 or float64 dataset as Float (HDF5 converts float64 on read, rounding to nearest).
    private func readWeight(_ group: hid_t, _ name: String) throws -> KerasWeight {
        let dataset = H5Dopen2(group, name, hs_h5p_default())
        guard dataset >= 0 else { throw hdf5Failure("cannot open dataset, it may be a group") }
        defer { H5Dclose(dataset) }
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        let size = H5Tget_size(type)
        guard H5Tget_class(type) == H5T_FLOAT, size == 4 || size == 8 else {
            throw HDF5Failure(reason: "unsupported dtype \(describeType(type)), expected float32 or float64")
        }
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0 else { throw hdf5Failure("cannot read the dataset's shape") }
        var dims = [hsize_t](repeating: 0, count: rank)
        H5Sget_simple_extent_dims(space, &dims, nil)
        // The dims are the file's word: sized with overflow checks and bounded before anything is allocated.
        var shape: [Int] = [], count = 1  // 1 for a scalar (rank 0)
        for d in dims {
            let n = Int(exactly: d) ?? Int.max
            let (p, overflow) = count.multipliedReportingOverflow(by: n)
            guard n <= KerasWeightsReader.maxValues, !overflow, p <= KerasWeightsReader.maxValues else {
                throw HDF5Failure(reason: "shape \(dims) holds more than \(KerasWeightsReader.maxValues) values, the most this reads")
            }
            shape.append(n)
            count = p
        }
        // Uncompressed data must be stored whole: a shape claiming more than the file holds is damage.
        let creation = H5Dget_create_plist(dataset)
        let filters = creation >= 0 ? H5Pget_nfilters(creation) : 0
        if creation >= 0 { H5Pclose(creation) }
        let stored = H5Dget_storage_size(dataset)
        if filters == 0, count > 0, stored < UInt64(count) * UInt64(size) {
            throw HDF5Failure(reason: "shape \(shape) needs \(count * size) bytes, the file stores \(stored)")
        }
        var status: herr_t = 0
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = count == 0 ? 0 : H5Dread(dataset, hs_h5t_native_float(), hs_h5s_all(), hs_h5s_all(),
                                              hs_h5p_default(), buffer.baseAddress)
            if status < 0 { buffer.initialize(repeating: 0) }
            initialized = count
        }
        guard status >= 0 else { throw hdf5Failure("cannot read the values, the file may be damaged") }
        return KerasWeight(name: name, shape: shape, values: values)
    }

    /// The decimal number following `marker` in `text`.
    private func number(after marker: String, in text: String) -> Int? {
        guard let range = text.range(of: marker) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    private func join(_ a: String, _ b: String) -> String { a.hasSuffix("/") ? a + b : a + "/" + b }
}
