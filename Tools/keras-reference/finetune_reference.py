#!/usr/bin/env python3
"""Keras fine-tuning of mixed7 with the book's head: the reference for headstart's fine-tuning (Tests/Fixtures/finetune/).

Run (from the repository root, about a minute on 2 cores):
    /work/peers-venv/bin/python Tools/keras-reference/finetune_reference.py [--seed 7] [--weights SEEDED.h5]
                                                                           [--out Tests/Fixtures/finetune]

The setting, the same for both fixtures:
 1. Base: `InceptionV3(input_shape=(150, 150, 3), include_top=False, weights=None)` with the seeded weights of
    seed 7 (docs/seeded-weights.md): generated in-process with seeded_weights.generate, bit-identical to
    `headstart seeded-weights --seed 7`; or loaded from --weights when given. Cut at mixed7.
 2. Trainable: the layers of mixed7 only (its 10 Conv2D kernels and 10 BatchNormalization betas; conv2d_bn has no
    gamma); mixed6 and below frozen. The cut base is called with `training=False` (from a subclassed Model's
    call: see fine_tuning_model_class), so every BatchNormalization runs in inference mode (moving mean and
    variance frozen; checked unchanged after fit).
 3. Head: Flatten -> Dense(64, relu) -> Dense(1, sigmoid), no dropout, initial weights from headstart's SplitMix64
    glorot streams with head seed 3 (head_reference.initial_head).
 4. Images: the photo-like committed fixtures listed in IMAGES, loaded as the book does and as a headstart cache
    does by default: `load_img(path, target_size=(150, 150))` (PIL convert('RGB'), nearest resize), img_to_array,
    `x *= float32(1/255)` (ImageDataGenerator(rescale=1./255), headstart's default `--preprocess rescale`).
 5. `fit(shuffle=False, batch_size=4, epochs=3, validation_data=...)`, binary cross-entropy, metric accuracy;
    rmsprop.json with RMSprop(learning_rate=1e-4) (Keras 3 defaults otherwise: rho 0.9, epsilon 1e-7),
    sgd.json with SGD(learning_rate=1e-3, momentum=0.9).

Each JSON records the images (path from the repository root, label, split), the settings, Keras's history, the
initial and trained model's sigmoid outputs on every image (in `images` order), and per mixed7 convolution in
conv2d_bn call order (= InceptionV3Weights.units[60..<70]) the sum and sum of |w| of its trained kernel and beta,
with how far each moved from the initial weights. The script asserts the fixture is meaningful: the loss changes
over the epochs, every kernel moves, and the predictions differ between images.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import head_reference as hr  # noqa: E402
import seeded_weights as sw  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

# (path from the repository root, label): 0 = horses, 1 = humans, as flow_from_directory numbers them.
TRAIN = [
    ("Tests/Fixtures/keras/image0-horse-rgba.png", 0),
    ("Tests/Fixtures/keras/image1-human-rgb-q90.jpg", 1),
    ("Tests/Fixtures/images/inputs/horse_photo.jpg", 0),
    ("Tests/Fixtures/images/inputs/human_crop.png", 1),
    ("Tests/Fixtures/keras/image2-horse-gray.png", 0),  # batch 2 of 4: two images (a partial last batch)
    ("Tests/Fixtures/images/inputs/human_photo.gif", 1),
]
VALIDATION = [
    ("Tests/Fixtures/images/inputs/horse_photo.webp", 0),
    ("Tests/Fixtures/images/inputs/horse_photo.tif", 0),
]
SIZE = 150
HIDDEN = 64
HEAD_SEED = 3
BATCH = 4
EPOCHS = 3
CASES = {
    "rmsprop": {"name": "rmsprop", "learning_rate": 1e-4},
    "sgd": {"name": "sgd", "learning_rate": 1e-3, "momentum": 0.9},
}
MIXED7_CONVS = range(60, 70)  # 0-based conv2d_bn creation indices of mixed7 (Keras-2 names conv2d_61..conv2d_70)


def load_image(path):
    """The book's input: load_img to 150x150 (nearest), img_to_array, x *= 1/255."""
    from keras.utils import img_to_array, load_img
    x = img_to_array(load_img(os.path.join(REPO, path), target_size=(SIZE, SIZE)))
    x *= np.float32(1.0 / 255.0)
    return x


def seeded_base(seed, weights):
    """InceptionV3 notop at 150 with the seeded weights of `seed` (or the file `weights`)."""
    base = sw.build_model((SIZE, SIZE, 3))
    if weights:
        base.load_weights(weights)
    else:
        sw.generate(base, seed)
    return base


def mixed7_units(base):
    """mixed7's (Conv2D, BatchNormalization, Keras-2 name, role) in conv2d_bn call order.

    The layers strictly after mixed6 and up to mixed7 in model.layers are exactly mixed7's 32 layers (depth order
    keeps a block's layers between the concatenations around it); they are sorted here by creation number."""
    import keras
    names = sw.keras2_layer_names(base)
    layers = base.layers
    i6 = [l.name for l in layers].index("mixed6")
    i7 = [l.name for l in layers].index("mixed7")
    block = list(zip(layers[i6 + 1:i7 + 1], names[i6 + 1:i7 + 1]))
    assert len(block) == 32, len(block)
    convs = sorted(((l, n) for l, n in block if isinstance(l, keras.layers.Conv2D)), key=lambda p: sw.creation_number(p[1]))
    assert [sw.creation_number(n) - 1 for _, n in convs] == list(MIXED7_CONVS), [n for _, n in convs]
    units = []
    for conv, name in convs:
        bn = conv._outbound_nodes[0].operation
        assert isinstance(bn, keras.layers.BatchNormalization) and not bn.scale
        role, kh, kw, filters = sw.CONV_ROLES[sw.creation_number(name) - 1]
        assert tuple(conv.kernel.shape[:2]) == (kh, kw) and conv.filters == filters
        units.append((conv, bn, name, role))
    return [l for l, _ in block], units


def fine_tuning_model_class():
    """A Model that calls the cut base with training=False and the head with fit's `training`.

    Not the functional `x = cut(inp, training=False)`: Keras 3's functional replay passes the outer call's
    `training` down to every nested layer that takes one, so under fit a functional wrapper runs the base's
    BatchNormalization in training mode (batch statistics, moving statistics updated; checked with Keras 3.15.1).
    An explicit `training=False` from a subclassed call() is honoured."""
    import keras

    class FineTuning(keras.Model):
        def __init__(self, cut, head, **kwargs):
            super().__init__(**kwargs)
            self.cut = cut
            self.head = head

        def call(self, x, training=None):
            return self.head(self.cut(x, training=False), training=training)

    return FineTuning


def build_model(base, initial_weights, hidden=HIDDEN, head_seed=HEAD_SEED):
    """The cut base (mixed7 trainable, called with training=False) + the book's head, Dense(hidden) started from
    headstart's glorot streams of `head_seed`. Returns the model and mixed7_units(base)."""
    import keras
    from keras import layers
    base.set_weights(initial_weights)
    cut = keras.Model(base.input, base.get_layer("mixed7").output)
    block, units = mixed7_units(base)
    for layer in cut.layers:
        layer.trainable = False
    for layer in block:
        layer.trainable = True
    feature_shape = tuple(cut.output.shape[1:])
    head = keras.Sequential([keras.Input(feature_shape), layers.Flatten(), layers.Dense(hidden, activation="relu"),
                             layers.Dense(1, activation="sigmoid")])
    k1, b1, k2, b2 = hr.initial_head(head_seed, int(np.prod(feature_shape)), hidden, 1)
    head.layers[-2].set_weights([k1, b1])
    head.layers[-1].set_weights([k2, b2])
    model = fine_tuning_model_class()(cut, head)
    model(np.zeros((1, SIZE, SIZE, 3), np.float32))
    # Trainable: 10 kernels, 10 betas, the head's two kernels and two biases.
    assert len(model.trainable_weights) == 24, [w.path for w in model.trainable_weights]
    return model, units


def unit_arrays(units):
    return [(np.array(c.kernel.numpy()), np.array(b.beta.numpy()), np.array(b.moving_mean.numpy()),
             np.array(b.moving_variance.numpy())) for c, b, _, _ in units]


def conv_sums(units, before, after):
    """Per mixed7 conv in call order: sums of the trained kernel and beta and how much they moved."""
    out = []
    for (conv, bn, name, role), (k0, b0, m0, v0), (k, b, m, v) in zip(units, before, after):
        assert np.array_equal(m, m0) and np.array_equal(v, v0), f"{name}: moving statistics changed in inference mode"
        dk, db = k.astype(np.float64) - k0, b.astype(np.float64) - b0
        out.append({
            "layer": name, "role": role, "shape": list(k.shape),
            "kernel_sum": float(k.astype(np.float64).sum()), "kernel_abs_sum": float(np.abs(k.astype(np.float64)).sum()),
            "beta_sum": float(b.astype(np.float64).sum()), "beta_abs_sum": float(np.abs(b.astype(np.float64)).sum()),
            "kernel_change_abs_sum": float(np.abs(dk).sum()), "kernel_change_max": float(np.abs(dk).max()),
            "beta_change_abs_sum": float(np.abs(db).sum()), "beta_change_max": float(np.abs(db).max()),
        })
    return out


def optimizer(keras, spec):
    if spec["name"] == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=spec["learning_rate"])
    return keras.optimizers.SGD(learning_rate=spec["learning_rate"], momentum=spec["momentum"])


def run_case(spec, base, initial_weights, xt, yt, xv, yv, x_all):
    import keras
    model, units = build_model(base, initial_weights)
    before = unit_arrays(units)
    initial = model.predict(x_all, batch_size=BATCH, verbose=0).reshape(-1)
    model.compile(optimizer=optimizer(keras, spec), loss="binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(xt, yt, batch_size=BATCH, epochs=EPOCHS, shuffle=False, validation_data=(xv, yv), verbose=0)
    after = unit_arrays(units)
    trained = model.predict(x_all, batch_size=BATCH, verbose=0).reshape(-1)
    k1, b1 = model.head.layers[-2].get_weights()
    k2, b2 = model.head.layers[-1].get_weights()
    history = {k: [float(v) for v in hist.history[k]] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    sums = conv_sums(units, before, after)
    check_meaningful(spec["name"], history, sums, trained)
    return {
        "history": history,
        "predictions": [float(v) for v in trained],
        "initial_predictions": [float(v) for v in initial],
        "mixed7_conv_sums": sums,
        "head_sums": {"kernel1_sum": float(k1.astype(np.float64).sum()), "bias1_sum": float(b1.astype(np.float64).sum()),
                      "kernel2_sum": float(k2.astype(np.float64).sum()), "bias2": float(b2[0])},
    }


def check_meaningful(name, history, sums, predictions):
    loss = history["loss"]
    change = abs(loss[-1] - loss[0]) / loss[0]
    assert change > 0.01, f"{name}: loss barely changes over {EPOCHS} epochs ({loss})"
    for s in sums:
        assert s["kernel_change_max"] > 1e-6, f"{name}: {s['layer']} ({s['role']}) did not move"
    assert np.ptp(predictions) > 1e-3, f"{name}: the predictions do not differ between images ({predictions})"
    moved = [s["kernel_change_abs_sum"] / s["kernel_abs_sum"] for s in sums]
    print(f"{name}: loss {loss} (relative change {change:.3f}); mixed7 kernels moved by "
          f"{min(moved):.2e}..{max(moved):.2e} of their sum |w|; predictions {np.min(predictions):.4f}..{np.max(predictions):.4f}")


def versions():
    import h5py
    import PIL
    v = hr.versions()
    v.update({"pillow": PIL.__version__, "h5py": h5py.__version__})
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=sw.DEFAULT_SEED)
    ap.add_argument("--weights", help="the seeded notop .h5 (generated in-process when omitted)")
    ap.add_argument("--out", default=os.path.join(REPO, "Tests", "Fixtures", "finetune"))
    args = ap.parse_args(argv)

    import keras
    images = [(p, y, "train") for p, y in TRAIN] + [(p, y, "validation") for p, y in VALIDATION]
    x_all = np.stack([load_image(p) for p, _, _ in images])
    y_all = np.asarray([[y] for _, y, _ in images], dtype=np.float32)
    n = len(TRAIN)
    base = seeded_base(args.seed, args.weights)
    initial_weights = base.get_weights()
    os.makedirs(args.out, exist_ok=True)
    for key, spec in CASES.items():
        result = run_case(spec, base, initial_weights, x_all[:n], y_all[:n], x_all[n:], y_all[n:], x_all)
        doc = {
            "images": [{"path": p, "label": y, "split": s} for p, y, s in images],
            "base": {"weights": "seeded", "seed": args.seed, "generator_version": sw.GENERATOR_VERSION,
                     "cut": "mixed7", "cache_layer": "mixed6", "trainable": "mixed7"},
            "size": SIZE, "resize": "nearest", "preprocess": "rescale",
            "hidden": HIDDEN, "head_seed": HEAD_SEED, "batch_size": BATCH, "epochs": EPOCHS,
            "optimizer": spec,
            **result,
            "versions": versions(),
        }
        path = os.path.join(args.out, f"{key}.json")
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(f"wrote {os.path.relpath(path, REPO)}")


if __name__ == "__main__":
    main()
