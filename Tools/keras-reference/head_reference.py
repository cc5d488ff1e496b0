#!/usr/bin/env python3
"""Keras reference runs for headstart's dense head (Sources/HeadTrain), and fixtures for Tests/HeadTrainTests.

Each case builds the book's head on a (7, 7, C) feature map -- Flatten -> Dense(H, relu) -> Dense(1, sigmoid)
(or Dense(K, softmax)) -- starts it from the *same* initial weights headstart computes (glorot_uniform from
headstart's SplitMix64 streams, reproduced below in NumPy), trains it with Keras 3 RMSprop on features made the
same way, with shuffle=False, and records what Keras reports: per-epoch loss / acc / val_loss / val_acc, the final
weights and the trained head's predictions on the validation features.

Nothing large is committed: the Swift tests regenerate the features and initial weights from the seeds.

Usage:
    /work/venv/bin/python Tools/keras-reference/head_reference.py            # writes Tests/Fixtures/head/*
    /work/venv/bin/python Tools/keras-reference/head_reference.py load-check HEAD.h5 OUT.json
        # builds the book's model (InceptionV3 cut at mixed7, weights=None, 150x150x3, + head), loads HEAD.h5
        # into it with load_weights(by_name=True) and into a bare head model by layer order, and writes the head
        # weights Keras ended up with plus the bare head's predictions on the features in HEAD.h5's companion
        # file OUT.json asks for (see HeadFileTests).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
TAGS = {"kernel1": 1, "kernel2": 2, "shuffle": 3, "dropout": 4, "features": 5, "labels": 6}


def mix(z):
    """SplitMix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_key(seed, tag, index=0):
    """SplitMix64.streamKey(seed:tag:index:) in Sources/HeadTrain/Random.swift."""
    with np.errstate(over="ignore"):
        t = np.uint64(TAGS[tag]) * np.uint64(0xD1B54A32D192ED03)
        return int(mix(np.uint64(seed) ^ t ^ mix(np.uint64(index + 1))))


def stream(key, n):
    """Elements 0..<n of SplitMix64 started from state `key`: mix(key + (i+1)*golden)."""
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix(np.uint64(key) + i * GOLDEN)


def uniform(key, n):
    """Float(next() >> 40) * 2^-24, exact in float32."""
    return (stream(key, n) >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def synthetic_features(seed, count, feature_count, scale=2.0):
    u = uniform(stream_key(seed, "features"), count * feature_count)
    f = np.maximum(np.float32(0), np.float32(2) * u - np.float32(1)) * np.float32(scale)
    return f.reshape(count, feature_count)


def synthetic_labels(seed, count, classes):
    return (stream(stream_key(seed, "labels"), count) % np.uint64(classes)).astype(np.int64)


def glorot(seed, tag, fan_in, fan_out):
    """Head.glorotUniform: (2u - 1) * Float(sqrt(6 / (fan_in + fan_out))), row-major (fan_in, fan_out)."""
    limit = np.float32(np.sqrt(6.0 / (fan_in + fan_out)))
    u = uniform(stream_key(seed, tag), fan_in * fan_out)
    return ((np.float32(2) * u - np.float32(1)) * limit).reshape(fan_in, fan_out)


def initial_head(seed, F, H, O):
    return [glorot(seed, "kernel1", F, H), np.zeros(H, np.float32), glorot(seed, "kernel2", H, O), np.zeros(O, np.float32)]


def build_head(shape, H, classes):
    import keras
    from keras import layers
    O = 1 if classes == 2 else classes
    inp = keras.Input(shape)
    x = layers.Flatten()(inp)
    x = layers.Dense(H, activation="relu")(x)
    x = layers.Dense(O, activation="sigmoid" if O == 1 else "softmax")(x)
    return keras.Model(inp, x)


def run_case(name, *, shape, H, classes, n_train, n_val, batch, epochs, lr, init_seed, data_seed,
             weight_stride=1):
    import keras
    keras.utils.clear_session()
    F = int(np.prod(shape))
    O = 1 if classes == 2 else classes
    xt = synthetic_features(data_seed, n_train, F)
    yt = synthetic_labels(data_seed, n_train, classes)
    xv = synthetic_features(data_seed + 1, n_val, F)
    yv = synthetic_labels(data_seed + 1, n_val, classes)
    model = build_head(shape, H, classes)
    model.set_weights(initial_head(init_seed, F, H, O))
    if O == 1:
        loss, yk, yvk = "binary_crossentropy", yt.astype(np.float32)[:, None], yv.astype(np.float32)[:, None]
    else:
        loss, yk, yvk = "categorical_crossentropy", np.eye(classes, dtype=np.float32)[yt], np.eye(classes, dtype=np.float32)[yv]
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=lr), loss=loss, metrics=["acc"])
    hist = model.fit(xt.reshape((n_train,) + shape), yk, batch_size=batch, epochs=epochs, shuffle=False,
                     validation_data=(xv.reshape((n_val,) + shape), yvk), verbose=0)
    pred = model.predict(xv.reshape((n_val,) + shape), batch_size=batch, verbose=0)
    w = model.get_weights()
    out = {
        "case": name, "shape": list(shape), "featureCount": F, "hidden": H, "classes": classes,
        "trainCount": n_train, "valCount": n_val, "batch": batch, "epochs": epochs, "learningRate": lr,
        "initSeed": init_seed, "dataSeed": data_seed, "valDataSeed": data_seed + 1,
        "history": {k: [float(v) for v in vals] for k, vals in hist.history.items()},
        "predictions": [float(v) for v in pred.reshape(-1)],
        "bias1": [float(v) for v in w[1]], "kernel2": [float(v) for v in w[2].reshape(-1)],
        "bias2": [float(v) for v in w[3]],
        "kernel1Stride": weight_stride,
        "kernel1Strided": [float(v) for v in w[0].reshape(-1)[::weight_stride]],
        "versions": versions(),
    }
    return out


def versions():
    import keras
    import tensorflow as tf
    return {"keras": keras.__version__, "tensorflow": tf.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0]}


def make_fixtures(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cases = [
        # The small binary case: 64 x (7,7,12) = 588 features, hidden 32, batch 8, lr 1e-3.
        dict(name="binary_small", shape=(7, 7, 12), H=32, classes=2, n_train=64, n_val=24, batch=8, epochs=5,
             lr=1e-3, init_seed=21, data_seed=100, weight_stride=11),
        # Categorical: 3 classes, 60 samples (last batch partial), softmax + categorical cross-entropy.
        dict(name="categorical_small", shape=(7, 7, 12), H=32, classes=3, n_train=60, n_val=20, batch=8,
             epochs=5, lr=1e-3, init_seed=22, data_seed=200, weight_stride=11),
        # The realistic width: mixed7's 7x7x768 = 37,632 features, hidden 64, the book's lr 1e-4, batch 20
        # (last batch partial); only a stride of the first kernel is kept.
        dict(name="binary_mixed7_width", shape=(7, 7, 768), H=64, classes=2, n_train=50, n_val=20, batch=20,
             epochs=5, lr=1e-4, init_seed=23, data_seed=300, weight_stride=997),
    ]
    for c in cases:
        name = c.pop("name")
        out = run_case(name, **c)
        path = os.path.join(out_dir, f"{name}.json")
        with open(path, "w") as f:
            json.dump(out, f, indent=1)
        print(path, out["history"]["loss"])


def load_check(head_path, request_path):
    """Loads headstart's head .h5 into Keras two ways and reports what Keras sees (see the module docstring)."""
    import keras
    from keras import layers
    with open(request_path) as f:
        req = json.load(f)
    shape, H, classes = tuple(req["shape"]), req["hidden"], req["classes"]
    O = 1 if classes == 2 else classes
    result = {"versions": versions()}
    # 1. The book's model: InceptionV3 (random weights, 150x150x3) cut at mixed7 + the head, by name.
    if req.get("bookModel", False):
        keras.utils.clear_session()
        base = keras.applications.InceptionV3(input_shape=(150, 150, 3), include_top=False, weights=None)
        x = layers.Flatten()(base.get_layer("mixed7").output)
        x = layers.Dense(H, activation="relu")(x)
        x = layers.Dense(O, activation="sigmoid" if O == 1 else "softmax")(x)
        book = keras.Model(base.input, x)
        book.load_weights(head_path, by_name=True)
        result["bookLayerNames"] = [l.name for l in book.layers[-3:]]
        result["bookHeadSums"] = [float(np.sum(np.abs(w), dtype=np.float64)) for l in book.layers[-2:] for w in l.get_weights()]
    # 2. A bare head model, loaded by layer order (plain load_weights).
    keras.utils.clear_session()
    head = build_head(shape, H, classes)
    head.load_weights(head_path)
    F = int(np.prod(shape))
    x = synthetic_features(req["dataSeed"], req["count"], F).reshape((req["count"],) + shape)
    result["predictions"] = [float(v) for v in head.predict(x, verbose=0).reshape(-1)]
    result["headSums"] = [float(np.sum(np.abs(w), dtype=np.float64)) for w in head.get_weights()]
    with open(request_path, "w") as f:
        json.dump({**req, **result}, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "load-check":
        load_check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1:
        print("usage: python head_reference.py                       (writes Tests/Fixtures/head)\n"
              "       python head_reference.py load-check HEAD.h5 REQUEST.json", file=sys.stderr)
        sys.exit(2)
    else:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        make_fixtures(os.path.join(root, "Tests", "Fixtures", "head"))
