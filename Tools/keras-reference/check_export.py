#!/usr/bin/env python3
"""Checks a `headstart export-keras` file with Keras: the book's model loads it in one call and predicts.

    /work/venv/bin/python Tools/keras-reference/check_export.py MODEL.h5 [--base BASE.h5 --head HEAD.h5] IMAGE...

1. Builds the book's model exactly as the book writes it (Keras 3):

       pre_trained_model = InceptionV3(input_shape=(size, size, 3), include_top=False, weights=None)
       x = layers.Flatten()(pre_trained_model.get_layer(layer).output)
       x = layers.Dense(hidden, activation='relu')(x)     (+ layers.Dropout(p)(x) when the head has dropout)
       x = layers.Dense(1, activation='sigmoid')(x)        (Dense(C, softmax) for C > 2 classes)
       model = Model(pre_trained_model.input, x)
       model.load_weights(MODEL.h5)                        # one call, by layer order

   The cut layer, size, resize, preprocessing, hidden units, dropout and classes come from the headstart_*
   attributes of MODEL.h5 (what `headstart train` recorded with the head); --layer/--size/... override them.
2. Runs each IMAGE as the book does: load_img(path, target_size=(size, size), interpolation=resize),
   img_to_array, then x *= 1/255 (rescale, as ImageDataGenerator(rescale=1./255)) or Keras's inception
   preprocess_input (x/127.5 - 1); model.predict in one batch.
3. With --base and --head: loads BASE.h5 into a fresh InceptionV3 (include_top=False) and HEAD.h5 into a bare
   head model (by layer order), and checks that every weight the book model loaded from MODEL.h5 equals, bit for
   bit, the corresponding one of those two.

Prints one JSON document on stdout: versions, settings, the model's layer count and last layer names, the weight
check, and per image the model's output row (float32 values as exact decimals) or why it could not be read.
Exit status 1 when the weights differ.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py
import numpy as np


def recorded_settings(path):
    """The headstart_* root attributes of a headstart .h5 (the head's configuration and provenance)."""
    with h5py.File(path, "r") as f:
        attrs = {}
        for k, v in f.attrs.items():
            if k.startswith("headstart_"):
                attrs[k[len("headstart_"):]] = v.decode() if isinstance(v, bytes) else str(v)
    head = json.loads(attrs.get("head", "{}"))
    return {
        "layer": attrs.get("layer", "mixed7"),
        "size": int(attrs.get("size", 150)),
        "resize": attrs.get("resize", "nearest"),
        "preprocess": attrs.get("preprocess", "rescale"),
        "hidden": int(head.get("hidden", 1024)),
        "dropout": float(head.get("dropout", 0.0)),
        "classes": int(head.get("classes", 2)),
    }


def build_book_model(keras, s):
    from keras import Model, layers
    from keras.applications import InceptionV3

    pre_trained_model = InceptionV3(input_shape=(s["size"], s["size"], 3), include_top=False, weights=None)
    x = layers.Flatten()(pre_trained_model.get_layer(s["layer"]).output)
    x = layers.Dense(s["hidden"], activation="relu")(x)
    if s["dropout"] > 0:
        x = layers.Dropout(s["dropout"])(x)
    if s["classes"] == 2:
        x = layers.Dense(1, activation="sigmoid")(x)
    else:
        x = layers.Dense(s["classes"], activation="softmax")(x)
    return Model(pre_trained_model.input, x)


def build_head_model(keras, s, feature_shape):
    from keras import layers

    stack = [keras.Input(shape=feature_shape), layers.Flatten(), layers.Dense(s["hidden"], activation="relu")]
    if s["dropout"] > 0:
        stack.append(layers.Dropout(s["dropout"]))
    stack.append(layers.Dense(1, activation="sigmoid") if s["classes"] == 2 else layers.Dense(s["classes"], activation="softmax"))
    return keras.Sequential(stack)


def load_image(keras, path, s):
    from keras.applications.inception_v3 import preprocess_input
    from keras.utils import img_to_array, load_img

    img = load_img(path, target_size=(s["size"], s["size"]), interpolation=s["resize"])
    x = img_to_array(img)  # float32 (size, size, 3), values 0..255
    if s["preprocess"] == "rescale":
        x *= np.float32(1.0 / 255)  # ImageDataGenerator(rescale=1./255): x *= rescale
    else:
        x = preprocess_input(x)  # mode "tf": x / 127.5 - 1
    return x


def weighted(model):
    return [l for l in model.layers if l.weights]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("images", nargs="*")
    ap.add_argument("--base", help="the base notop .h5 the head was trained with")
    ap.add_argument("--head", help="the head .h5 headstart train wrote")
    for k, t in [("layer", str), ("size", int), ("resize", str), ("preprocess", str), ("hidden", int),
                 ("dropout", float), ("classes", int)]:
        ap.add_argument("--" + k, type=t)
    a = ap.parse_intermixed_args()

    import keras
    import tensorflow as tf

    s = recorded_settings(a.model)
    for k in s:
        if getattr(a, k) is not None:
            s[k] = getattr(a, k)

    model = build_book_model(keras, s)
    model.load_weights(a.model)
    names = [l.name for l in model.layers]
    report = {
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
                     "h5py": h5py.__version__},
        "settings": s,
        "layers": {"count": len(names), "weighted": len(weighted(model)), "last": names[-5:]},
    }

    ok = True
    if a.base and a.head:
        from keras.applications import InceptionV3

        base = InceptionV3(input_shape=(s["size"], s["size"], 3), include_top=False, weights=None)
        base.load_weights(a.base)
        cut = base.get_layer(s["layer"]).output
        head = build_head_model(keras, s, tuple(cut.shape[1:]))
        head.load_weights(a.head)
        book_w = weighted(model)
        n_head = len(weighted(head))
        reference = weighted(base)[: len(book_w) - n_head] + weighted(head)
        arrays, worst, equal = 0, 0.0, True
        for mine, ref in zip(book_w, reference):
            for wm, wr in zip(mine.get_weights(), ref.get_weights()):
                arrays += 1
                if wm.shape != wr.shape:
                    equal, worst = False, float("inf")
                    continue
                d = float(np.max(np.abs(wm - wr))) if wm.size else 0.0
                worst = max(worst, d)
                equal = equal and bool(np.array_equal(wm, wr))
        report["weights_check"] = {"equal": equal, "arrays": arrays, "max_abs_diff": worst,
                                   "base_weighted_layers": len(book_w) - n_head, "head_weighted_layers": n_head}
        ok = equal

    inputs, paths, failures = [], [], []
    for p in a.images:
        try:
            inputs.append(load_image(keras, p, s))
            paths.append(p)
        except Exception as e:  # report and go on, as headstart predict does
            failures.append({"path": p, "reason": f"{type(e).__name__}: {e}"})
    predictions = []
    if inputs:
        out = model.predict(np.stack(inputs), verbose=0)
        for p, row in zip(paths, out):
            predictions.append({"path": p, "output": [float(v) for v in np.asarray(row, dtype=np.float32)]})
    report["predictions"] = predictions
    report["failures"] = failures
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
