"""TensorFlow/Keras side of BENCHMARKS.md, measured on the same machine as headstart.

    python Tools/keras-reference/benchmark_tf.py network [--batch 32] [--iterations 20]
    python Tools/keras-reference/benchmark_tf.py head [--batch 20] [--epochs 3] [--features DIR] [--xla]
    python Tools/keras-reference/benchmark_tf.py book --dataset DIR [--weights notop.h5] [--batch 20] [--epochs 2]

network: InceptionV3(include_top=False, weights=None) cut at mixed7, 150×150, images/s for predict_on_batch
         and a compiled tf.function (warm-up excluded). Weights do not change the speed, so none are loaded.
head:    the book's head (Flatten → Dense(1024, relu) → Dense(1, sigmoid), RMSprop(1e-4), binary
         cross-entropy) trained on 1,027 precomputed 7×7×768 feature maps — Keras's best case for a cached
         feature stage — seconds per epoch with model.fit (steps_per_epoch = ceil(1027 / batch)).
         With --features DIR (the folder `headstart export CACHE --out DIR` writes), the same features headstart
         trains on, and the validation split evaluated after every epoch as `fit(validation_data=...)` does; the
         median epoch is reported. --xla compiles the step with XLA (`jit_compile=True`).
book:    the book's augmented recipe as its code runs it: ImageDataGenerator(rescale=1/255, rotation 40, shifts 0.2,
         shear 0.2, zoom 0.2, horizontal flip) over DIR/train with flow_from_directory (150×150, binary), the
         frozen InceptionV3 cut at mixed7 plus the head in one model, fit with DIR/validation (rescaled only) as
         validation data; the median epoch (the first, with tracing, excluded when there are more).
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
import keras


def network(batch, iterations):
    base = keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(150, 150, 3))
    model = keras.Model(base.input, base.get_layer("mixed7").output)
    x = np.random.default_rng(0).random((batch, 150, 150, 3), dtype=np.float32)
    fn = tf.function(lambda t: model(t, training=False), jit_compile=False)
    for name, run in [("predict_on_batch", lambda: model.predict_on_batch(x)), ("tf.function", lambda: fn(x).numpy())]:
        for _ in range(3):
            run()
        times = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        times.sort()
        med = times[len(times) // 2]
        print(f"TensorFlow {tf.__version__} InceptionV3→mixed7 150×150 batch {batch} ({name}): "
              f"median {med * 1e3:.1f} ms/batch, {batch / med:.1f} images/s (best {batch / times[0]:.1f})")


def head(batch, epochs, features=None, xla=False):
    if features:
        x_all = np.load(os.path.join(features, "features.npy"))
        y_all = np.load(os.path.join(features, "labels.npy")).astype(np.float32)
        split = np.load(os.path.join(features, "splits.npy"))
        x, y = x_all[split == 0], y_all[split == 0]
        validation = (x_all[split == 1], y_all[split == 1])
    else:
        rng = np.random.default_rng(0)
        x = rng.random((1027, 7, 7, 768), dtype=np.float32)
        y = (rng.random(1027) < 0.5).astype(np.float32)
        validation = None
    inp = keras.Input(x.shape[1:])
    h = keras.layers.Flatten()(inp)
    h = keras.layers.Dense(1024, activation="relu")(h)
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-4), loss="binary_crossentropy",
                  metrics=["accuracy"], jit_compile=xla)

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    times = []
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, validation_data=validation)  # warm-up: tracing, compiling
    times.clear()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, validation_data=validation, callbacks=[EpochTimes()])
    times.sort()
    what = f"{len(x)} train + {len(validation[0])} validation features from {features}" if features else f"{len(x)} random features"
    print(f"Keras {keras.__version__} head on {what}, batch {batch}, XLA {'on' if xla else 'off'}: "
          f"median {times[len(times) // 2]:.2f} s/epoch (best {times[0]:.2f}) over {epochs} epochs (model.fit)")


def book(dataset, weights, batch, epochs):
    from keras.src.legacy.preprocessing.image import ImageDataGenerator
    base = keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(150, 150, 3))
    if weights:
        base.load_weights(weights)
    for layer in base.layers:
        layer.trainable = False
    h = keras.layers.Flatten()(base.get_layer("mixed7").output)
    h = keras.layers.Dense(1024, activation="relu")(h)
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model(base.input, out)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-4), loss="binary_crossentropy", metrics=["accuracy"])
    train = ImageDataGenerator(rescale=1 / 255, rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
                               shear_range=0.2, zoom_range=0.2, horizontal_flip=True).flow_from_directory(
        os.path.join(dataset, "train"), target_size=(150, 150), batch_size=batch, class_mode="binary")
    validation = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        os.path.join(dataset, "validation"), target_size=(150, 150), batch_size=batch, class_mode="binary")

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    times = []
    model.fit(train, validation_data=validation, epochs=epochs, verbose=0, callbacks=[EpochTimes()])
    counted = sorted(times[1:] if len(times) > 1 else times)
    print(f"Keras {keras.__version__} book recipe with augmentation (ImageDataGenerator + fit of the frozen base and "
          f"head), {train.samples} train + {validation.samples} validation images, batch {batch}: median "
          f"{counted[len(counted) // 2]:.1f} s/epoch over {len(counted)} epochs (all: "
          + ", ".join(f"{t:.1f}" for t in times) + ")")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["network", "head", "book"])
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--features", help="folder written by `headstart export` (head only)")
    p.add_argument("--xla", action="store_true", help="jit_compile=True (head only)")
    p.add_argument("--dataset", help="folder with train/ and validation/ class folders (book only)")
    p.add_argument("--weights", help="notop weights file (book only; speed does not depend on it)")
    a = p.parse_args()
    if a.what == "network":
        network(a.batch or 32, a.iterations)
    elif a.what == "head":
        head(a.batch or 20, a.epochs, a.features, a.xla)
    else:
        if not a.dataset:
            p.error("book needs --dataset DIR")
        book(a.dataset, a.weights, a.batch or 20, a.epochs)
