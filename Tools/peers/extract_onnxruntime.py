"""Stage one done the ordinary way, for comparison with `headstart extract` (issue 18): every image of a dataset
decoded as Keras `load_img` does (PIL, RGB, nearest resize to 150×150, x/255) on a thread that works ahead, and
run through InceptionV3-to-mixed7 in ONNX Runtime, 32 images a batch, the features kept as float16 like
headstart's default cache.

    python Tools/peers/extract_onnxruntime.py DATASET --model inception-mixed7.onnx [--out features.npy]
        [--batch 32] [--threads 2]

The ONNX model is the one `benchmark_peers.py` exports (any Keras InceptionV3 cut at mixed7). Prints the
wall time and images/s of the whole run (listing, reading, decoding, network, writing).
"""
import argparse
import os
import queue
import threading
import time

import numpy as np
from PIL import Image

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp")


def images(root):
    out = []
    for folder, _, files in os.walk(root):
        out += [os.path.join(folder, f) for f in files if f.lower().endswith(EXTENSIONS)]
    return sorted(out)


def load(path, size):
    with Image.open(path) as img:
        img = img.convert("RGB").resize((size, size), Image.NEAREST)  # keras.utils.load_img(target_size=…)
        return np.asarray(img, dtype=np.float32) / 255.0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dataset")
    p.add_argument("--model", required=True)
    p.add_argument("--out")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, default=150)
    a = p.parse_args()
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    start = time.perf_counter()
    paths = images(a.dataset)
    if not paths:
        raise SystemExit(f"{a.dataset}: no images")
    batches = queue.Queue(maxsize=2)

    def decode():  # the decode-ahead thread (PIL releases the GIL while it decodes)
        for i in range(0, len(paths), a.batch):
            batches.put(np.stack([load(q, a.size) for q in paths[i:i + a.batch]]))
        batches.put(None)

    threading.Thread(target=decode, daemon=True).start()
    features = []
    while (x := batches.get()) is not None:
        features.append(session.run(None, {name: x})[0].astype(np.float16))
    features = np.concatenate(features)
    if a.out:
        np.save(a.out, features)
    seconds = time.perf_counter() - start
    print(f"ONNX Runtime {ort.__version__}, {a.threads} threads: {len(paths)} images in {seconds:.2f} s, "
          f"{len(paths) / seconds:.1f} images/s (features {features.shape}, float16)")


if __name__ == "__main__":
    main()
