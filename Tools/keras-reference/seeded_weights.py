#!/usr/bin/env python3
"""Seeded InceptionV3 weights, generator version 1 (docs/seeded-weights.md), computed with Keras.

The Swift twin is Sources/Extract/SeededWeights.swift; both must give bit-identical kernels, betas and
calibration images. This module is also imported by the other reference scripts for `mix64`, `bits`,
`unit`, `calibration_batch`, `keras2_layer_names` and `generate`.

Run:  python seeded_weights.py [--seed 7] [--out PATH.h5]
It builds `keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(150,150,3))`,
fills the conv kernels from the seed, calibrates every BatchNormalization in `model.layers` order on the
calibration batch, writes the weights file in the classic Keras-2 layout of
`inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`, reloads it with Keras's own legacy
(order-based) loader into a fresh model and asserts every weight came back bit for bit.

Layer order (checked and printed by `main`): `model.layers` of a Keras functional model is NOT the order in
which inception_v3.py calls conv2d_bn. Keras (2 and 3 alike) sorts layers by decreasing depth from the
output, so inside mixed0 the order is branch3x3dbl_1, branch5x5_1, branch3x3dbl_2, ..., branch_pool.
The real weights file lists layers in that same `model.layers` order (its `layer_names`), and names them
by creation order (conv2d_1 is the first conv2d_bn call, conv2d_9 is mixed0/branch3x3dbl_1). The seed
streams follow the spec: conv `c` is the c-th Conv2D in `model.layers` order, i.e. the file order.
"""

import argparse
import hashlib
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

GENERATOR_VERSION = 1
DEFAULT_SEED = 7
KERAS_VERSION_ATTR = "2.1.5"  # what the classic file claims to have been written by (Keras-2 layout)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


# ---------------------------------------------------------------------------------------------------------
# Random numbers (spec section "Random numbers"): uint64 arithmetic wraps modulo 2^64, which numpy uint64
# arrays do natively; scalars are handled as 1-element arrays so nothing is ever promoted to float/object.
# ---------------------------------------------------------------------------------------------------------

def mix64(z):
    """SplitMix64 finalizer on a uint64 array (wrapping)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def bits(seed, stream, j):
    """bits(seed, stream, j) = mix64(mix64(seed ^ stream) + j) for an array (or scalar) of j."""
    key = mix64(np.array([np.uint64(seed) ^ np.uint64(stream)], dtype=np.uint64))[0]
    j = np.asarray(j, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64(key + j)


def unit(seed, stream, n):
    """unit(seed, stream, j) for j = 0..<n as float32 in [-1, 1): float32((bits >> 40) - 2^23) / 2^23.

    (bits >> 40) < 2^24, so the subtraction is done in int64 (signed, never wraps) and the float32
    conversion and the division by 2^23 are exact."""
    b = bits(seed, stream, np.arange(n, dtype=np.uint64))
    signed = (b >> np.uint64(40)).astype(np.int64) - (1 << 23)
    return signed.astype(np.float32) / np.float32(1 << 23)


# ---------------------------------------------------------------------------------------------------------
# Calibration batch (spec section "Calibration batch").
# ---------------------------------------------------------------------------------------------------------

def calibration_images(seed, count=4, size=150):
    """The spec's uint8 calibration images, shape (count, size, size, 3), integer arithmetic only."""
    y, x, c = np.meshgrid(np.arange(size), np.arange(size), np.arange(3), indexing="ij")
    base = np.where(c == 0, x, np.where(c == 1, y, (x + y) // 2))
    g = (base * 255) // 149
    j = (((y // 10) * 15 + (x // 10)) * 3 + c).astype(np.uint64)
    out = np.empty((count, size, size, 3), dtype=np.uint8)
    for i in range(count):
        n = (bits(seed, 5000 + i, j.ravel()) >> np.uint64(56)).astype(np.int64).reshape(j.shape)
        out[i] = ((g + n) // 2).astype(np.uint8)
    return out


def rescale(pixels):
    """The book's ImageDataGenerator(rescale=1./255): float32 pixels times float32(1/255), one rounding."""
    return pixels.astype(np.float32) * np.float32(1.0 / 255.0)


def calibration_batch(seed):
    return rescale(calibration_images(seed))


# ---------------------------------------------------------------------------------------------------------
# Layer naming: Keras-2 names of the real file from the Keras-3 model.
# ---------------------------------------------------------------------------------------------------------

# conv2d_bn calls of inception_v3.py in creation order, with their (kh, kw, filters). Index i here is the
# layer conv2d_{i+1} of the real file.
def _conv_roles():
    roles = [("stem/conv1", 3, 3, 32), ("stem/conv2", 3, 3, 32), ("stem/conv3", 3, 3, 64),
             ("stem/conv4", 1, 1, 80), ("stem/conv5", 3, 3, 192)]
    for m, pool_filters in ((0, 32), (1, 64), (2, 64)):
        p = f"mixed{m}/"
        roles += [(p + "branch1x1", 1, 1, 64), (p + "branch5x5_1", 1, 1, 48), (p + "branch5x5_2", 5, 5, 64),
                  (p + "branch3x3dbl_1", 1, 1, 64), (p + "branch3x3dbl_2", 3, 3, 96),
                  (p + "branch3x3dbl_3", 3, 3, 96), (p + "branch_pool", 1, 1, pool_filters)]
    roles += [("mixed3/branch3x3", 3, 3, 384), ("mixed3/branch3x3dbl_1", 1, 1, 64),
              ("mixed3/branch3x3dbl_2", 3, 3, 96), ("mixed3/branch3x3dbl_3", 3, 3, 96)]
    for m, f in ((4, 128), (5, 160), (6, 160), (7, 192)):
        p = f"mixed{m}/"
        roles += [(p + "branch1x1", 1, 1, 192), (p + "branch7x7_1", 1, 1, f), (p + "branch7x7_2", 1, 7, f),
                  (p + "branch7x7_3", 7, 1, 192), (p + "branch7x7dbl_1", 1, 1, f),
                  (p + "branch7x7dbl_2", 7, 1, f), (p + "branch7x7dbl_3", 1, 7, f),
                  (p + "branch7x7dbl_4", 7, 1, f), (p + "branch7x7dbl_5", 1, 7, 192),
                  (p + "branch_pool", 1, 1, 192)]
    roles += [("mixed8/branch3x3_1", 1, 1, 192), ("mixed8/branch3x3_2", 3, 3, 320),
              ("mixed8/branch7x7x3_1", 1, 1, 192), ("mixed8/branch7x7x3_2", 1, 7, 192),
              ("mixed8/branch7x7x3_3", 7, 1, 192), ("mixed8/branch7x7x3_4", 3, 3, 192)]
    for m in (9, 10):
        p = f"mixed{m}/"
        roles += [(p + "branch1x1", 1, 1, 320), (p + "branch3x3", 1, 1, 384), (p + "branch3x3_1", 1, 3, 384),
                  (p + "branch3x3_2", 3, 1, 384), (p + "branch3x3dbl_a", 1, 1, 448),
                  (p + "branch3x3dbl_b", 3, 3, 384), (p + "branch3x3dbl_1", 1, 3, 384),
                  (p + "branch3x3dbl_2", 3, 1, 384), (p + "branch_pool", 1, 1, 192)]
    assert len(roles) == 94, len(roles)
    return roles


CONV_ROLES = _conv_roles()

_AUTO = re.compile(r"^(input_layer|conv2d|batch_normalization|activation|max_pooling2d|average_pooling2d|"
                   r"concatenate)(?:_(\d+))?$")


def keras2_layer_names(model):
    """Names of model.layers as the real (Keras-2-written) file spells them.

    Keras 3 numbers auto-named layers per class from 0 ("conv2d", "conv2d_1", ...) with a per-process
    counter; Keras 2 numbered from 1 ("conv2d_1", ...). Numbers are rebased on the smallest one found in
    this model so a second model built in the same process maps to the same names."""
    parsed = []
    for layer in model.layers:
        m = _AUTO.match(layer.name)
        if m is None:
            parsed.append((layer.name, None))
        else:
            parsed.append((m.group(1), int(m.group(2) or 0)))
    base = {}
    for prefix, k in parsed:
        if k is not None:
            base[prefix] = min(base.get(prefix, k), k)
    names = []
    for prefix, k in parsed:
        if k is None:
            names.append(prefix)
        elif prefix == "input_layer":
            names.append("input_1")
        else:
            names.append(f"{prefix}_{k - base[prefix] + 1}")
    assert len(set(names)) == len(names)
    return names


def creation_number(name):
    """conv2d_12 -> 12 (the 1-based creation order of that layer class)."""
    return int(name.rsplit("_", 1)[1])


# ---------------------------------------------------------------------------------------------------------
# Generation.
# ---------------------------------------------------------------------------------------------------------

def build_model(input_shape=(150, 150, 3)):
    import keras
    return keras.applications.InceptionV3(include_top=False, weights=None, input_shape=input_shape)


def conv_kernel(seed, c, shape):
    """He-uniform kernel of conv c: unit(seed, 1000 + c, j) * float32(sqrt(6 / (kh*kw*cin))), row-major."""
    kh, kw, cin, _ = shape
    scale = np.float32(np.sqrt(6.0 / (kh * kw * cin)))
    n = int(np.prod(shape))
    return (unit(seed, 1000 + c, n) * scale).reshape(shape)


def bn_parameters(seed, b, mean, var):
    """(beta, moving_mean, moving_variance) of BN b from its input statistics m_j, v_j (float64).

    beta is one float32 multiply (exact spec). The moving statistics are computed in float64 from the
    float64 statistics and rounded once to float32; they are committed as fixtures (bn-params.npy)."""
    n = mean.shape[0]
    beta = unit(seed, 2000 + b, n) * np.float32(0.2)
    u_mean = unit(seed, 3000 + b, n).astype(np.float64)
    u_var = unit(seed, 4000 + b, n).astype(np.float64)
    moving_mean = (mean + u_mean * 0.1 * np.sqrt(var)).astype(np.float32)
    moving_var = (var * (1.0 + 0.2 * u_var)).astype(np.float32)
    return beta, moving_mean, moving_var


def generate(model, seed, log=None):
    """Fill `model` (InceptionV3 notop, any input size >= 75) with seeded, calibrated weights, in place.

    Walks model.layers in order, eagerly, keeping every layer's output keyed by its symbolic tensor.
    Before calling BN b it takes the mean and population variance over (N, H, W) of BN b's input (the
    float32 output of conv b, accumulated in float64), sets beta / moving_mean / moving_variance, then
    calls it in inference mode. Returns {"kernels": [...], "bn": [(beta, mean, var), ...], "names": [...]}
    in model.layers order of the weighted layers."""
    import keras

    names = keras2_layer_names(model)
    x = keras.ops.convert_to_tensor(calibration_batch(seed))
    values = {id(model.inputs[0]): x}
    kernels, bns = [], []
    c = b = 0
    for layer, name in zip(model.layers, names):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        node = layer._inbound_nodes[0]
        args, kwargs = node.arguments.fill_in(values)
        if isinstance(layer, keras.layers.Conv2D):
            assert not layer.use_bias
            k = conv_kernel(seed, c, tuple(layer.kernel.shape))
            layer.kernel.assign(k)
            kernels.append(k)
            c += 1
        elif isinstance(layer, keras.layers.BatchNormalization):
            assert not layer.scale and layer.center and abs(layer.epsilon - 1e-3) < 1e-12
            inbound = node.input_tensors[0]._keras_history.operation
            conv_index = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)].index(inbound)
            assert conv_index == b, f"BN {name} is fed by conv #{conv_index}, expected #{b}"
            inp = keras.ops.convert_to_numpy(args[0]).astype(np.float64)
            mean = inp.mean(axis=(0, 1, 2))
            var = ((inp - mean) ** 2).mean(axis=(0, 1, 2))
            beta, mm, mv = bn_parameters(seed, b, mean, var)
            layer.beta.assign(beta)
            layer.moving_mean.assign(mm)
            layer.moving_variance.assign(mv)
            bns.append((beta, mm, mv))
            kwargs = dict(kwargs, training=False)
            b += 1
        out = layer(*args, **kwargs)
        for sym, val in zip(node.outputs, keras.tree.flatten(out)):
            values[id(sym)] = val
        if log and isinstance(layer, keras.layers.BatchNormalization) and b % 10 == 0:
            log(f"  calibrated {b} BN layers")
    assert c == 94 and b == 94, (c, b)
    # The eager walk must agree with the model's own forward pass (same layers, same order of math).
    ref = keras.ops.convert_to_numpy(model(x, training=False))
    walked = keras.ops.convert_to_numpy(values[id(model.outputs[0])])
    assert np.array_equal(ref, walked), "eager layer walk differs from model(x)"
    return {"kernels": kernels, "bn": bns, "names": names}


def apply_bn_parameters(model, bn_params):
    """Set BN weights from a (3, total_channels) array (beta; moving_mean; moving_variance), model order."""
    import keras
    off = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.beta.shape[0]
            layer.beta.assign(bn_params[0, off:off + n])
            layer.moving_mean.assign(bn_params[1, off:off + n])
            layer.moving_variance.assign(bn_params[2, off:off + n])
            off += n
    assert off == bn_params.shape[1]


# ---------------------------------------------------------------------------------------------------------
# Classic weights file.
# ---------------------------------------------------------------------------------------------------------

def _fixed_strings(strings):
    """Fixed-length byte strings, as Keras 2 wrote them (np.asarray of bytes -> dtype S<max>)."""
    return np.asarray([s.encode("utf8") for s in strings])


def write_classic_h5(path, model, names):
    """Write model's weights in the layout of inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5.

    /                  attrs layer_names (S, every layer, model.layers order), backend, keras_version
    /<layer>           attr weight_names (S; an empty float64 array for weightless layers, as Keras 2)
    /<layer>/<layer>/<weight>:0   float32 dataset, contiguous, Keras shape
    Weight order per layer is Keras's legacy order: trainable then non-trainable
    (kernel | beta, moving_mean, moving_variance)."""
    import h5py
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = _fixed_strings(names)
        f.attrs["backend"] = np.bytes_(b"tensorflow")
        f.attrs["keras_version"] = np.bytes_(KERAS_VERSION_ATTR.encode())
        for layer, name in zip(model.layers, names):
            g = f.create_group(name)
            weights = layer.trainable_weights + layer.non_trainable_weights
            if not weights:
                g.attrs["weight_names"] = np.asarray([], dtype=np.float64)
                continue
            wnames = [f"{name}/{w.name}:0" for w in weights]
            g.attrs["weight_names"] = _fixed_strings(wnames)
            for w, wn in zip(weights, wnames):
                g.create_dataset(wn, data=np.asarray(w.numpy(), dtype="<f4"))


def weighted_layers(model):
    return [l for l in model.layers if l.trainable_weights or l.non_trainable_weights]


def check_roundtrip(path, model, input_shape=(150, 150, 3)):
    """Load `path` with Keras's legacy order-based loader into a fresh model; assert bit equality."""
    fresh = build_model(input_shape)
    fresh.load_weights(path)
    src, dst = weighted_layers(model), weighted_layers(fresh)
    assert len(src) == len(dst) == 188
    count = 0
    for a, b in zip(src, dst):
        wa, wb = a.get_weights(), b.get_weights()
        assert len(wa) == len(wb)
        for x, y in zip(wa, wb):
            assert x.dtype == y.dtype == np.float32 and x.shape == y.shape
            assert np.array_equal(x.view(np.uint32), y.view(np.uint32)), f"{a.name} differs after reload"
            count += 1
    return fresh, count


def print_order_report(model, names, out=sys.stdout):
    """Print the Conv2D layers in model.layers order next to their conv2d_bn creation order."""
    import keras
    convs = [(i, n) for i, (l, n) in enumerate(zip(model.layers, names)) if isinstance(l, keras.layers.Conv2D)]
    differ = 0
    print("model.layers order of Conv2D (c = seed index / file order) vs conv2d_bn creation order:", file=out)
    for c, (i, n) in enumerate(convs):
        k = creation_number(n) - 1
        role, kh, kw, f = CONV_ROLES[k]
        layer = model.layers[i]
        assert tuple(layer.kernel.shape[:2]) == (kh, kw) and layer.filters == f, (n, role)
        mark = "" if k == c else "   <- differs from creation order"
        differ += k != c
        print(f"  c={c:2d} layers[{i:3d}] {n:10s} created #{k:2d} {role:24s} {kh}x{kw}x{f}{mark}", file=out)
    print(f"{differ} of 94 convolutions are not in creation order: model.layers (= the weights file) is "
          f"sorted by depth, not by conv2d_bn call order.", file=out)
    return differ


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "out",
                                                  "seeded-inception-v3-notop-seed7.h5"))
    args = ap.parse_args(argv)
    model = build_model()
    print(f"generating seeded InceptionV3 weights, generator v{GENERATOR_VERSION}, seed {args.seed}")
    gen = generate(model, args.seed, log=print)
    print_order_report(model, gen["names"])
    write_classic_h5(args.out, model, gen["names"])
    _, n = check_roundtrip(args.out, model)
    h = hashlib.sha256(open(args.out, "rb").read()).hexdigest()
    print(f"wrote {os.path.abspath(args.out)} ({os.path.getsize(args.out)} bytes, sha256 {h}); "
          f"Keras load_weights reloaded {n} arrays bit-identically")


if __name__ == "__main__":
    main()
