"""Stochastic depth that skips the compute: a residual stack's train step.

Times `model.fit` epochs (compiled: XLA on TensorFlow, jit on JAX) of a
stack of MLP residual blocks (a transformer's feed-forward half: width 256,
hidden 1024) three ways at each rate: no stochastic depth, masking
`DropPath` on each branch (the branch runs on every sample), and
`StochasticResidual` (the branch runs on the kept samples only). Ratios are
over masking DropPath at the same rate (below 1 is faster); the ideal is
about `1 - rate` of the branches' share of the step.

Usage: python benchmarks/stochastic_residual.py [--epochs 4] [--steps 20]
       [--batch-size 256] [--rates 0.3,0.5]    (any backend but torch)
Writes benchmarks/results/stochastic_residual.json.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import statistics  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import EpochTimer  # noqa: E402
from _common import parser  # noqa: E402
from _common import pin_threads  # noqa: E402
from _common import write_results  # noqa: E402

from keras_regkit import layers  # noqa: E402

WIDTH, HIDDEN, DEPTH = 256, 1024, 6


def branch(index):
    return keras.Sequential([
        keras.layers.LayerNormalization(),
        keras.layers.Dense(HIDDEN, activation="gelu"),
        keras.layers.Dense(WIDTH),
    ], name=f"branch_{index}")


def build(kind, rate):
    inputs = keras.Input((WIDTH,))
    x = inputs
    for index in range(DEPTH):
        if kind == "StochasticResidual":
            x = layers.StochasticResidual(branch(index), rate, seed=index)(x)
        elif kind == "DropPath":
            x = keras.layers.Add()(
                [x, layers.DropPath(rate, seed=index)(branch(index)(x))])
        else:
            x = keras.layers.Add()([x, branch(index)(x)])
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    model.compile("adam", "sparse_categorical_crossentropy",
                  jit_compile=True)
    return model


def epoch_ms(model, x, y, args):
    timer = EpochTimer()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs + 1,
              verbose=0, callbacks=[timer], shuffle=False)
    # The first epoch compiles.
    return 1e3 * statistics.median(timer.times[1:])


def main():
    cli = parser(__doc__, training={"epochs": 4, "steps": 20,
                                    "batch_size": 256})
    cli.add_argument("--rates", default="0.3,0.5")
    args = cli.parse_args()
    pin_threads(args.threads)
    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    x = rng.normal(size=(n, WIDTH)).astype("float32")
    y = rng.integers(0, 10, size=n)
    keras.utils.set_random_seed(0)
    plain = epoch_ms(build("none", 0.0), x, y, args)
    rows = [("no stochastic depth", 0.0, plain, None)]
    for rate in (float(r) for r in args.rates.split(",")):
        masked = epoch_ms(build("DropPath", rate), x, y, args)
        skipped = epoch_ms(build("StochasticResidual", rate), x, y, args)
        rows.append(("DropPath (mask)", rate, masked, None))
        rows.append(("StochasticResidual", rate, skipped, skipped / masked))

    print(f"backend={keras.backend.backend()} depth={DEPTH} width={WIDTH} "
          f"hidden={HIDDEN} batch={args.batch_size} steps/epoch={args.steps} "
          f"threads={args.threads or 'default'}")
    header = (f"{'variant':<22}{'rate':>6}{'ms/epoch':>11}"
              f"{'vs DropPath':>13}")
    print(header)
    print("-" * len(header))
    for name, rate, ms, ratio in rows:
        shown = f"{ratio:.3f}" if ratio is not None else ""
        print(f"{name:<22}{rate:>6.2f}{ms:>11.1f}{shown:>13}")
    write_results("stochastic_residual.json", [
        {"variant": name, "rate": rate, "ms_per_epoch": ms, "ratio": ratio}
        for name, rate, ms, ratio in rows])


if __name__ == "__main__":
    main()
