#!/usr/bin/env python3
"""Reads one image's entry and features from a headstart feature cache (docs/cache-format.md).

    python read_cache.py CACHE_DIR RELATIVE_PATH

prints one JSON object: the fingerprint, the class names, the index entry and the features (as float32).
Needs `pip install lmdb numpy`. The same code is the snippet in docs/cache-format.md.
"""
import json
import struct
import sys
import zlib

import lmdb
import numpy as np

# --- snippet start ---
DTYPES = {1: "<f2", 2: "<f4"}  # record header dtype code -> numpy dtype (little-endian)


def open_cache(path):
    # The cache is a directory holding data.mdb and lock.mdb; four named databases.
    env = lmdb.open(path, readonly=True, max_dbs=8, subdir=True)
    dbs = {name: env.open_db(name.encode(), create=False) for name in ("meta", "records", "index", "errors")}
    return env, dbs


def decode_index(path_bytes, value):
    # u8 version, u8 split, 2 reserved, i32 label, i64 size, i64 mtime_ns, 32-byte content key (56 bytes); version 3
    # adds i64 ctime_ns, u64 inode, u64 device, i64 hashed_at_ns (88 bytes); versions 2 and 3 end with a u32 CRC-32
    # of the bytes before it followed by the path's UTF-8 bytes (the index key)
    version, split, _, label, size, mtime_ns, key = struct.unpack_from("<BBHiqq32s", value)
    body = {1: 56, 2: 56, 3: 88}.get(version)
    assert body is not None and len(value) == body + (0 if version == 1 else 4), f"index entry version {version}, {len(value)} bytes"
    if version >= 2:
        (crc,) = struct.unpack_from("<I", value, body)
        assert zlib.crc32(bytes(value[:body]) + path_bytes) == crc, "index entry checksum mismatch"
    entry = {"key": key, "label": label, "split": ("train", "validation")[split], "size": size, "mtime_ns": mtime_ns}
    if version == 3:
        entry.update(zip(("ctime_ns", "inode", "device", "hashed_at_ns"), struct.unpack_from("<qQQq", value, 56)))
    return entry


def decode_record(value):
    # header: "HSF1", u16 version, u8 dtype, u8 rank, u32 crc32(payload), u32 dims[rank]; then the payload
    magic, version, dtype, rank, crc = struct.unpack_from("<4sHBBI", value, 0)
    assert magic == b"HSF1" and version == 1, (magic, version)
    shape = struct.unpack_from(f"<{rank}I", value, 12)
    payload = bytes(value[12 + 4 * rank:])
    assert zlib.crc32(payload) == crc, "checksum mismatch"
    return np.frombuffer(payload, dtype=DTYPES[dtype]).reshape(shape).astype(np.float32)


def read_image(path, relative_path, view=0):
    env, dbs = open_cache(path)
    with env.begin() as txn:
        fingerprint = json.loads(txn.get(b"fingerprint", db=dbs["meta"]))
        classes = json.loads(txn.get(b"classes", db=dbs["meta"]) or b"[]")
        raw = txn.get(relative_path.encode("utf-8"), db=dbs["index"])
        if raw is None:
            error = txn.get(relative_path.encode("utf-8"), db=dbs["errors"])
            raise KeyError(f"{relative_path}: not indexed" + (f" ({json.loads(error)['reason']})" if error else ""))
        entry = decode_index(relative_path.encode("utf-8"), raw)
        # records key: 32-byte content key + view number as big-endian u16
        features = decode_record(txn.get(entry["key"] + struct.pack(">H", view), db=dbs["records"]))
    return fingerprint, classes, entry, features
# --- snippet end ---


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
        print("usage: python read_cache.py CACHE_DIR RELATIVE_PATH   (e.g. out/hh-cache train/horses/horse01-0.png)",
              file=sys.stderr)
        sys.exit(2)
    fingerprint, classes, entry, features = read_image(sys.argv[1], sys.argv[2])
    entry["key"] = entry["key"].hex()
    print(json.dumps({
        "fingerprint": fingerprint, "classes": classes, "entry": entry,
        "shape": list(features.shape), "values": [float(v) for v in features.ravel()],
    }))
