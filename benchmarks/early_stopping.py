"""Epoch-end cost of EarlyStopping's best-weight snapshot, ours vs Keras's.

On a model with over 10M parameters, times what `on_epoch_end` does when the
monitored value improves (every epoch here): Keras's EarlyStopping copies
all weights to the host with `get_weights()`; ours keeps device copies
(`weights_store="device"`, the default), host copies (`"host"`) or a file
(`"disk"`). Median of repeated calls; ratio = ours / Keras.

Usage: python benchmarks/early_stopping.py [--repeats 15]
       KERAS_BACKEND=jax python benchmarks/early_stopping.py
Writes benchmarks/results/early_stopping-<backend>.json.
"""

import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from _common import parser  # noqa: E402
from _common import write_results  # noqa: E402

from keras_regkit import callbacks  # noqa: E402


def build():
    inputs = keras.Input((2048,))
    x = keras.layers.Dense(2048, activation="relu")(inputs)
    x = keras.layers.Dense(2048, activation="relu")(x)
    outputs = keras.layers.Dense(1024)(x)
    return keras.Model(inputs, outputs)


def epoch_end_cost(model, stopper, repeats):
    stopper.set_model(model)
    stopper.on_train_begin()
    times = []
    value = 1.0
    for epoch in range(repeats + 2):
        value *= 0.9  # always an improvement: every call snapshots
        start = time.perf_counter()
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if stopper.best_weights is not None and not isinstance(
            stopper.best_weights, str
        ):
            # Wait for device work to finish before stopping the clock.
            keras.ops.convert_to_numpy(keras.ops.sum(stopper.best_weights[0]))
        times.append(time.perf_counter() - start)
    stopper.on_train_end()
    return statistics.median(times[2:])


def main():
    args = parser(__doc__, repeats=15, threads=False).parse_args()
    model = build()
    params = model.count_params()
    folder = tempfile.mkdtemp()
    variants = {
        "keras EarlyStopping": keras.callbacks.EarlyStopping(
            restore_best_weights=True, patience=100),
        "regkit device": callbacks.EarlyStopping(
            restore_best_weights=True, patience=100),
        "regkit host": callbacks.EarlyStopping(
            restore_best_weights=True, patience=100, weights_store="host"),
        "regkit disk": callbacks.EarlyStopping(
            restore_best_weights=True, patience=100, weights_store="disk",
            weights_path=os.path.join(folder, "best.weights.h5")),
    }
    costs = {name: epoch_end_cost(model, stopper, args.repeats)
             for name, stopper in variants.items()}
    base = costs["keras EarlyStopping"]
    print(f"backend={keras.backend.backend()} params={params:,} "
          f"repeats={args.repeats}")
    header = f"{'variant':<22}{'epoch-end ms':>14}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for name, cost in costs.items():
        print(f"{name:<22}{1e3 * cost:>14.2f}{cost / base:>8.3f}")
    write_results(f"early_stopping-{keras.backend.backend()}.json",
                  {"params": params,
                   "ms": {k: 1e3 * v for k, v in costs.items()}})


if __name__ == "__main__":
    main()
