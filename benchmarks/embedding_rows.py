"""Embedding regularization at recommender scale: the row penalty against
Keras's full-table penalty and against none.

A 1,000,000 x 64 table, batches of 1,024 examples of 10 ids, the ids
mean-pooled into a Dense(1), mse, SGD (whose update follows the gradient's
sparsity where the backend keeps it: TensorFlow's IndexedSlices). Three
variants: no regularizer; Keras's `Embedding(embeddings_regularizer=L2)`;
ours, `keras_regkit.layers.Embedding(rows_regularizer=L2)` (each distinct
looked-up row once). Each run is its own process (so its peak resident
memory is its own), timed over `--steps` steps per epoch after a first
epoch that compiles; rounds alternate the order. Prints the median step
time and peak memory of each and the ratios. Issue goal: ours within 10%
of no regularizer, and at least 20x faster than Keras's full table.

Usage: python benchmarks/embedding_rows.py [--backends tensorflow,jax]
    [--rounds 3] [--steps 20] [--epochs 3] [--rows 1000000]
Writes benchmarks/results/embedding_rows.json.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys

VARIANTS = ("none", "keras full-table L2", "regkit rows L2")
DIM, IDS, BATCH, L2 = 64, 10, 1024, 1e-4


def child(variant, args):
    """One run: prints {"step_s": [...], "peak_rss_mb": ...} as JSON."""
    import keras
    import numpy as np
    from _common import EpochTimer

    from keras_regkit import layers

    keras.utils.set_random_seed(0)
    kwargs = {}
    cls = keras.layers.Embedding
    if variant == "keras full-table L2":
        kwargs["embeddings_regularizer"] = keras.regularizers.L2(L2)
    elif variant == "regkit rows L2":
        cls = layers.Embedding
        kwargs["rows_regularizer"] = keras.regularizers.L2(L2)
    inputs = keras.Input((IDS,), dtype="int32")
    x = cls(args.rows, DIM, **kwargs)(inputs)
    outputs = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.01), "mse", jit_compile=True)
    rng = np.random.default_rng(0)
    n = args.steps * BATCH
    ids = rng.integers(0, args.rows, (n, IDS)).astype("int32")
    y = rng.normal(size=(n, 1)).astype("float32")
    timer = EpochTimer()
    model.fit(ids, y, batch_size=BATCH, epochs=args.epochs, verbose=0,
              shuffle=False, callbacks=[timer])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"step_s": [t / args.steps for t in timer.times[1:]],
                      "peak_rss_mb": peak}))


def run_child(backend, variant, args):
    env = {**os.environ, "KERAS_BACKEND": backend,
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, __file__, "--child", variant,
               "--rows", str(args.rows), "--steps", str(args.steps),
               "--epochs", str(args.epochs)]
    result = subprocess.run(command, env=env, capture_output=True,
                            text=True, check=False,
                            cwd=os.path.dirname(__file__))
    if result.returncode != 0:
        raise SystemExit(f"{backend} {variant} failed:\n"
                         f"{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, os.path.dirname(__file__))
        return child(args.child, args)
    results = {}
    for backend in args.backends.split(","):
        runs = {variant: [] for variant in VARIANTS}
        for round_ in range(args.rounds):
            order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                runs[variant].append(run_child(backend, variant, args))
        results[backend] = runs
        times = {v: statistics.median(t for r in runs[v] for t in r["step_s"])
                 for v in VARIANTS}
        peaks = {v: max(r["peak_rss_mb"] for r in runs[v]) for v in VARIANTS}
        print(f"backend={backend} table={args.rows}x{DIM} batch={BATCH}x"
              f"{IDS} ids SGD jit_compile=True rounds={args.rounds} "
              f"steps/epoch={args.steps}")
        header = (f"{'variant':<22}{'median ms':>10}{'peak RSS MB':>13}"
                  f"{'vs none':>9}{'vs keras':>10}")
        print(header)
        print("-" * len(header))
        for variant in VARIANTS:
            print(f"{variant:<22}{1e3 * times[variant]:>10.2f}"
                  f"{peaks[variant]:>13.0f}"
                  f"{times[variant] / times['none']:>9.3f}"
                  f"{times[variant] / times['keras full-table L2']:>10.3f}")
        print()
    folder = os.path.join(os.path.dirname(__file__), "results")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "embedding_rows.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
