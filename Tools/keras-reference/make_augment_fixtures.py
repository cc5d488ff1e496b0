#!/usr/bin/env python3
"""Augmentation fixtures for headstart's Extract tests (issue 5: Keras ImageDataGenerator semantics).

For a small real image and fixed transform parameters, the expected outputs are what Keras 3's legacy
`ImageDataGenerator.apply_transform` returns (affine through scipy.ndimage.affine_transform with order=1,
then channel shift, horizontal flip, vertical flip, brightness through PIL ImageEnhance). headstart draws
the parameters with its own generator, so the fixtures fix the parameters, not numpy's RNG; the generator
itself is pinned by `draws` below, computed here from its documented specification (docs in
Sources/Extract/AugmentSettings.swift), independently of the Swift code.

It also checks, with Keras itself, *where* flow_from_directory augments: load_img resizes to target_size
first, then random_transform runs on the resized float32 array, then standardize (rescale). The `pipeline`
fixture is the output of a real flow_from_directory iterator with the parameters forced.

Output (Tests/Fixtures/augment/):
  input.png          40x32 RGB crop of horse-or-human train/horses/horse01-0.png (rows 40:80, cols 78:110)
  cases.npy          float32 (N, 40, 32, 3): apply_transform(input, case N) in the order of cases.json
  pipeline.npy       float32 (24, 20, 3): flow_from_directory(target_size=(24, 20), rescale=1/255) on input.png
  cases.json         parameters, fill mode, cval of every case; the pipeline case; draws; versions; hashes

Run:  /work/venv/bin/python Tools/keras-reference/make_augment_fixtures.py   (needs scipy: pip install scipy)
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.simplefilter("ignore", DeprecationWarning)  # scipy.ndimage.interpolation, as Keras imports it

import numpy as np
import PIL
import scipy
import keras
from PIL import Image
from keras.utils import load_img, img_to_array
from keras.src.legacy.preprocessing.image import ImageDataGenerator

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "augment")
SOURCE = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "horse-or-human", "train", "horses",
                                      "horse01-0.png"))
CROP = (slice(40, 80), slice(78, 110))

NEUTRAL = dict(theta=0.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0, flip_horizontal=False,
               flip_vertical=False, channel_shift_intensity=None, brightness=None)
COMBINED = dict(theta=-31.0, tx=2.5, ty=4.25, shear=9.0, zx=1.1, zy=0.85)
ZOOM_OUT = dict(theta=40.0, zx=1.7, zy=1.45, tx=-6.5)

# (name, parameters, fill_mode, cval)
CASES = [
    ("rotation", dict(theta=23.0), "nearest", 0.0),
    ("rotation_90", dict(theta=90.0), "nearest", 0.0),
    ("shift", dict(tx=3.3, ty=-5.7), "nearest", 0.0),
    ("shift_whole", dict(tx=3.0, ty=-4.0), "constant", 0.0),
    ("shear", dict(shear=17.0), "nearest", 0.0),
    ("zoom_xy", dict(zx=0.8, zy=1.25), "nearest", 0.0),
    ("combined_nearest", COMBINED, "nearest", 0.0),
    ("combined_reflect", COMBINED, "reflect", 0.0),
    ("combined_wrap", COMBINED, "wrap", 0.0),
    ("combined_constant", COMBINED, "constant", 0.0),
    ("zoom_out_nearest", ZOOM_OUT, "nearest", 0.0),
    ("zoom_out_reflect", ZOOM_OUT, "reflect", 0.0),
    ("zoom_out_wrap", ZOOM_OUT, "wrap", 0.0),
    ("zoom_out_constant", ZOOM_OUT, "constant", 128.0),
    ("brightness_dark", dict(brightness=0.63), "nearest", 0.0),
    ("brightness_bright", dict(brightness=1.37), "nearest", 0.0),
    ("channel_shift_up", dict(channel_shift_intensity=37.5), "nearest", 0.0),
    ("channel_shift_down", dict(channel_shift_intensity=-21.25), "nearest", 0.0),
    ("flips", dict(theta=10.0, flip_horizontal=True, flip_vertical=True), "nearest", 0.0),
    ("everything", dict(COMBINED, flip_horizontal=True, channel_shift_intensity=12.5, brightness=0.8),
     "reflect", 0.0),
    # cval outside 0..255: apply_brightness_shift rescales to 0..255 around the PIL step (local_scale).
    ("brightness_rescaled", dict(ZOOM_OUT, brightness=0.9), "constant", 300.0),
]

PIPELINE = dict(target_size=(24, 20), interpolation="nearest", rescale=1.0 / 255.0, fill_mode="nearest",
                parameters=dict(COMBINED, flip_horizontal=True))


# --------------------------------------------------------------------- the documented view generator
MASK = (1 << 64) - 1


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def view_state(seed, key, view):
    s = mix64(seed ^ 0x41554731)  # "AUG1"
    padded = bytes(key) + b"\0" * ((-len(key)) % 8)
    for i in range(0, len(padded), 8):
        s = mix64(s ^ int.from_bytes(padded[i:i + 8], "little"))
    s = mix64(s ^ len(key))
    return mix64(s ^ (view & MASK))


def unit_bits(state, slot):
    """The unit draw is unit_bits * 2^-53; stored as an integer string (JSON parsers round doubles differently)."""
    return mix64((mix64(state) + slot) & MASK) >> 11


DRAWS = [(1, list(range(32)), 1), (1, list(range(32)), 2), (2, list(range(32)), 1), (7, [], 3),
         (0xFFFFFFFFFFFFFFFF, [255] * 13, 65535)]


def draws():
    out = []
    for seed, key, view in DRAWS:
        s = view_state(seed, key, view)
        out.append(dict(seed=str(seed), key=key, view=view, state=str(s), unit_bits=[str(unit_bits(s, j)) for j in range(10)]))
    return out


# ------------------------------------------------------------------------------------------------ main
def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    os.makedirs(OUT, exist_ok=True)
    if not os.path.exists(SOURCE):
        sys.exit(f"missing {SOURCE}")
    rgb = np.asarray(Image.open(SOURCE).convert("RGB"))[CROP]
    input_path = os.path.join(OUT, "input.png")
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(input_path)
    x = img_to_array(load_img(input_path))  # float32 (40, 32, 3), values 0..255, as flow_from_directory has it
    assert x.shape == (40, 32, 3) and (x == rgb).all()

    outputs, manifest_cases = [], []
    for name, params, fill, cval in CASES:
        p = dict(NEUTRAL, **params)
        gen = ImageDataGenerator(fill_mode=fill, cval=cval)
        y = gen.apply_transform(x.copy(), p)
        assert y.shape == x.shape and y.dtype == np.float32, (name, y.shape, y.dtype)
        outputs.append(y)
        manifest_cases.append(dict(name=name, parameters=p, fill_mode=fill, cval=cval))
    np.save(os.path.join(OUT, "cases.npy"), np.stack(outputs).astype(np.float32))

    # The pipeline: flow_from_directory resizes in load_img, then augments the resized array, then rescales.
    tmp = tempfile.mkdtemp()
    try:
        os.makedirs(os.path.join(tmp, "c"))
        shutil.copy(input_path, os.path.join(tmp, "c", "input.png"))
        gen = ImageDataGenerator(rescale=PIPELINE["rescale"], fill_mode=PIPELINE["fill_mode"], rotation_range=40)
        forced = dict(NEUTRAL, **PIPELINE["parameters"])
        gen.get_random_transform = lambda shape, seed=None: dict(forced)
        it = gen.flow_from_directory(tmp, target_size=PIPELINE["target_size"], batch_size=1, class_mode=None,
                                     interpolation=PIPELINE["interpolation"], shuffle=False)
        batch = next(iter(it))[0]
        resized = img_to_array(load_img(input_path, target_size=PIPELINE["target_size"],
                                        interpolation=PIPELINE["interpolation"]))
        by_hand = ImageDataGenerator(fill_mode=PIPELINE["fill_mode"]).apply_transform(resized, forced)
        by_hand = by_hand * np.float32(PIPELINE["rescale"])
        assert batch.shape == (24, 20, 3) and np.array_equal(batch, by_hand), "flow_from_directory order changed"
        np.save(os.path.join(OUT, "pipeline.npy"), batch.astype(np.float32))
    finally:
        shutil.rmtree(tmp)

    files = ["input.png", "cases.npy", "pipeline.npy"]
    manifest = dict(
        source="horse-or-human train/horses/horse01-0.png rows 40:80, cols 78:110 (CC BY 2.0, Laurence Moroney)",
        cases=manifest_cases,
        pipeline=dict(PIPELINE, parameters=dict(NEUTRAL, **PIPELINE["parameters"]),
                      target_size=list(PIPELINE["target_size"])),
        draws=draws(),
        versions=dict(python=sys.version.split()[0], keras=keras.__version__, numpy=np.__version__,
                      scipy=scipy.__version__, pillow=PIL.__version__),
        sha256={f: sha256(os.path.join(OUT, f)) for f in files},
    )
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {len(CASES)} cases, pipeline, {len(DRAWS)} draws to {OUT}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print("usage: python make_augment_fixtures.py   (no arguments: regenerates its fixtures)", file=sys.stderr)
        sys.exit(2)
    main()
