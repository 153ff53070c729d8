"""Step time of keras_regkit's regularizing train steps against Keras's fit.

Runs on the backend `KERAS_BACKEND` names (TensorFlow by default; JAX and
torch too) and prints the same table. Trains the same small CNN (batch 64
of 32x32x3; XLA on TensorFlow and JAX, eager on torch) with Keras's own
`fit` and Adam, Keras's `fit` with Adam(clipnorm=1) and with
Adam(global_clipnorm=1), and with `RegularizedModel` and each component.
Rounds alternate the variants so drift hits all alike. Reports the median
and the fastest per-epoch step time (the first epoch, which compiles, is
left out) and each variant's ratio to its Keras reference: clipping against
Keras's clipping, decoupled weight decay against Adam's `weight_decay`
(AdamW's), everything else against the plain step (R-Drop runs twice the
batch). Targets from the issues: clipping <= 1.03x, SAM <= 2.05x,
MixUp/CutMix <= 1.02x; a PGD-k step should cost about k + 1 plain steps
(TRADES-k: k attack passes plus one pass of twice the batch).

Usage: KERAS_BACKEND=jax python benchmarks/train_step.py [--epochs 5]
    [--steps 30] [--rounds 3] [--only "regkit SAM,regkit MixUp"]
Writes benchmarks/results/train_step-<backend>.json.
"""

import os
import statistics

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import EpochTimer  # noqa: E402
from _common import parser  # noqa: E402
from _common import pin_threads  # noqa: E402
from _common import write_results  # noqa: E402

from keras_regkit import training  # noqa: E402

XLA = keras.backend.backend() != "torch"  # torch steps run eagerly


def network():
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same",
                                activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    return inputs, keras.layers.Dense(10, name="classifier")(x)


# name: (reference name, optimizer kwargs, components factory or None)
VARIANTS = {
    "keras": (None, {}, None),
    "keras clipnorm": (None, {"clipnorm": 1.0}, None),
    "keras global_clipnorm": (None, {"global_clipnorm": 1.0}, None),
    "regkit clipnorm": ("keras clipnorm", {}, lambda: [
        training.GradientClipping(clipnorm=1.0)]),
    "regkit global_clipnorm": ("keras global_clipnorm", {}, lambda: [
        training.GradientClipping(global_clipnorm=1.0)]),
    "regkit AGC": ("keras", {}, lambda: [
        training.AdaptiveGradientClipping(0.01)]),
    "regkit SAM": ("keras", {}, lambda: [training.SAM(0.05)]),
    "regkit FGSM (share 0.5)": ("keras", {}, lambda: [
        training.AdversarialTraining(0.03)]),
    "regkit PGD-3": ("keras", {}, lambda: [training.PGD(0.03, steps=3)]),
    "regkit PGD-7": ("keras", {}, lambda: [training.PGD(0.03, steps=7)]),
    "regkit TRADES-3": ("keras", {}, lambda: [
        training.TRADES(0.03, steps=3, from_logits=True)]),
    "regkit gradient noise": ("keras", {}, lambda: [
        training.GradientNoise(0.01)]),
    "regkit MixUp": ("keras", {}, lambda: [training.StepMixUp(0.2)]),
    "regkit CutMix": ("keras", {}, lambda: [training.StepCutMix(1.0)]),
    "keras weight_decay": (None, {"weight_decay": 0.004}, None),
    "regkit decoupled WD": ("keras weight_decay", {}, lambda: [
        training.DecoupledWeightDecay(0.004, exclude=[])]),
    "regkit R-Drop": ("keras", {}, lambda: [
        training.RDrop(1.0, from_logits=True)]),
}


def run(name, args, data):
    _, optimizer_kwargs, components = VARIANTS[name]
    keras.utils.set_random_seed(0)
    inputs, outputs = network()
    if components is None:
        model = keras.Model(inputs, outputs)
    else:
        model = training.RegularizedModel(inputs, outputs,
                                          components=components())
    model.compile(keras.optimizers.Adam(1e-3, **optimizer_kwargs),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=XLA)
    timer = EpochTimer()
    model.fit(*data, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
              callbacks=[timer])
    return [t / args.steps for t in timer.times[1:]]


def main():
    args = parser(__doc__, training={"epochs": 5, "steps": 30,
                                     "batch_size": 64, "rounds": 3},
                  only="comma-separated variants (references are "
                  "added)").parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    for name in list(names):
        reference = VARIANTS[name][0]
        if reference and reference not in names:
            names.insert(0, reference)
    variants = {n: VARIANTS[n] for n in (names or VARIANTS)}
    pin_threads(args.threads)
    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    data = (rng.uniform(0, 1, (n, 32, 32, 3)).astype("float32"),
            rng.integers(0, 10, n))
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name in variants:
            times[name] += run(name, args, data)
    print(f"backend={keras.backend.backend()} jit_compile={XLA} "
          f"batch={args.batch_size} steps/epoch={args.steps} "
          f"epochs={args.epochs} "
          f"rounds={args.rounds} threads={args.threads}")
    header = (f"{'variant':<26}{'median ms':>10}{'min ms':>9}"
              f"{'reference':>24}{'ratio med':>10}{'ratio min':>10}")
    print(header)
    print("-" * len(header))
    out = {}
    for name, (reference, _, _) in variants.items():
        median, fastest = statistics.median(times[name]), min(times[name])
        row = f"{name:<26}{1e3 * median:>10.2f}{1e3 * fastest:>9.2f}"
        if reference is not None:
            ref_median = statistics.median(times[reference])
            ref_min = min(times[reference])
            row += (f"{reference:>24}{median / ref_median:>10.3f}"
                    f"{fastest / ref_min:>10.3f}")
        print(row)
        out[name] = {"median_s": median, "min_s": fastest,
                     "reference": reference}
    print("(min is the fastest epoch, robust to bursts of outside load on "
          "shared machines; median is every epoch's.)")
    write_results(f"train_step-{keras.backend.backend()}.json", out)


if __name__ == "__main__":
    main()
