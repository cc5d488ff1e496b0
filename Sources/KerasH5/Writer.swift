// Writes the layout described in KerasWeightsFile.swift, as Keras 2 (fixedLength) or Keras 3's legacy
// writer (variableLength) would for the same layers, so that Keras's load_weights accepts the file.
import CHDF5
import CShims
import Foundation

struct KerasWeightsWriter {
    let file: KerasWeightsFile
    let path: String
    let style: KerasStringStyle
    let limit: Int

    private func error(_ reason: String, layer: String? = nil) -> KerasH5Error {
        KerasH5Error(file: path, layer: layer, reason: reason)
    }

    /// Weight names as each Keras generation writes them: "conv2d_1/kernel:0" (TF1 variable names, Keras 2)
    /// or "conv2d_1/kernel" (variable paths, Keras 3).
    private func storedName(_ name: String) -> String {
        let bare = Self.stripOutputIndex(name)
        return style == .fixedLength ? bare + ":0" : bare
    }

    /// "x:0" -> "x"; names without a ":<digits>" suffix unchanged.
    static func stripOutputIndex(_ name: String) -> String {
        guard let colon = name.lastIndex(of: ":") else { return name }
        let suffix = name[name.index(after: colon)...]
        return !suffix.isEmpty && suffix.allSatisfy(\.isASCII) && suffix.allSatisfy(\.isNumber)
            ? String(name[..<colon]) : name
    }

    func write() throws {
        try validate()
        // A failed or interrupted write never leaves a partial file under the real name, nor (once its process
        // is gone) beside it.
        do {
            let image = try fileImage()
            try AtomicFile.write(image, to: path)
        } catch let failure as AtomicFile.Failure {
            throw error(failure.reason)
        }
    }

    private func validate() throws {
        var seen = Set<String>()
        for layer in file.layers {
            if layer.name.isEmpty || layer.name.contains("/") || layer.name == "." {
                throw error("layer name must be non-empty and contain no '/'", layer: layer.name)
            }
            if !seen.insert(layer.name).inserted { throw error("layer name appears twice", layer: layer.name) }
            if style == .variableLength && layer.name == "top_level_model_weights" {
                throw error("'top_level_model_weights' is reserved in the Keras 3 layout", layer: layer.name)
            }
            var names = Set<String>()
            for weight in layer.weights {
                let stored = storedName(weight.name)
                if stored.isEmpty || stored.hasPrefix("/") || stored.hasSuffix("/") || stored.contains("//") {
                    throw error("weight name '\(weight.name)' is not a valid HDF5 path", layer: layer.name)
                }
                if !names.insert(stored).inserted {
                    throw error("weight name '\(stored)' appears twice", layer: layer.name)
                }
                if weight.shape.contains(where: { $0 < 0 }) || weight.shape.reduce(1, *) != weight.values.count {
                    throw error("weight '\(weight.name)' has shape \(weight.shape) but \(weight.values.count) values",
                                layer: layer.name)
                }
            }
        }
    }

    /// The whole file, built in memory (HDF5's core driver, no backing store) so that it reaches the disk in one
    /// atomic step (`AtomicFile`): HDF5 itself cannot write to an unnamed file.
    private func fileImage() throws -> Data {
        // No object timestamps anywhere, so the same weights always give the same bytes (and SHA-256): a
        // weights file regenerated from a seed must still match the heads trained on it.
        let fileCreation = H5Pcreate(hs_h5p_file_create())
        defer { H5Pclose(fileCreation) }
        H5Pset_obj_track_times(fileCreation, false)
        let access = H5Pcreate(hs_h5p_file_access())
        defer { H5Pclose(access) }
        H5Pset_fapl_core(access, 1 << 20, false)
        let h5 = H5Fcreate(path, hs_h5f_acc_trunc(), fileCreation, access)
        guard h5 >= 0 else { throw error("cannot create the file (HDF5: \(hdf5ErrorText()))") }
        defer { H5Fclose(h5) }
        let creation = ObjectCreation()
        defer { creation.close() }
        // Weight names contain "/", which HDF5 reads as a path: create the groups on the way.
        let linkCreation = H5Pcreate(hs_h5p_link_create())
        defer { H5Pclose(linkCreation) }
        H5Pset_create_intermediate_group(linkCreation, 1)

        do {
            try writeStringList(h5, "layer_names", file.layers.map(\.name))
            for key in file.attributes.keys.sorted() {
                if key == "layer_names" || key.hasPrefix("layer_names") && key.dropFirst(11).allSatisfy(\.isNumber) {
                    throw HDF5Failure(reason: "attribute '\(key)' is reserved for the list of layers")
                }
                try writeStringAttribute(h5, key, [file.attributes[key]!], scalar: true,
                                         encoding: style == .fixedLength ? .fixed : .variable)
            }
        } catch let failure as HDF5Failure {
            throw error(failure.reason)
        } catch let tooLarge as AttributeTooLarge {
            throw error("layer name of \(tooLarge.string.utf8.count) bytes exceeds the \(tooLarge.limit)-byte "
                + "HDF5 attribute limit", layer: tooLarge.string)
        }

        for layer in file.layers {
            do {
                try writeLayer(h5, layer, linkCreation, creation)
            } catch let failure as HDF5Failure {
                throw error(failure.reason, layer: layer.name)
            } catch let tooLarge as AttributeTooLarge {
                throw error("weight name '\(tooLarge.string)' exceeds the \(tooLarge.limit)-byte HDF5 attribute "
                    + "limit", layer: layer.name)
            }
        }
        if style == .variableLength {
            // Keras 3 always writes this group (model-level variables, none for Functional/Sequential).
            do {
                try writeLayer(h5, KerasLayer(name: "top_level_model_weights", weights: []), linkCreation, creation)
            } catch let failure as HDF5Failure {
                throw error(failure.reason)
            }
        }
        guard H5Fflush(h5, H5F_SCOPE_LOCAL) >= 0 else {
            throw error("cannot flush the file (HDF5: \(hdf5ErrorText()))")
        }
        let size = H5Fget_file_image(h5, nil, 0)
        guard size > 0 else { throw error("cannot take the file's image (HDF5: \(hdf5ErrorText()))") }
        var image = Data(count: size)
        let copied = image.withUnsafeMutableBytes { H5Fget_file_image(h5, $0.baseAddress, size) }
        guard copied == size else { throw error("cannot take the file's image (HDF5: \(hdf5ErrorText()))") }
        return image
    }

    /// A list attribute, split into name0, name1, ... exactly when Keras would split it.
    private func writeStringList(_ loc: hid_t, _ name: String, _ strings: [String]) throws {
        let (chunks, itemSize) = try kerasAttributeChunks(strings, limit: limit)
        if chunks.count == 1 {
            // Unsplit: h5py 2 wrote a numpy 'S' array, h5py 3 (Keras 3) a variable-length array.
            try writeStringAttribute(loc, name, strings, scalar: false,
                                     encoding: style == .fixedLength ? .fixed : .variable)
        } else {
            // Keras assigns numpy 'S' chunks, which h5py stores as fixed-length strings in both generations,
            // each with the item size of the whole array.
            for (i, chunk) in chunks.enumerated() {
                try writeStringAttribute(loc, "\(name)\(i)", chunk, scalar: false, encoding: .fixedSize(itemSize))
            }
        }
    }

    /// Group and dataset creation property lists without object timestamps.
    struct ObjectCreation {
        let group = H5Pcreate(hs_h5p_group_create())
        let dataset = H5Pcreate(hs_h5p_dataset_create())
        init() {
            H5Pset_obj_track_times(group, false)
            H5Pset_obj_track_times(dataset, false)
        }
        func close() { H5Pclose(group); H5Pclose(dataset) }
    }

    private func writeLayer(_ h5: hid_t, _ layer: KerasLayer, _ linkCreation: hid_t, _ creation: ObjectCreation) throws {
        let group = H5Gcreate2(h5, layer.name, hs_h5p_default(), creation.group, hs_h5p_default())
        guard group >= 0 else { throw hdf5Failure("cannot create group /\(layer.name)") }
        defer { H5Gclose(group) }
        let names = layer.weights.map { storedName($0.name) }
        try writeStringList(group, "weight_names", names)
        for (weight, name) in zip(layer.weights, names) {
            // The groups a "/" in the name implies, made here (without timestamps) rather than by HDF5.
            var prefix = ""
            for part in name.split(separator: "/", omittingEmptySubsequences: false).dropLast() {
                prefix += prefix.isEmpty ? String(part) : "/" + part
                if H5Lexists(group, prefix, hs_h5p_default()) <= 0 {
                    let g = H5Gcreate2(group, prefix, hs_h5p_default(), creation.group, hs_h5p_default())
                    guard g >= 0 else { throw hdf5Failure("cannot create group '\(prefix)' in /\(layer.name)") }
                    H5Gclose(g)
                }
            }
            try writeDataset(group, name, weight, linkCreation, creation.dataset)
        }
    }

    /// float32 little-endian, contiguous, as h5py writes a numpy float32 array; rank 0 for shape [].
    private func writeDataset(_ group: hid_t, _ name: String, _ weight: KerasWeight, _ linkCreation: hid_t,
                              _ datasetCreation: hid_t) throws {
        var dims = weight.shape.map { hsize_t($0) }
        let space = dims.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), &dims, nil)
        defer { H5Sclose(space) }
        let dataset = H5Dcreate2(group, name, hs_h5t_ieee_f32le(), space, linkCreation, datasetCreation,
                                 hs_h5p_default())
        guard dataset >= 0 else { throw hdf5Failure("cannot create dataset '\(name)'") }
        defer { H5Dclose(dataset) }
        if weight.values.isEmpty { return }
        let status = weight.values.withUnsafeBufferPointer {
            H5Dwrite(dataset, hs_h5t_native_float(), hs_h5s_all(), hs_h5s_all(), hs_h5p_default(), $0.baseAddress)
        }
        guard status >= 0 else { throw hdf5Failure("cannot write dataset '\(name)'") }
    }
}
