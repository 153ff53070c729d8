"""Dropout family against Keras's Dropout and keras-cv's layers, one run.

For each input shape, times one training-mode call (forward only, and
forward + backward) of:
  - keras.layers.Dropout vs keras_regkit Dropout (plain and scheduled rate),
  - keras_cv.layers.DropBlock2D vs keras_regkit DropBlock2D, and our
    DropBlock2D against our own Dropout on the same tensor,
  - keras_cv.layers.StochasticDepth vs keras_regkit DropPath (on a residual
    pair),
each in TensorFlow graph mode (`tf.function`) and under XLA
(`tf.function(jit_compile=True)`). Median of repeated runs; ratios are ours
over the reference (below 1 means we are faster). keras-cv rows appear only
where keras-cv installs and its layer runs; a failure is printed as such.

Usage: python benchmarks/dropout.py [--repeats 30]   (TensorFlow backend)
Writes benchmarks/results/dropout.json.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import parser  # noqa: E402
from _common import pin_threads  # noqa: E402
from _common import timed  # noqa: E402
from _common import write_results  # noqa: E402

from keras_regkit import layers  # noqa: E402
from keras_regkit import schedules  # noqa: E402

try:
    import keras_cv
except Exception as error:  # noqa: BLE001 - any import failure means "absent"
    keras_cv = None
    KERAS_CV_ERROR = f"{type(error).__name__}: {error}"


def wait(out):
    """The result on the host, so the timer sees the work finish."""
    return (out[0] if isinstance(out, tuple) else out).numpy()


def make_fn(layer, jit, backward, residual=False):
    def forward(x):
        if residual:
            return layer([x, x], training=True)
        return layer(x, training=True)

    if backward:
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(forward(x))
            return y, tape.gradient(y, x)
    else:
        step = forward
    return tf.function(step, jit_compile=jit)


def main():
    args = parser(__doc__, repeats=30).parse_args()
    pin_threads(args.threads)
    rng = np.random.default_rng(0)
    dense = tf.constant(rng.normal(size=(256, 2048)).astype("float32"))
    maps = tf.constant(rng.normal(size=(32, 32, 32, 64)).astype("float32"))

    pairs = [
        ("Dropout(0.3) 256x2048", dense,
         lambda: keras.layers.Dropout(0.3, seed=1),
         lambda: layers.Dropout(0.3, seed=1), False),
        ("Dropout(scheduled) 256x2048", dense,
         lambda: keras.layers.Dropout(0.3, seed=1),
         lambda: layers.Dropout(schedules.Constant(0.3), seed=1), False),
        ("Dropout(0.3) 32x32x32x64", maps,
         lambda: keras.layers.Dropout(0.3, seed=1),
         lambda: layers.Dropout(0.3, seed=1), False),
        # Reference: our own Dropout on the same tensor (the GPU target is
        # DropBlock at most 2x Dropout; on CPU, XLA no slower than graph).
        ("DropBlock2D(0.1, 7) vs our Dropout", maps,
         lambda: layers.Dropout(0.1, seed=1),
         lambda: layers.DropBlock2D(0.1, block_size=7, seed=1), False),
    ]
    if keras_cv is not None:
        pairs += [
            ("DropBlock2D(0.1, 7) 32x32x32x64", maps,
             lambda: keras_cv.layers.DropBlock2D(0.1, block_size=7, seed=1),
             lambda: layers.DropBlock2D(0.1, block_size=7, seed=1), False),
            ("StochasticDepth(0.2) 32x32x32x64", maps,
             lambda: keras_cv.layers.StochasticDepth(0.2),
             lambda: _ResidualDropPath(0.2), True),
        ]
    rows = []
    for name, x, make_ref, make_ours, residual in pairs:
        for jit in (False, True):
            for backward in (False, True):
                mode = ("XLA" if jit else "graph") + (
                    " fwd+bwd" if backward else " fwd")
                results = {}
                for who, make in (("reference", make_ref), ("ours", make_ours)):
                    try:
                        fn = make_fn(make(), jit, backward, residual)
                        results[who] = timed(lambda fn=fn, x=x: wait(fn(x)),
                                             args.repeats)
                    except Exception as error:  # noqa: BLE001
                        first = str(error).strip().splitlines()[0][:60]
                        results[who] = f"fails: {type(error).__name__}: {first}"
                rows.append((name, mode, results["reference"], results["ours"]))

    header = (f"{'layer':<36}{'mode':<14}{'reference ms':>14}{'ours ms':>10}"
              f"{'ratio':>8}")
    print(f"backend={keras.backend.backend()} repeats={args.repeats} "
          f"threads={args.threads or 'default'} "
          f"(ratio = ours / reference; < 1 is faster)")
    if keras_cv is None:
        print(f"keras-cv not available: {KERAS_CV_ERROR}")
    print(header)
    print("-" * len(header))
    out = []
    for name, mode, ref, ours in rows:
        def fmt(v):
            return f"{1e3 * v:.3f}" if isinstance(v, float) else "n/a"

        ratio = (f"{ours / ref:.3f}" if isinstance(ref, float)
                 and isinstance(ours, float) else "-")
        print(f"{name:<36}{mode:<14}{fmt(ref):>14}{fmt(ours):>10}{ratio:>8}")
        for label, value in (("reference", ref), ("ours", ours)):
            if isinstance(value, str):
                print(f"    {label}: {value}")
        out.append({"layer": name, "mode": mode, "reference": ref,
                    "ours": ours})
    write_results("dropout.json", out)


class _ResidualDropPath(keras.layers.Layer):
    """x + DropPath(residual): what keras-cv's StochasticDepth computes."""

    def __init__(self, rate):
        super().__init__(name="residual_drop_path")
        self.drop = layers.DropPath(rate, seed=1)

    def call(self, inputs, training=False):
        shortcut, residual = inputs
        return shortcut + self.drop(residual, training=training)


if __name__ == "__main__":
    main()
