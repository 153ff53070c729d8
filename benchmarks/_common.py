"""Pieces every benchmark script shares: the command line, timing, thread
pinning and where results go. Scripts run as `python benchmarks/<name>.py`,
so this module is importable as `_common`."""

import argparse
import json
import os
import statistics
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


def keras_geometric_stack():
    """Keras's flip + rotate + zoom + translate, as a list of layers."""
    return [keras.layers.RandomFlip(seed=1),
            keras.layers.RandomRotation(0.1, seed=2),
            keras.layers.RandomZoom(0.1, seed=3),
            keras.layers.RandomTranslation(0.1, 0.1, seed=4)]


def apply_in_turn(stack):
    """A map function calling each layer of `stack` (a list) in turn, in
    training mode: how Keras's layers run in a pipeline."""

    def apply(images):
        for layer in stack:
            images = layer(images, training=True)
        return images

    return apply


def our_geometric_stack(fill_mode="reflect"):
    """The same four layers of ours, fused in one `Augment` (`fill_mode`:
    Keras's default, `"reflect"`, unless given)."""
    from keras_regkit import layers

    fill = {"fill_mode": fill_mode}
    return layers.Augment([layers.RandomFlip(seed=1),
                           layers.RandomRotation(0.1, seed=2, **fill),
                           layers.RandomZoom(0.1, seed=3, **fill),
                           layers.RandomTranslation(0.1, 0.1, seed=4,
                                                    **fill)])


def detection_batch(images, boxes_per_image=20, seed=1):
    """`images` (a `(B, H, W, C)` array) with random `rel_xyxy` boxes and a
    uint8 class-id mask per image, as Keras's dict (numpy arrays)."""
    import numpy as np

    batch, height, width = (int(d) for d in images.shape[:3])
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 0.5, (batch, boxes_per_image, 2))
    size = rng.uniform(0.1, 0.5, (batch, boxes_per_image, 2))
    return {
        "images": images,
        "bounding_boxes": {
            "boxes": np.concatenate([corner, corner + size],
                                    -1).astype("float32"),
            "labels": rng.integers(0, 9, (batch, boxes_per_image)).astype(
                "int32")},
        "segmentation_masks": rng.integers(
            0, 9, (batch, height, width, 1)).astype("uint8"),
    }


def write_results(filename, data, indent=1):
    """Writes `data` as JSON to benchmarks/results/<filename>."""
    folder = os.path.join(os.path.dirname(__file__), "results")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, filename), "w") as f:
        json.dump(data, f, indent=indent)


def timed(fn, repeats, warmup=2):
    """Median wall time of `fn()` in seconds over `repeats` calls, after
    `warmup` calls (tracing, compilation). `fn` must wait for its result
    (e.g. end in `.numpy()`), so the clock measures the work."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(fns, rounds, warmup=2):
    """Wall times of `fns` run in rounds, one call of each per round, in
    alternating order (forward, then backward): a list of `rounds` lists,
    one time in seconds per function. Per-round ratios of these cancel the
    load a shared machine drifts through, which separate medians do not.
    Each `fn` must wait for its result, as for `timed`."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    result = []
    for round_ in range(rounds):
        times = [0.0] * len(fns)
        order = range(len(fns)) if round_ % 2 == 0 else \
            reversed(range(len(fns)))
        for index in order:
            start = time.perf_counter()
            fns[index]()
            times[index] = time.perf_counter() - start
        result.append(times)
    return result


def parser(doc, repeats=None, training=None, only=None, threads=True):
    """The benchmarks' command line: the options a script asks for.

    Args:
        doc: the script's docstring (its first line describes it).
        repeats: default of `--repeats`, or None for no such option.
        training: dict of defaults for `--epochs`, `--steps`,
            `--batch-size`, `--rounds`, or None for none of them.
        only: help text of `--only` (a comma-separated subset), or None.
        threads: whether to offer `--threads` (TensorFlow threads).
    """
    result = argparse.ArgumentParser(description=doc.splitlines()[0])
    if repeats is not None:
        result.add_argument("--repeats", type=int, default=repeats)
    for name, default in (training or {}).items():
        result.add_argument(f"--{name.replace('_', '-')}", type=int,
                            default=default)
    if only is not None:
        result.add_argument("--only", default="", help=only)
    if threads:
        result.add_argument(
            "--threads", type=int, default=1,
            help="TensorFlow intra/inter-op threads (0: TF's default); 1 "
            "makes timings steadier on small shared machines")
    return result
