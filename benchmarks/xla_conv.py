"""What `jit_compile=True` costs on the CPU for convolution-heavy models.

Times one training step (`train_on_batch`) of two small image models,
compiled with and without XLA, on the TensorFlow backend: plain
`Conv2D` blocks, and MobileNet-style `DepthwiseConv2D` + 1x1 `Conv2D`
blocks, on 32x96x96x3 float32 batches. Interleaved rounds
(`_common.interleaved`); prints the median ms/step and the median of
per-round ratios XLA / graph (above 1: XLA is slower).

Usage: python benchmarks/xla_conv.py [--rounds 15] [--threads 1]
Writes benchmarks/results/xla_conv.json.
"""

import os
import statistics

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import interleaved  # noqa: E402
from _common import parser  # noqa: E402
from _common import pin_threads  # noqa: E402
from _common import write_results  # noqa: E402


def _model(kind, jit_compile):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((96, 96, 3))
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same",
                            activation="relu")(inputs)
    for filters in (64, 128, 128):
        if kind == "depthwise":
            x = keras.layers.DepthwiseConv2D(3, padding="same",
                                             activation="relu")(x)
            x = keras.layers.Conv2D(filters, 1, activation="relu")(x)
        else:
            x = keras.layers.Conv2D(filters, 3, padding="same",
                                    activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), jit_compile=jit_compile)
    return model


def main():
    args = parser(__doc__, training={"rounds": 15}).parse_args()
    pin_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 96, 96, 3)).astype("float32")
    y = rng.integers(0, 10, 32)
    results = {}
    print(f"train step, 32x96x96x3, threads={args.threads}, "
          f"{args.rounds} interleaved rounds")
    print(f"{'model':<12}{'graph ms':>10}{'XLA ms':>10}{'XLA / graph':>13}")
    for kind in ("conv", "depthwise"):
        models = [_model(kind, jit) for jit in (False, True)]
        steps = [(lambda m=m: m.train_on_batch(x, y)) for m in models]
        times = interleaved(steps, args.rounds)
        graph = 1000 * statistics.median(t[0] for t in times)
        xla = 1000 * statistics.median(t[1] for t in times)
        ratio = statistics.median(t[1] / t[0] for t in times)
        results[kind] = {"graph_ms": graph, "xla_ms": xla, "ratio": ratio}
        print(f"{kind:<12}{graph:>10.1f}{xla:>10.1f}{ratio:>13.2f}")
    write_results("xla_conv.json", {"threads": args.threads,
                                    "rounds": args.rounds,
                                    "results": results})


if __name__ == "__main__":
    main()
