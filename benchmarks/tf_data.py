"""Augmentation inside a tf.data pipeline on the current backend: ours
against Keras's layers, one run.

The 4-layer geometric stack (flip + rotate + zoom + translate) maps
batches of 32x224x224x3 uint8 images in `Dataset.map`; Keras's layers
switch to TensorFlow ops there, ours run on the Keras backend through
`tf.numpy_function` under JAX and torch (as TensorFlow ops under
TensorFlow). Prints images per second over the whole pipeline (median of
rounds) and ours / Keras's.

Usage: KERAS_BACKEND=jax python benchmarks/tf_data.py [--repeats 5]
Writes benchmarks/results/tf_data_<backend>.json.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import apply_in_turn  # noqa: E402
from _common import keras_geometric_stack  # noqa: E402
from _common import our_geometric_stack  # noqa: E402
from _common import parser  # noqa: E402
from _common import pin_threads  # noqa: E402
from _common import write_results  # noqa: E402

BATCHES = 8
BATCH = 32


def images_per_second(map_fn, images, repeats):
    ds = tf.data.Dataset.from_tensor_slices(images).batch(BATCH).map(map_fn)
    for _ in ds.take(1):  # tracing, first calls
        pass
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        count = sum(int(batch.shape[0]) for batch in ds)
        rates.append(count / (time.perf_counter() - start))
    return float(np.median(rates))


def main():
    args = parser(__doc__, repeats=5).parse_args()
    pin_threads(args.threads)
    images = np.random.default_rng(0).integers(
        0, 256, (BATCHES * BATCH, 224, 224, 3)).astype("uint8")
    backend = keras.backend.backend()
    # Keras's layers switch to TensorFlow in tf.data one by one.
    keras_rate = images_per_second(apply_in_turn(keras_geometric_stack()),
                                   images, args.repeats)
    our_rate = images_per_second(our_geometric_stack(), images,
                                 args.repeats)
    print(f"backend={backend} threads={args.threads or 'default'} "
          f"{BATCHES} batches of {BATCH}x224x224x3 uint8, 4-layer stack in "
          "Dataset.map")
    print(f"{'impl':<8}{'img/s':>10}")
    print(f"{'keras':<8}{keras_rate:>10,.0f}")
    print(f"{'regkit':<8}{our_rate:>10,.0f}   regkit / keras: "
          f"{our_rate / keras_rate:.2f}x")
    write_results(f"tf_data_{backend}.json",
                  {"backend": backend, "keras_img_per_s": keras_rate,
                   "regkit_img_per_s": our_rate})


if __name__ == "__main__":
    main()
