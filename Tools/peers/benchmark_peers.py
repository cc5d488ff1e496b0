"""The float32 peers of headstart's stage one, measured on the same machine (issue 18).

    python Tools/peers/benchmark_peers.py [--weights notop.h5] [--batch 32] [--iterations 20]
        [--peers onnxruntime,openvino,tflite,tensorflow] [--threads 2] [--workdir /tmp/headstart-peers]

Builds Keras's InceptionV3(include_top=False) cut at mixed7 (150×150×3 → 7×7×768), optionally loads a weights
file in the classic notop layout (headstart's `seeded-weights` or Keras's own), and runs the same model in:

- ONNX Runtime (model exported by Keras `Model.export(format="onnx")`), intra-op threads = --threads;
- OpenVINO reading that ONNX file, INFERENCE_PRECISION_HINT=f32 (its default on AVX-512 CPUs is bf16),
  INFERENCE_NUM_THREADS = --threads, one stream;
- TensorFlow Lite (`TFLiteConverter.from_keras_model`, XNNPACK), num_threads = --threads;
- TensorFlow `predict_on_batch`.

For each it prints one line: median and best ms per batch and images/s over --iterations timed runs (3 warm-up
runs first), and the largest difference from Keras's own output as a fraction of Keras's largest value (the
bound headstart's parity tests use). Speed does not depend on the weights; exactness is checked either way.
Needs: pip install tensorflow-cpu onnxruntime openvino onnx tf2onnx h5py (in a venv outside the repository).
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np


def keras_model(weights):
    import keras
    base = keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(150, 150, 3))
    if weights:
        base.load_weights(weights)
    model = keras.Model(base.input, base.get_layer("mixed7").output)
    model(np.zeros((1, 150, 150, 3), np.float32))  # Keras exports only a model that has been called
    return model


def timed(run, iterations):
    for _ in range(3):
        run()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], times[0]


def onnx_file(model, workdir):
    """The model exported once per distinct set of weights (the file name carries a hash of them)."""
    import hashlib
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights())).hexdigest()
    path = os.path.join(workdir, f"inception-mixed7-{digest[:16]}.onnx")
    if not os.path.exists(path):
        model.export(path, format="onnx", verbose=False)
    return path


def make_onnxruntime(path, threads, batch):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return f"ONNX Runtime {ort.__version__}", lambda x: session.run(None, {name: x})[0]


def make_openvino(path, threads, batch):
    import openvino as ov
    core = ov.Core()
    model = core.read_model(path)
    model.reshape({model.inputs[0].any_name: [batch, 150, 150, 3]})
    compiled = core.compile_model(model, "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("f32", "<Type: 'float32'>"), \
        compiled.get_property("INFERENCE_PRECISION_HINT")

    def run(x):
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()
    return f"OpenVINO {ov.__version__} f32", run


def make_tflite(model, threads, batch):
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    interpreter = tf.lite.Interpreter(model_content=converter.convert(), num_threads=threads)
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    interpreter.resize_tensor_input(inp, [batch, 150, 150, 3])
    interpreter.allocate_tensors()

    def run(x):
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        return interpreter.get_tensor(out)
    return f"TensorFlow Lite {tf.__version__} (XNNPACK)", run


def make_tensorflow(model, threads, batch):
    import tensorflow as tf
    return f"TensorFlow {tf.__version__} predict_on_batch", lambda x: model.predict_on_batch(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", help="notop weights file (classic Keras layout); default: Keras's random init")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peers", default="onnxruntime,openvino,tflite,tensorflow")
    p.add_argument("--workdir", default="/tmp/headstart-peers")
    a = p.parse_args()
    if a.batch < 1 or a.iterations < 1 or a.threads < 1:
        p.error("--batch, --iterations and --threads must be at least 1")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    os.makedirs(a.workdir, exist_ok=True)
    model = keras_model(a.weights)
    x = np.random.default_rng(0).random((a.batch, 150, 150, 3), dtype=np.float32)
    reference = model.predict_on_batch(x)
    scale = float(np.abs(reference).max())
    makers = {
        "onnxruntime": lambda: make_onnxruntime(onnx_file(model, a.workdir), a.threads, a.batch),
        "openvino": lambda: make_openvino(onnx_file(model, a.workdir), a.threads, a.batch),
        "tflite": lambda: make_tflite(model, a.threads, a.batch),
        "tensorflow": lambda: make_tensorflow(model, a.threads, a.batch),
    }
    for peer in a.peers.split(","):
        if peer not in makers:
            p.error(f"unknown peer {peer!r}; choose from {', '.join(makers)}")
        name, run = makers[peer]()
        error = float(np.abs(run(x) - reference).max()) / scale
        med, best = timed(lambda: run(x), a.iterations)
        print(f"{name}: InceptionV3→mixed7 150×150 batch {a.batch}, {a.threads} threads: median {med * 1e3:.1f} ms/batch, "
              f"{a.batch / med:.1f} images/s (best {a.batch / best:.1f}); max|diff| from Keras {error:.1e} of max|Keras|",
              flush=True)


if __name__ == "__main__":
    main()
