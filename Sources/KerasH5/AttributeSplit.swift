// Keras's workaround for HDF5's 64 KiB object-header limit (legacy_h5_format.save_attributes_to_hdf5_group):
//   data = np.asarray(list_of_bytes)                  # dtype S<longest>, nbytes = count * longest
//   num_chunks = smallest n >= 1 such that every chunk of np.array_split(data, n) has nbytes <= 64512
//   n == 1: attrs[name] = data                        (h5py 3 stores a list of bytes as variable-length)
//   n  > 1: attrs[f"{name}{i}"] = chunk_i             (numpy 'S' chunks: fixed-length strings)
// and the reader (load_attributes_from_hdf5_group) takes attrs[name] if present, else concatenates
// name0, name1, ... until one is missing.

/// HDF5_OBJECT_HEADER_LIMIT in Keras's legacy_h5_format.py.
let kerasAttributeSizeLimit = 64512

/// np.array_split(items, n): the first count % n chunks get one item more than the rest.
func arraySplit<T>(_ items: [T], into n: Int) -> [[T]] {
    let base = items.count / n, extra = items.count % n
    var chunks: [[T]] = []
    var start = 0
    for i in 0..<n {
        let size = base + (i < extra ? 1 : 0)
        chunks.append(Array(items[start..<start + size]))
        start += size
    }
    return chunks
}

/// The chunks Keras would write for `strings` (one chunk when the whole array fits under `limit`) and the
/// numpy item size they share. Throws (with the offending string) when one string alone is longer than
/// `limit`, as Keras does.
func kerasAttributeChunks(_ strings: [String], limit: Int) throws -> (chunks: [[String]], itemSize: Int) {
    let lengths = strings.map { $0.utf8.count }
    if let bad = strings.first(where: { $0.utf8.count > limit }) {
        throw AttributeTooLarge(string: bad, limit: limit)
    }
    let itemSize = max(lengths.max() ?? 0, 1)  // numpy gives b"" the dtype S1
    var n = 1
    // np.array_split's largest chunk holds ceil(count / n) items.
    while !strings.isEmpty && (strings.count + n - 1) / n * itemSize > limit { n += 1 }
    return (arraySplit(strings, into: n), itemSize)
}

struct AttributeTooLarge: Error {
    var string: String
    var limit: Int
}
