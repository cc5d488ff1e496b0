#!/usr/bin/env python3
"""Reference fixtures for headstart's KerasH5 module (Keras legacy-layout HDF5 weight files).

    python make_h5_fixtures.py [OUT_DIR]          # (re)write the fixtures; default Tests/Fixtures/keras-h5
    python make_h5_fixtures.py --check FILE...    # load each FILE into the tiny model with Keras
                                                  # model.load_weights and compare every weight exactly

Fixtures (all from one tiny model with seeded weights, so every file holds the same numbers):
  keras3_weights.h5     Keras 3's own legacy writer, legacy_h5_format.save_weights_to_hdf5_group:
                        variable-length string attributes, weight names without ":0".
  keras3_full_model.h5  Keras 3 model.save("x.h5"): the same weights under the group "model_weights".
  keras3_split.h5       save_weights_to_hdf5_group with legacy_h5_format.HDF5_OBJECT_HEADER_LIMIT lowered to 40
                        bytes, so Keras's own splitter writes layer_names0, layer_names1, ... and weight_names0, ...
                        (chunks are numpy 'S' arrays, hence fixed-length strings).
  classic_weights.h5    Hand-written with h5py in the conventions of Keras 2's
                        inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5: fixed-length ('S') strings,
                        weight names "conv2d_1/kernel:0", datasets at conv2d_1/conv2d_1/kernel:0, empty float64
                        weight_names for weightless layers.
  float64_weights.h5    classic layout with every dataset stored as float64 (readers must convert to float32).
  error_*.h5            broken files for the reader's error paths: no layer_names (a plain HDF5 file), a listed
                        layer group missing, a listed weight dataset missing, an int32 dataset.
  expected.json         layer names, shapes, a few values, and the versions that produced the files.

`--check` exits 0 only if Keras accepted every file and every weight equals the seeded value bit for bit;
the Swift tests run it on files written by KerasH5's writer.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

SEED = 20240601
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "Tests", "Fixtures", "keras-h5")

# (layer name, [(weight name, shape)]) in model.layers order; [] for weightless layers.
LAYERS = [
    ("input_1", []),
    ("conv2d_1", [("kernel", (3, 3, 2, 3))]),
    ("batch_normalization_1", [("beta", (3,)), ("moving_mean", (3,)), ("moving_variance", (3,))]),
    ("activation_1", []),
    ("flatten_1", []),
    ("dense_1", [("kernel", (48, 2)), ("bias", (2,))]),
]


def seeded_weights():
    """{layer: [array]} in Keras's legacy weight order; float32 values from one numpy Generator."""
    rng = np.random.default_rng(SEED)
    out = {}
    for layer, weights in LAYERS:
        arrays = []
        for name, shape in weights:
            if name == "moving_variance":
                a = rng.uniform(0.5, 1.5, size=shape)  # variances are positive
            else:
                a = rng.uniform(-1.0, 1.0, size=shape)
            arrays.append(a.astype(np.float32))
        out[layer] = arrays
    return out


def build_model():
    import keras

    inp = keras.Input((6, 6, 2), name="input_1")
    x = keras.layers.Conv2D(3, 3, use_bias=False, name="conv2d_1")(inp)
    x = keras.layers.BatchNormalization(scale=False, name="batch_normalization_1")(x)
    x = keras.layers.Activation("relu", name="activation_1")(x)
    x = keras.layers.Flatten(name="flatten_1")(x)
    x = keras.layers.Dense(2, name="dense_1")(x)
    model = keras.Model(inp, x, name="tiny")
    assert [l.name for l in model.layers] == [n for n, _ in LAYERS]
    weights = seeded_weights()
    for layer in model.layers:
        if weights[layer.name]:
            layer.set_weights(weights[layer.name])
    return model


def write_classic(path, dtype=np.float32, int_dataset=None, drop_group=None, drop_dataset=None):
    """Keras 2 conventions (h5py 2 era): every string attribute a fixed-length 'S' string."""
    weights = seeded_weights()
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n, _ in LAYERS])  # dtype S<max>
        f.attrs["backend"] = np.bytes_(b"tensorflow")
        f.attrs["keras_version"] = np.bytes_(b"2.1.5")  # illustrative Keras 2 version string
        for layer, specs in LAYERS:
            if layer == drop_group:
                continue
            g = f.create_group(layer)
            names = [f"{layer}/{w}:0".encode() for w, _ in specs]
            # Keras 2 wrote `np.asarray([])` (float64, shape (0,)) for layers without weights.
            g.attrs["weight_names"] = np.array(names) if names else np.asarray([])
            for name, value in zip(names, weights[layer]):
                if name.decode() == drop_dataset:
                    continue
                if name.decode() == int_dataset:
                    value = np.arange(value.size, dtype=np.int32).reshape(value.shape)
                else:
                    value = value.astype(dtype)
                g.create_dataset(name.decode(), data=value)


def write_not_keras(path):
    with h5py.File(path, "w") as f:
        f.attrs["title"] = "an HDF5 file that is not a Keras weights file"
        f.create_dataset("data", data=np.arange(4, dtype=np.float32))


def write_fixtures(out):
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    os.makedirs(out, exist_ok=True)
    model = build_model()
    with h5py.File(os.path.join(out, "keras3_weights.h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    model.save(os.path.join(out, "keras3_full_model.h5"))
    saved_limit = legacy_h5_format.HDF5_OBJECT_HEADER_LIMIT
    legacy_h5_format.HDF5_OBJECT_HEADER_LIMIT = 40
    try:
        with h5py.File(os.path.join(out, "keras3_split.h5"), "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
    finally:
        legacy_h5_format.HDF5_OBJECT_HEADER_LIMIT = saved_limit
    write_classic(os.path.join(out, "classic_weights.h5"))
    write_classic(os.path.join(out, "float64_weights.h5"), dtype=np.float64)
    write_not_keras(os.path.join(out, "error_not_keras.h5"))
    write_classic(os.path.join(out, "error_missing_group.h5"), drop_group="dense_1")
    write_classic(os.path.join(out, "error_missing_dataset.h5"), drop_dataset="batch_normalization_1/moving_mean:0")
    write_classic(os.path.join(out, "error_int32.h5"), int_dataset="dense_1/kernel:0")

    with h5py.File(os.path.join(out, "keras3_split.h5"), "r") as f:
        split_attrs = {"root": sorted(k for k in f.attrs if k.startswith("layer_names")),
                       "batch_normalization_1": sorted(f["batch_normalization_1"].attrs)}
    weights = seeded_weights()
    expected = {
        "generator": "Tools/keras-reference/make_h5_fixtures.py",
        "seed": SEED,
        "versions": {"keras": keras.__version__, "h5py": h5py.__version__, "numpy": np.__version__,
                     "hdf5": h5py.version.hdf5_version, "backend": keras.backend.backend()},
        "split_attribute_names": split_attrs,
        "layers": [
            {"name": layer,
             "weights": [{"name": w, "shape": list(shape),
                          "first": [float(v) for v in value.ravel()[:3]],
                          "last": float(value.ravel()[-1]),
                          "sum": float(value.astype(np.float64).sum())}
                         for (w, shape), value in zip(specs, weights[layer])]}
            for layer, specs in LAYERS
        ],
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def check(paths):
    """Keras must load each file by order and every weight must equal the seeded value exactly."""
    weights = seeded_weights()
    failures = 0
    for path in paths:
        model = build_model()
        for layer in model.layers:  # clobber, so a load that silently does nothing cannot pass
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
        try:
            model.load_weights(path)
        except Exception as e:  # report and go on to the next file
            print(f"FAIL {path}: Keras load_weights raised {type(e).__name__}: {e}")
            failures += 1
            continue
        bad = [layer.name for layer in model.layers
               if any(got.shape != want.shape or not np.array_equal(got, want)
                      for got, want in zip(layer.get_weights(), weights[layer.name]))]
        if bad:
            print(f"FAIL {path}: weights differ after load_weights in layers {bad}")
            failures += 1
        else:
            print(f"ok {path}")
    return failures


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        sys.exit(1 if check(sys.argv[2:]) else 0)
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1].startswith("-")):
        print("usage: python make_h5_fixtures.py [OUT_DIR]\n       python make_h5_fixtures.py --check FILE.h5 ...",
              file=sys.stderr)
        sys.exit(2)
    write_fixtures(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
