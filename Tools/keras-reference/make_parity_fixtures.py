#!/usr/bin/env python3
"""Keras's numbers for headstart's InceptionV3-to-mixedN parity tests (Tests/Fixtures/keras/).

Run:  python make_parity_fixtures.py [--seed 7] [--weights out/seeded-inception-v3-notop-seed7.h5]
                                     [--fixtures Tests/Fixtures/keras]

Steps:
 1. Seeded weights (seeded_weights.py, docs/seeded-weights.md) are generated and written as a classic
    Keras-2 notop .h5 file (not committed: 88 MB), then reloaded with Keras's load_weights and checked.
 2. Every network below is a fresh `InceptionV3(include_top=False, weights=None, input_shape=...)` that
    loads that file, exactly as the Swift side will read it.
 3. Three real images are preprocessed as the book does (load_img(target_size=(150,150)) with the default
    nearest interpolation, img_to_array, x *= 1/255 as ImageDataGenerator(rescale=1./255)) and run to
    mixed7.
Fixture files are listed in Tests/Fixtures/keras/README.md; manifest.json records versions and SHA-256s.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import seeded_weights as sw  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA = os.path.abspath(os.path.join(REPO, "..", "shared", "data", "horse-or-human"))

# The three fixture images: (fixture file name, source under DATA, how it is made).
IMAGES = [
    ("image0-horse-rgba.png", "train/horses/horse12-2.png", "copy"),        # 300x300 RGBA PNG, as-is
    ("image1-human-rgb-q90.jpg", "train/humans/human06-13.png", "jpeg"),    # 200x200 RGB JPEG quality 90
    ("image2-horse-gray.png", "train/horses/horse36-3.png", "gray"),        # 200x200 8-bit grayscale PNG
]
SMALL = (200, 200)
CUTS = [f"mixed{i}" for i in range(11)]
SAMPLES = 32


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sha256_bytes(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def make_images(fixtures):
    """Write the three fixture images from the real data set (PIL does every re-encoding)."""
    from PIL import Image
    paths = []
    for name, src, how in IMAGES:
        src_path = os.path.join(DATA, src)
        dst = os.path.join(fixtures, name)
        if how == "copy":
            shutil.copyfile(src_path, dst)
        else:
            im = Image.open(src_path)
            im.load()
            # Alpha is dropped by convert (the data set's alpha is opaque); LANCZOS only makes the small copy.
            if how == "jpeg":
                im.convert("RGB").resize(SMALL, Image.LANCZOS).save(dst, "JPEG", quality=90)
            else:
                im.convert("L").resize(SMALL, Image.LANCZOS).save(dst, "PNG", optimize=True)
        paths.append(dst)
    return paths


def load_pixels(path, size, interpolation="nearest"):
    """keras.utils.load_img -> uint8 pixels (H, W, 3): PIL open, convert('RGB') if needed, resize."""
    import keras
    img = keras.utils.load_img(path, target_size=size, interpolation=interpolation)
    return np.asarray(img, dtype=np.uint8)


def book_input(path, size=(150, 150), interpolation="nearest"):
    """The book's input: load_img, img_to_array (float32), then `x *= rescale` with rescale = 1./255."""
    import keras
    x = keras.utils.img_to_array(keras.utils.load_img(path, target_size=size, interpolation=interpolation))
    x *= 1.0 / 255.0
    return x


def generator_input(path):
    """The same through Keras's legacy ImageDataGenerator(rescale=1./255).flow_from_directory, if present."""
    try:
        from keras.src.legacy.preprocessing.image import ImageDataGenerator
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "c"))
        shutil.copyfile(path, os.path.join(d, "c", "img" + os.path.splitext(path)[1]))
        it = ImageDataGenerator(rescale=1.0 / 255).flow_from_directory(
            d, target_size=(150, 150), batch_size=1, class_mode=None, shuffle=False)
        return np.asarray(next(iter(it))[0], dtype=np.float32)


def summary(a, rng):
    """Shape, float64 moments, extrema and SAMPLES values at sorted flat indices drawn from rng."""
    a = np.asarray(a, dtype=np.float32)
    idx = np.sort(rng.choice(a.size, size=min(SAMPLES, a.size), replace=False))
    d = a.astype(np.float64)
    return {
        "shape": list(a.shape),
        "mean": float(d.mean()), "std": float(d.std()), "min": float(d.min()), "max": float(d.max()),
        "sample_indices": [int(i) for i in idx],
        "sample_values": [float(v) for v in a.ravel()[idx]],  # exact float32 values
    }


def loaded_model(weights, input_shape):
    m = sw.build_model(input_shape)
    m.load_weights(weights)
    return m


def cut(model, names):
    import keras
    outs = [model.get_layer(n).output for n in names]
    return keras.Model(model.input, outs if len(outs) > 1 else outs[0])


def rel_diff(a, b):
    return float(np.mean(np.abs(a.astype(np.float64) - b)) / np.mean(np.abs(a.astype(np.float64))))


def layer_table(model, names):
    """model.layers in order with Keras-2 names, inbound layers and the configuration the Swift net needs."""
    import keras
    by_layer = {id(l): n for l, n in zip(model.layers, names)}
    rows = []
    for i, (layer, name) in enumerate(zip(model.layers, names)):
        row = {"index": i, "name": name, "class": type(layer).__name__}
        if not isinstance(layer, keras.layers.InputLayer):
            node = layer._inbound_nodes[0]
            row["inbound"] = [by_layer[id(t._keras_history.operation)] for t in node.input_tensors]
        row["output_shape_150"] = list(layer.output.shape[1:])
        if isinstance(layer, keras.layers.Conv2D):
            row.update(filters=layer.filters, kernel_size=list(layer.kernel_size), strides=list(layer.strides),
                       padding=layer.padding, use_bias=layer.use_bias,
                       role=sw.CONV_ROLES[sw.creation_number(name) - 1][0])
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            row.update(pool_size=list(layer.pool_size), strides=list(layer.strides), padding=layer.padding)
        elif isinstance(layer, keras.layers.BatchNormalization):
            row.update(epsilon=layer.epsilon, center=layer.center, scale=layer.scale)
        elif isinstance(layer, keras.layers.Activation):
            row.update(activation=layer.activation.__name__)
        elif isinstance(layer, keras.layers.Concatenate):
            row.update(axis=layer.axis)
        rows.append(row)
    return rows


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=sw.DEFAULT_SEED)
    ap.add_argument("--weights", default=os.path.join(REPO, "out", "seeded-inception-v3-notop-seed7.h5"))
    ap.add_argument("--fixtures", default=os.path.join(REPO, "Tests", "Fixtures", "keras"))
    args = ap.parse_args(argv)
    import keras
    import tensorflow as tf
    import h5py
    import PIL

    fx = args.fixtures
    os.makedirs(fx, exist_ok=True)
    written = []

    def save_npy(name, a, dtype=np.float32):
        a = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<"))
        np.save(os.path.join(fx, name), a)
        written.append(name)

    # 1. Seeded weights, classic file, reload check.
    gen_model = sw.build_model()
    gen = sw.generate(gen_model, args.seed)
    names = gen["names"]
    sw.print_order_report(gen_model, names, out=open(os.devnull, "w"))  # asserts roles/shapes
    sw.write_classic_h5(args.weights, gen_model, names)
    _, reloaded = sw.check_roundtrip(args.weights, gen_model)
    print(f"weights: {args.weights}; {reloaded} arrays reloaded bit-identically by Keras load_weights")

    bn = np.stack([np.concatenate([p[i] for p in gen["bn"]]) for i in range(3)]).astype(np.float32)
    save_npy("bn-params.npy", bn)

    convs = [(i, l, n) for i, (l, n) in enumerate(zip(gen_model.layers, names))
             if isinstance(l, keras.layers.Conv2D)]
    bns = [(i, l, n) for i, (l, n) in enumerate(zip(gen_model.layers, names))
           if isinstance(l, keras.layers.BatchNormalization)]
    calib = sw.calibration_images(args.seed)
    kernels = {
        "generator_version": sw.GENERATOR_VERSION, "seed": args.seed,
        "note": "c = index among Conv2D layers in model.layers order (= weights-file order, the seed stream "
                "1000+c); name = Keras-2 file name (creation-numbered); role = the conv2d_bn call in "
                "inception_v3.py. sha256 is over the raw little-endian float32 kernel bytes, row-major "
                "(kh, kw, cin, cout); sum is float64 over the float32 values.",
        "calibration_images_sha256": sha256_bytes(calib),
        "calibration_images_shape": list(calib.shape),
        "rng_vectors": {
            "bits_seed_stream1000_j0to3": [f"{int(v):016x}" for v in sw.bits(args.seed, 1000, np.arange(4))],
            "unit_seed_stream1000_j0to3": [float(v) for v in sw.unit(args.seed, 1000, 4)],
            "mix64_of_0_1_2": [f"{int(v):016x}" for v in sw.mix64(np.arange(3, dtype=np.uint64))],
        },
        "convolutions": [],
        "batch_normalizations": [],
    }
    for c, (i, layer, name) in enumerate(convs):
        k = gen["kernels"][c]
        assert np.array_equal(k, layer.kernel.numpy())
        kernels["convolutions"].append({
            "c": c, "layer_index": i, "name": name, "role": sw.CONV_ROLES[sw.creation_number(name) - 1][0],
            "shape": list(k.shape), "sha256": sha256_bytes(k.astype("<f4")), "sum": float(k.sum(dtype=np.float64)),
        })
    off = 0
    for b, (i, layer, name) in enumerate(bns):
        n = layer.beta.shape[0]
        kernels["batch_normalizations"].append({
            "b": b, "layer_index": i, "name": name, "channels": n, "offset_in_bn_params": off,
            "beta_sha256": sha256_bytes(gen["bn"][b][0].astype("<f4")),
        })
        off += n
    write_json(os.path.join(fx, "kernels.json"), kernels)
    written.append("kernels.json")
    with open(os.path.join(fx, "model-layers.json"), "w") as f:  # one layer per line keeps it small and diffable
        rows = layer_table(gen_model, names)
        f.write('{"input_shape": [150, 150, 3], "layers": [\n')
        f.write(",\n".join(json.dumps(r, separators=(",", ":")) for r in rows))
        f.write("\n]}\n")
    written.append("model-layers.json")

    # 2. Images and the book's preprocessing.
    img_paths = make_images(fx)
    written += [n for n, _, _ in IMAGES]
    base = loaded_model(args.weights, (150, 150, 3))
    m7 = cut(base, ["mixed7"])
    inputs, mixed7 = [], []
    image_info = []
    for k, p in enumerate(img_paths):
        x = book_input(p)
        g = generator_input(p)
        if g is not None:
            assert np.array_equal(x, g), f"{p}: load_img path differs from ImageDataGenerator"
        pix = load_pixels(p, (150, 150))
        assert np.array_equal(x, pix.astype(np.float32) * np.float32(1 / 255))
        y = np.asarray(m7.predict_on_batch(x[None]))[0]
        assert y.shape == (7, 7, 768)
        inputs.append(x)
        mixed7.append(y)
        save_npy(f"input{k}.npy", x)
        save_npy(f"mixed7-{k}.npy", y)
        image_info.append({"file": IMAGES[k][0], "source": IMAGES[k][1], "made_by": IMAGES[k][2],
                           "resized_pixels_sha256": sha256_bytes(pix), "input": f"input{k}.npy",
                           "mixed7": f"mixed7-{k}.npy", "checked_against_ImageDataGenerator": g is not None})
    # Keras's own rounding floor: the same images as one batch of 3 (different GEMM blocking).
    y3 = np.asarray(m7.predict_on_batch(np.stack(inputs)))
    batch_noise = float(np.max(np.abs(y3 - np.stack(mixed7))))

    # 3. Signal: different images must give clearly different mixed7 tensors.
    signal = {}
    for a, b in ((0, 1), (0, 2), (1, 2)):
        signal[f"{a}-{b}"] = rel_diff(mixed7[a], mixed7[b])
    print("signal (mean|a-b| / mean|a| of mixed7):", {k: f"{v:.1%}" for k, v in signal.items()})
    assert min(signal.values()) > 0.05, f"mixed7 barely depends on the image: {signal}"

    # 4. Summaries for image 0.
    rng = np.random.default_rng(args.seed)
    outs = cut(base, CUTS).predict_on_batch(inputs[0][None])
    cuts = {}
    for name, o in zip(CUTS, outs):
        cuts[name] = summary(np.asarray(o)[0], rng)
    # The multi-output model runs the same layers on the same input: it must reproduce mixed7-0.npy.
    assert np.array_equal(np.asarray(outs[7])[0], mixed7[0]), "mixed7 differs between the two cut models"
    variants = {}
    for size in (75, 299):
        m = cut(loaded_model(args.weights, (size, size, 3)), ["mixed7"])
        xi = book_input(img_paths[0], size=(size, size))
        variants[f"mixed7_input{size}_nearest_rescale"] = {
            "input_shape": [size, size, 3], "interpolation": "nearest", "preprocessing": "rescale 1/255",
            "resized_pixels_sha256": sha256_bytes(load_pixels(img_paths[0], (size, size))),
            "input": summary(xi, rng), "output": summary(np.asarray(m.predict_on_batch(xi[None]))[0], rng)}
    xi = keras.applications.inception_v3.preprocess_input(
        keras.utils.img_to_array(keras.utils.load_img(img_paths[0], target_size=(150, 150))))
    variants["mixed7_input150_nearest_inception"] = {
        "input_shape": [150, 150, 3], "interpolation": "nearest",
        "preprocessing": "keras.applications.inception_v3.preprocess_input: x /= 127.5; x -= 1 (float32)",
        "resized_pixels_sha256": image_info[0]["resized_pixels_sha256"],
        "input": summary(xi, rng), "output": summary(np.asarray(m7.predict_on_batch(xi[None]))[0], rng)}
    xi = book_input(img_paths[0], interpolation="bilinear")
    variants["mixed7_input150_bilinear_rescale"] = {
        "input_shape": [150, 150, 3], "interpolation": "bilinear (PIL Image.BILINEAR via load_img)",
        "preprocessing": "rescale 1/255",
        "resized_pixels_sha256": sha256_bytes(load_pixels(img_paths[0], (150, 150), "bilinear")),
        "input": summary(xi, rng), "output": summary(np.asarray(m7.predict_on_batch(xi[None]))[0], rng)}
    summaries = {
        "seed": args.seed, "generator_version": sw.GENERATOR_VERSION,
        "note": "image0 through the seeded network. Sample indices are flat row-major (H, W, C) indices "
                "drawn without replacement by numpy.random.default_rng(seed) in file order; sample values "
                "are the exact float32 outputs. mean/std are float64 over the float32 tensor (std: "
                "population).",
        "images": image_info,
        "cuts_input150_nearest_rescale": cuts,
        "variants": variants,
        "signal_mixed7_relative_difference": signal,
        "keras_batch1_vs_batch3_max_abs_diff_mixed7": batch_noise,
    }
    write_json(os.path.join(fx, "summaries.json"), summaries)
    written.append("summaries.json")

    # 5. Manifest.
    manifest = {
        "script": "Tools/keras-reference/make_parity_fixtures.py",
        "generator": "Tools/keras-reference/seeded_weights.py",
        "generator_version": sw.GENERATOR_VERSION, "seed": args.seed,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "numpy": np.__version__, "pillow": PIL.__version__,
                     "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version},
        "environment": {"TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: TF default)"),
                        "machine": platform.machine()},
        "weights_file": {"path_when_made": os.path.relpath(args.weights, REPO),
                         "bytes": os.path.getsize(args.weights), "sha256": sha256_file(args.weights),
                         "note": "not committed; byte layout depends on the h5py/HDF5 version"},
        "files": {n: {"bytes": os.path.getsize(os.path.join(fx, n)), "sha256": sha256_file(os.path.join(fx, n))}
                  for n in sorted(written)},
    }
    write_json(os.path.join(fx, "manifest.json"), manifest)
    total = sum(v["bytes"] for v in manifest["files"].values())
    print(f"wrote {len(written) + 1} fixture files to {fx} ({total} bytes + manifest); "
          f"batch-1 vs batch-3 max |diff| {batch_noise:.3g}")


if __name__ == "__main__":
    main()
