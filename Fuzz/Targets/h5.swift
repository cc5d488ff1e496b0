// libFuzzer target: Keras .h5 weight files through KerasWeightsFile.read, as a wrong or damaged --weights or
// --head file would reach it.
//
// The input is not the file's bytes: it is a recipe the harness follows to write a *well-formed* HDF5 file with
// hostile contents — layer_names and weight_names of every storage kind (fixed, variable, split into chunks,
// numbers instead of strings, empty), names listed but not created and created but not listed, groups where
// datasets belong and the reverse, datasets of every rank and of other types, and shapes claiming far more
// values than the file stores. That is the reader's own work: what it does with what libhdf5 reports. Raw
// bytes would mostly exercise libhdf5's parser, which is not headstart's code (a first raw run hung inside
// libhdf5 1.10's H5T__conv_vlen in seconds; see docs/fuzzing.md).
import CHDF5
import CShims
import Foundation
@testable import KerasH5

let scratch: String = {
    let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return "\(dir)/headstart-fuzz-h5-\(getpid()).h5"
}()

/// The recipe: bytes consumed in order, zeros once they run out.
struct Recipe {
    let bytes: UnsafeBufferPointer<UInt8>
    var at = 0
    mutating func byte() -> Int {
        guard at < bytes.count else { return 0 }
        defer { at += 1 }
        return Int(bytes[at])
    }
    mutating func pick<T>(_ choices: [T]) -> T { choices[byte() % choices.count] }
    static let pieces = ["dense", "dense_1", "kernel", "bias", "conv2d", "/", ":0", "flatten", "a", "", "model_weights",
                         "layer_names", "weight_names", "batch_normalization", "é", "\u{0}", ".", "x/y"]
    mutating func name() -> String { (0..<(byte() % 4)).map { _ in pick(Recipe.pieces) }.joined() }
}

func writeStrings(_ loc: hid_t, _ name: String, _ strings: [String], _ r: inout Recipe) {
    switch r.byte() % 7 {
    case 0: try? writeStringAttribute(loc, name, strings, scalar: false, encoding: .fixed)
    case 1: try? writeStringAttribute(loc, name, strings, scalar: false, encoding: .variable)
    case 2:  // Keras's split form, name0, name1, ... (maybe with a gap)
        let chunks = max(1, r.byte() % 4)
        for c in 0..<chunks where r.byte() % 8 != 0 {
            let part = strings.enumerated().filter { $0.offset % chunks == c }.map(\.element)
            let longest = part.map(\.utf8.count).max() ?? 0
            try? writeStringAttribute(loc, "\(name)\(c)", part, scalar: false, encoding: .fixedSize(max(1, longest + r.byte() % 8)))
        }
    case 3:  // numbers where strings belong
        var dims: [hsize_t] = [hsize_t(max(1, strings.count))]
        let space = H5Screate_simple(1, &dims, nil)
        let attr = H5Acreate2(loc, name, hs_h5t_std_i32le(), space, hs_h5p_default(), hs_h5p_default())
        var values = [Int32](repeating: 7, count: Int(dims[0]))
        if attr >= 0 { H5Awrite(attr, hs_h5t_native_int32(), &values); H5Aclose(attr) }
        H5Sclose(space)
    case 4: try? writeStringAttribute(loc, name, [], scalar: false, encoding: .fixed)  // np.asarray([])
    case 5: if let first = strings.first { try? writeStringAttribute(loc, name, [first], scalar: true, encoding: .variable) }
    default: break  // absent
    }
}

func writeDataset(_ group: hid_t, _ name: String, _ r: inout Recipe) {
    let links = H5Pcreate(hs_h5p_link_create())
    H5Pset_create_intermediate_group(links, 1)
    defer { H5Pclose(links) }
    let type = r.pick([hs_h5t_ieee_f32le(), hs_h5t_ieee_f32le(), hs_h5t_ieee_f64le(), hs_h5t_std_i32le(), hs_h5t_c_s1()])
    let rank = r.byte() % 4
    var dims = (0..<rank).map { _ in hsize_t(r.byte() % 5) }
    let huge = r.byte() % 6 == 0
    let creation = H5Pcreate(hs_h5p_dataset_create())
    defer { H5Pclose(creation) }
    if huge && rank > 0 {
        // A shape of up to 2^60 values, chunked and never written: the file stores (almost) none of them.
        dims = dims.map { _ in hsize_t(1) << hsize_t(r.byte() % 31) }
        var chunk = dims.map { _ in hsize_t(1) }
        H5Pset_chunk(creation, Int32(rank), &chunk)
    }
    let space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(rank), &dims, nil)
    defer { H5Sclose(space) }
    let dataset = H5Dcreate2(group, name, type, space, links, creation, hs_h5p_default())
    guard dataset >= 0 else { return }
    defer { H5Dclose(dataset) }
    let count = huge ? 0 : dims.reduce(1) { $0 * Int($1) }  // at most 4^3 when not huge
    if count > 0 && type != hs_h5t_c_s1() {
        let values = (0..<count).map { _ in Double(r.byte() - 128) / 16 }
        H5Dwrite(dataset, hs_h5t_native_double(), hs_h5s_all(), hs_h5s_all(), hs_h5p_default(), values)
    }
}

func writeFile(_ r: inout Recipe) {
    let file = H5Fcreate(scratch, hs_h5f_acc_trunc(), hs_h5p_default(), hs_h5p_default())
    guard file >= 0 else { return }
    defer { H5Fclose(file) }
    var root = file
    if r.byte() % 5 == 0 { root = H5Gcreate2(file, "model_weights", hs_h5p_default(), hs_h5p_default(), hs_h5p_default()) }
    defer { if root != file && root >= 0 { H5Gclose(root) } }
    let layers = (0..<(r.byte() % 5)).map { _ in r.name() }
    writeStrings(root, "layer_names", layers, &r)
    for key in ["backend", "keras_version", "headstart_head", "headstart_layer"] where r.byte() % 2 == 0 {
        let value = r.pick(["tensorflow", "3.15.1", "{\"featureCount\": 4, \"hidden\": 2}", "{", r.name()])
        try? writeStringAttribute(root, key, [value], scalar: true, encoding: .variable)
    }
    for layer in layers + [r.name()] {
        switch r.byte() % 6 {
        case 0: continue  // listed, never created
        case 1: writeDataset(root, layer, &r)  // a dataset where a group belongs
        default:
            let group = H5Gcreate2(root, layer, hs_h5p_default(), hs_h5p_default(), hs_h5p_default())
            guard group >= 0 else { continue }
            let weights = (0..<(r.byte() % 4)).map { _ in r.name() }
            writeStrings(group, "weight_names", weights, &r)
            for w in weights where r.byte() % 5 != 0 {
                if r.byte() % 7 == 0 {
                    let g = H5Gcreate2(group, w, hs_h5p_default(), hs_h5p_default(), hs_h5p_default())  // a group where a dataset belongs
                    if g >= 0 { H5Gclose(g) }
                } else {
                    writeDataset(group, w, &r)
                }
            }
            H5Gclose(group)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzH5(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var recipe = Recipe(bytes: UnsafeBufferPointer(start: data, count: size))
    HDF5Lock.withLock { writeFile(&recipe) }
    do {
        let file = try KerasWeightsFile.read(path: scratch)
        for layer in file.layers {
            for w in layer.weights { precondition(w.values.count == w.shape.reduce(1, *)) }
        }
    } catch is KerasH5Error {
    } catch {
        preconditionFailure("not a KerasH5Error: \(error)")
    }
    return 0
}
