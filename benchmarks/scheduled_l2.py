"""Step time of a scheduled keras_regkit L2 against keras.regularizers.L2.

Trains the same CNN twice per round, once with Keras's `L2(1e-4)` on every
kernel and once with `keras_regkit.regularizers.L2(Linear(0, 1e-4, ...))`
plus `StrengthScheduler` (the factor changes every epoch), alternating the
two so drift hits both alike. Reports the median and the fastest per-epoch
step time of each (the first epoch, which compiles, is left out), their
ratios, and how many times each fit traced its train step.

Usage:
    python benchmarks/scheduled_l2.py [--epochs 6] [--steps 40] [--rounds 3]
    KERAS_BACKEND=jax python benchmarks/scheduled_l2.py
Writes the numbers to benchmarks/results/scheduled_l2-<backend>.json.
"""

import argparse
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import EpochTimer  # noqa: E402
from _common import parser  # noqa: E402
from _common import pin_threads  # noqa: E402
from _common import write_results  # noqa: E402

from keras_regkit import callbacks  # noqa: E402
from keras_regkit import regularizers  # noqa: E402
from keras_regkit import schedules  # noqa: E402


class TraceCounter(keras.layers.Layer):
    """Identity layer; counts traced (non-symbolic) calls."""

    traces = 0

    def call(self, x):
        if not isinstance(x, keras.KerasTensor):
            TraceCounter.traces += 1
        return x


def build(regularizer_factory):
    inputs = keras.Input((32, 32, 3))
    x = TraceCounter()(inputs)
    for filters in (32, 64):
        x = keras.layers.Conv2D(
            filters, 3, padding="same", activation="relu",
            kernel_regularizer=regularizer_factory(),
        )(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(
        128, activation="relu", kernel_regularizer=regularizer_factory()
    )(x)
    outputs = keras.layers.Dense(
        10, kernel_regularizer=regularizer_factory())(x)
    return keras.Model(inputs, outputs)


def run(variant, args, data):
    keras.utils.set_random_seed(0)
    if variant == "keras L2":
        model = build(lambda: keras.regularizers.L2(1e-4))
        extra = []
    else:
        schedule = schedules.Linear(0.0, 1e-4, duration=args.epochs - 1)
        model = build(lambda: regularizers.L2(l2=schedule))
        extra = [callbacks.StrengthScheduler()]
    model.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=args.jit,
    )
    timer = EpochTimer()
    TraceCounter.traces = 0
    x, y = data
    model.fit(
        x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
        shuffle=False, callbacks=[*extra, timer],
    )
    steps = len(x) // args.batch_size
    return [t / steps for t in timer.times[1:]], TraceCounter.traces


def main():
    command = parser(__doc__, training={"epochs": 6, "steps": 40,
                                        "batch_size": 64, "rounds": 3})
    command.add_argument("--jit", action=argparse.BooleanOptionalAction,
                         default=True)
    args = command.parse_args()
    pin_threads(args.threads)
    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    data = (
        rng.normal(size=(n, 32, 32, 3)).astype("float32"),
        rng.integers(0, 10, size=(n,)),
    )
    variants = ["keras L2", "regkit scheduled L2"]
    step_times = {v: [] for v in variants}
    traces = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            times, count = run(variant, args, data)
            step_times[variant].extend(times)
            traces[variant].append(count)
    base = statistics.median(step_times["keras L2"])
    base_min = min(step_times["keras L2"])
    backend = keras.backend.backend()
    print(
        f"backend={backend} jit_compile={args.jit} batch={args.batch_size} "
        f"steps/epoch={args.steps} epochs={args.epochs} rounds={args.rounds}"
    )
    header = (f"{'variant':<22}{'median ms':>11}{'ratio':>8}{'min ms':>9}"
              f"{'ratio':>8}{'traces per fit':>16}")
    print(header)
    print("-" * len(header))
    results = {}
    for variant in variants:
        median = statistics.median(step_times[variant])
        fastest = min(step_times[variant])
        results[variant] = {
            "median_step_ms": 1e3 * median,
            "median_ratio": median / base,
            "min_step_ms": 1e3 * fastest,
            "min_ratio": fastest / base_min,
            "epoch_step_ms": [1e3 * t for t in step_times[variant]],
            "traces_per_fit": traces[variant],
        }
        print(
            f"{variant:<22}{1e3 * median:>11.3f}{median / base:>8.3f}"
            f"{1e3 * fastest:>9.3f}{fastest / base_min:>8.3f}"
            f"{str(sorted(set(traces[variant]))):>16}"
        )
    print("(min is the fastest epoch: robust to the bursts of outside load "
          "that shared 2-core machines show; median is every epoch's.)")
    write_results(f"scheduled_l2-{backend}.json",
                  {"args": vars(args), "results": results}, indent=2)


if __name__ == "__main__":
    main()
