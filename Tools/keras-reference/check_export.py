#!/usr/bin/env python3
"""Checks a `headstart export-keras` file with Keras: the book's model loads it in one call and predicts.

    /work/venv/bin/python Tools/keras-reference/check_export.py MODEL.h5 [--base BASE.h5 --head HEAD.h5] IMAGE...
    /work/venv/bin/python Tools/keras-reference/check_export.py FINETUNED.h5 --by-name --base BASE.h5 IMAGE...

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

With --by-name (a `headstart finetune` model: mixed7's layers and the head only): the book's model gets BASE.h5 first
(loaded into a fresh InceptionV3 and copied into the book model's base layers by order), then
`model.load_weights(FINETUNED.h5, by_name=True)`, as one fine-tunes the book's model in Keras and saves only what
changed. The weight check then asks that every layer named in FINETUNED.h5 holds the file's arrays and every other
one the base file's (mixed7's 20 layers and the head's 2 from the file, the other 120 from the base).

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
    return weighted_layers(model.layers)


def weighted_layers(layers):
    return [l for l in layers if l.weights]


def fresh_base(s, path):
    """A fresh InceptionV3 (include_top=False) at the recorded size with the notop file `path` loaded by order."""
    from keras.applications import InceptionV3

    base = InceptionV3(input_shape=(s["size"], s["size"], 3), include_top=False, weights=None)
    base.load_weights(path)
    return base


def stored_arrays(path):
    """{layer name: [arrays in weight_names order]} of a legacy-layout weights file's layers with weights."""
    def names(attrs, key):
        return [v.decode() if isinstance(v, bytes) else str(v) for v in attrs[key]]
    out = {}
    with h5py.File(path, "r") as f:
        for layer in names(f.attrs, "layer_names"):
            weight_names = names(f[layer].attrs, "weight_names") if len(f[layer].attrs["weight_names"]) else []
            if weight_names:
                out[layer] = [np.asarray(f[layer][w]) for w in weight_names]
    return out


def check_by_name(model, base, path):
    """After load_weights(path, by_name=True) over `base`: layers named in the file hold its arrays, the others the
    base's (paired by order: the book model's base layers are a prefix of InceptionV3's)."""
    stored = stored_arrays(path)
    base_w = weighted(base)
    arrays, from_file, worst, equal, missing = 0, [], 0.0, True, sorted(stored)
    for i, layer in enumerate(weighted(model)):
        if layer.name in stored:
            expected = stored[layer.name]
            from_file.append(layer.name)
            missing.remove(layer.name)
        else:
            expected = base_w[i].get_weights() if i < len(base_w) else None
        if expected is None:
            equal = False
            continue
        for wm, wr in zip(layer.get_weights(), expected):
            arrays += 1
            if wm.shape != wr.shape:
                equal, worst = False, float("inf")
                continue
            worst = max(worst, float(np.max(np.abs(wm - wr))) if wm.size else 0.0)
            equal = equal and bool(np.array_equal(wm, wr))
    return {"equal": equal and not missing, "arrays": arrays, "max_abs_diff": worst, "from_model_file": from_file,
            "file_layers_not_in_model": missing}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("images", nargs="*")
    ap.add_argument("--base", help="the base notop .h5 the head was trained with")
    ap.add_argument("--head", help="the head .h5 headstart train wrote")
    ap.add_argument("--by-name", action="store_true",
                    help="load MODEL.h5 with load_weights(by_name=True) over --base (a fine-tuned model file)")
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

    if a.by_name and not a.base:
        ap.error("--by-name needs --base BASE.h5 (the layers the model file does not hold)")
    model = build_book_model(keras, s)
    if a.by_name:
        base = fresh_base(s, a.base)
        layers = model.layers
        below_head = layers[: [l.name for l in layers].index(s["layer"]) + 1]
        for mine, ref in zip(weighted_layers(below_head), weighted(base)):  # the base up to the cut, by order
            mine.set_weights(ref.get_weights())
        model.load_weights(a.model, by_name=True)
    else:
        model.load_weights(a.model)
    names = [l.name for l in model.layers]
    report = {
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
                     "h5py": h5py.__version__},
        "settings": s,
        "layers": {"count": len(names), "weighted": len(weighted(model)), "last": names[-5:]},
    }

    ok = True
    if a.by_name:
        report["weights_check"] = check_by_name(model, fresh_base(s, a.base), a.model)
        ok = report["weights_check"]["equal"]
    elif a.base and a.head:
        base = fresh_base(s, a.base)
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
