"""TensorFlow/Keras side of BENCHMARKS.md, measured on the same machine as headstart.

    python Tools/keras-reference/benchmark_tf.py network [--batch 32] [--iterations 20]
    python Tools/keras-reference/benchmark_tf.py head [--batch 20] [--epochs 3]

network: InceptionV3(include_top=False, weights=None) cut at mixed7, 150×150, images/s for predict_on_batch
         and a compiled tf.function (warm-up excluded). Weights do not change the speed, so none are loaded.
head:    the book's head (Flatten → Dense(1024, relu) → Dense(1, sigmoid), RMSprop(1e-4), binary
         cross-entropy) trained on 1,027 precomputed 7×7×768 feature maps — Keras's best case for a cached
         feature stage — seconds per epoch with model.fit (steps_per_epoch = ceil(1027 / batch)).
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


def head(batch, epochs):
    rng = np.random.default_rng(0)
    x = rng.random((1027, 7, 7, 768), dtype=np.float32)
    y = (rng.random(1027) < 0.5).astype(np.float32)
    inp = keras.Input((7, 7, 768))
    h = keras.layers.Flatten()(inp)
    h = keras.layers.Dense(1024, activation="relu")(h)
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-4), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up: graph tracing
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    dt = (time.perf_counter() - t0) / epochs
    print(f"Keras {keras.__version__} head on 1027 cached 7×7×768 features, batch {batch}: {dt:.2f} s/epoch (model.fit)")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["network", "head"])
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()
    if a.what == "network":
        network(a.batch or 32, a.iterations)
    else:
        head(a.batch or 20, a.epochs)
