#!/usr/bin/env python3
"""Keras's own mixed6 of the fine-tuning fixtures' images: Tests/Fixtures/finetune/mixed6-keras.npy.
Run (from the repository root, a few seconds on 2 cores):
    /work/peers-venv/bin/python Tools/keras-reference/finetune_mixed6.py [--out Tests/Fixtures/finetune/mixed6-keras.npy]
The seeded base of seed 7 (as finetune_reference.py builds it), cut at mixed6, run with `predict` on the images of
Tests/Fixtures/finetune/rmsprop.json in their order, each loaded as finetune_reference.load_image does: an
(8, 7, 7, 768) float32 array. With it the Swift parity test runs headstart's fine-tuning on exactly the features
Keras fine-tuned from, so that the fine-tuning itself is compared without the extraction's own float32
difference (max 4e-6 of the largest value for mixed7, README), which the RMSprop run amplifies over its steps.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import finetune_reference as fr  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(REPO, "Tests", "Fixtures", "finetune", "mixed6-keras.npy"))
    args = ap.parse_args(argv)
    import keras
    with open(os.path.join(REPO, "Tests", "Fixtures", "finetune", "rmsprop.json")) as f:
        images = [i["path"] for i in json.load(f)["images"]]
    base = fr.seeded_base(args.seed, None)
    cut = keras.Model(base.input, base.get_layer("mixed6").output)
    x = np.stack([fr.load_image(p) for p in images])
    y = cut.predict(x, batch_size=fr.BATCH, verbose=0).astype(np.float32)
    assert y.shape == (len(images), 7, 7, 768), y.shape
    np.save(args.out, y)
    print(f"{args.out}: {y.shape}, max {y.max():.4f}, versions {fr.versions()}")


if __name__ == "__main__":
    main()
