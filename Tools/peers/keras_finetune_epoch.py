"""Keras fine-tuning of mixed7 on Horses-or-Humans: seconds per epoch and peak memory (issue 15).

    /work/peers-venv/bin/python Tools/peers/keras_finetune_epoch.py [--dataset ../shared/data/horse-or-human]
        [--weights notop.h5] [--epochs 3] [--batch 32] [--threads 2] [--validation]

The book's model fine-tuned as Keras does it: InceptionV3(include_top=False, weights=None, 150×150×3) with the
seeded weights of seed 7 (generated in-process as Tools/keras-reference/seeded_weights.py does, or --weights), cut
at mixed7 and called with training=False (BatchNormalization in inference mode), the layers of mixed7 trainable
(10 kernels, 10 betas) and everything below frozen, Flatten → Dense(1024, relu) → Dense(1, sigmoid) from headstart's
glorot streams of head seed 3, RMSprop(1e-5), binary cross-entropy, metric accuracy; the model is
finetune_reference.py's (the same layers, the same training=False call).

The training images (DIR/train/horses = 0, DIR/train/humans = 1; 1,027) are decoded and preprocessed once into
memory before any timing (load_img to 150×150 nearest, x/255, as a headstart cache), so each epoch is the network's
work only: Keras's fairest case. TensorFlow runs on --threads intra-op threads (inter-op 1). One warm-up epoch
(tracing) is fit first, then --epochs timed epochs (model.fit, shuffle on as the book's fit; --validation adds
DIR/validation as validation_data). Prints each epoch's wall seconds and their median, each epoch's process CPU
seconds (all threads: on a shared machine the wall time stretches with other jobs, the CPU time much less), the
1-minute load average before and after, and the process's peak RSS (resource.getrusage, ru_maxrss).
"""
import argparse
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "keras-reference")
sys.path.insert(0, os.path.abspath(REFERENCE))
import finetune_reference as ft  # noqa: E402
import seeded_weights as sw  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CLASSES = ("horses", "humans")
EXTENSIONS = (".png", ".jpg", ".jpeg")


def load_split(dataset, split):
    """Every image of DIR/split/{horses,humans}, decoded as load_img(150×150, nearest) × 1/255, and its label."""
    from keras.utils import img_to_array, load_img
    xs, ys = [], []
    for label, name in enumerate(CLASSES):
        folder = os.path.join(dataset, split, name)
        for file in sorted(os.listdir(folder)):
            if file.lower().endswith(EXTENSIONS):
                x = img_to_array(load_img(os.path.join(folder, file), target_size=(150, 150)))
                xs.append(x * np.float32(1.0 / 255.0))
                ys.append(label)
    return np.stack(xs), np.asarray(ys, dtype=np.float32)[:, None]


def epoch_clock():
    """benchmark_tf's EpochTimes (wall seconds per epoch) plus the process's CPU seconds per epoch (all threads):
    on a shared machine other jobs stretch the wall time, much less the CPU time the epoch's work takes."""
    from benchmark_tf import EpochTimes  # keras-reference's epoch timer callback

    class EpochClock(EpochTimes):
        def __init__(self):
            super().__init__()
            self.cpu = []

        def on_epoch_begin(self, epoch, logs=None):
            super().on_epoch_begin(epoch, logs)
            self.c0 = time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            self.cpu.append(time.process_time() - self.c0)

    return EpochClock()


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default=os.path.join(REPO, "..", "shared", "data", "horse-or-human"))
    p.add_argument("--weights", help="seeded notop .h5 (generated in-process for seed 7 when omitted)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--validation", action="store_true", help="fit with DIR/validation as validation_data")
    a = p.parse_args()
    if a.epochs < 1 or a.batch < 1 or a.threads < 1:
        p.error("--epochs, --batch and --threads must be at least 1")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    x, y = load_split(a.dataset, "train")
    validation = load_split(a.dataset, "validation") if a.validation else None
    loaded_rss = peak_rss_mib()
    load_before = f"{os.getloadavg()[0]:.2f}"
    base = ft.seeded_base(sw.DEFAULT_SEED, a.weights)
    model, _ = ft.build_model(base, base.get_weights(), hidden=1024, head_seed=ft.HEAD_SEED)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-5), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=a.batch, epochs=1, verbose=0, validation_data=validation)  # warm-up: tracing
    timer = epoch_clock()
    history = model.fit(x, y, batch_size=a.batch, epochs=a.epochs, verbose=0, validation_data=validation,
                        callbacks=[timer])
    times = sorted(timer.times)
    what = f"{len(x)} train" + (f" + {len(validation[0])} validation" if validation else "") + " images"
    print(f"Keras {keras.__version__} (TensorFlow {tf.__version__}) fine-tuning mixed7 + head (1024) on {what}, "
          f"batch {a.batch}, {a.threads} threads: median {times[len(times) // 2]:.2f} s/epoch (best {times[0]:.2f}) "
          f"over {a.epochs} epochs after one warm-up (all: " + ", ".join(f"{t:.2f}" for t in timer.times) + "); "
          f"CPU " + ", ".join(f"{t:.1f}" for t in timer.cpu) + " s per epoch; "
          f"load average before {load_before} after {os.getloadavg()[0]:.2f}; "
          f"loss " + ", ".join(f"{v:.4f}" for v in history.history["loss"]) + "; "
          f"peak RSS {peak_rss_mib():.0f} MiB ({loaded_rss:.0f} MiB after loading the images)", flush=True)


if __name__ == "__main__":
    main()
