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
    # u8 version, u8 split, 2 reserved, i32 label, i64 size, i64 mtime_ns, 32-byte content key (56 bytes), then in
    # version 2 a u32 CRC-32 of those 56 bytes followed by the path's UTF-8 bytes (the index key)
    version, split, _, label, size, mtime_ns, key = struct.unpack_from("<BBHiqq32s", value)
    assert (version, len(value)) in ((1, 56), (2, 60)), f"index entry version {version}, {len(value)} bytes"
    if version == 2:
        (crc,) = struct.unpack_from("<I", value, 56)
        assert zlib.crc32(bytes(value[:56]) + path_bytes) == crc, "index entry checksum mismatch"
    return {"key": key, "label": label, "split": ("train", "validation")[split], "size": size, "mtime_ns": mtime_ns}


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
