#!/usr/bin/env python3
"""TensorBoard event fixtures written by TensorFlow itself, and a reader of event folders through TensorFlow.

    python make_tensorboard_fixtures.py                 writes Tests/Fixtures/tensorboard
    python make_tensorboard_fixtures.py --read DIR      prints DIR's events as JSON, read by TensorFlow

The fixtures are a fixed three-epoch history (history.json: the epochs and the wall time of every event) written
as Keras's TensorBoard callback lays out epoch scalars (train/ and validation/, tags epoch_loss and epoch_accuracy,
step = epoch - 1), each event a tensorflow.Event built with TensorFlow's protocol buffer classes and framed by
tf.io.TFRecordWriter (the event file format). headstart's writer must produce these bytes exactly
(PipelineTests.TensorBoardTests); --read is what the same tests use to let TensorFlow's summary_iterator read
headstart's own files where TensorFlow is installed.
"""
import json
import os
import sys

USAGE = "usage: python make_tensorboard_fixtures.py [--read DIR]"

HISTORY = [
    # epoch, loss, accuracy, val_loss, val_accuracy
    (1, 0.6931471805599453, 0.5, 0.7, 0.4375),
    (2, 0.25, 0.875, 0.3125, 0.8125),
    (3, 0.0123456789, 1.0, 0.1, 0.9375),
]
START = 1764720000.25  # wall time of the file-version events
STEP_SECONDS = 1.5     # each epoch's events come this much later than the previous ones


def write_fixtures(out):
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2
    from tensorflow.core.util import event_pb2

    os.makedirs(out, exist_ok=True)
    runs = {"train": [], "validation": []}
    for i, (epoch, loss, acc, val_loss, val_acc) in enumerate(HISTORY):
        t = START + STEP_SECONDS * (i + 1)
        runs["train"].append((t, epoch - 1, loss, acc))
        runs["validation"].append((t, epoch - 1, val_loss, val_acc))
    for run, events in runs.items():
        with tf.io.TFRecordWriter(os.path.join(out, f"{run}.tfevents")) as w:
            w.write(event_pb2.Event(wall_time=START, file_version="brain.Event:2").SerializeToString())
            for t, step, loss, acc in events:
                summary = summary_pb2.Summary(value=[
                    summary_pb2.Summary.Value(tag="epoch_loss", simple_value=loss),
                    summary_pb2.Summary.Value(tag="epoch_accuracy", simple_value=acc)])
                w.write(event_pb2.Event(wall_time=t, step=step, summary=summary).SerializeToString())
    with open(os.path.join(out, "history.json"), "w") as f:
        json.dump({"start": START, "step_seconds": STEP_SECONDS,
                   "epochs": [dict(epoch=e, loss=l, accuracy=a, val_loss=vl, val_accuracy=va) for e, l, a, vl, va in HISTORY],
                   "tensorflow": tf.__version__}, f, indent=1)
        f.write("\n")
    print(f"wrote train.tfevents, validation.tfevents, history.json to {out}")


def read(directory):
    import tensorflow as tf

    out = []
    for root, _, files in sorted(os.walk(directory)):
        for name in sorted(files):
            if "tfevents" not in name:
                continue
            path = os.path.join(root, name)
            for e in tf.compat.v1.train.summary_iterator(path):
                entry = {"run": os.path.relpath(root, directory), "wall_time": e.wall_time, "step": e.step}
                if e.file_version:
                    entry["file_version"] = e.file_version
                entry["values"] = {v.tag: v.simple_value for v in e.summary.value}
                out.append(entry)
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) == 1:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        write_fixtures(os.path.join(root, "Tests", "Fixtures", "tensorboard"))
    elif len(sys.argv) == 3 and sys.argv[1] == "--read":
        read(sys.argv[2])
    else:
        print(USAGE, file=sys.stderr)
        sys.exit(2)
