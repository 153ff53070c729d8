"""Pieces every benchmark script shares: epoch timing, thread pinning and
where results go. Scripts run as `python benchmarks/<name>.py`, so this
module is importable as `_common`."""

import json
import os
import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch, in seconds, in `times`."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def pin_threads(threads):
    """TensorFlow intra/inter-op threads (0 keeps TF's default); one thread
    makes timings steadier on small shared machines. No-op on JAX."""
    if threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def write_results(filename, data, indent=1):
    """Writes `data` as JSON to benchmarks/results/<filename>."""
    folder = os.path.join(os.path.dirname(__file__), "results")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, filename), "w") as f:
        json.dump(data, f, indent=indent)
