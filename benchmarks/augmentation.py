"""Augmentation layers against Keras's and keras-aug's, one run.

For each workload (the 4-layer geometric stack flip + rotate + zoom +
translate, a contrast before it, each geometric layer alone,
RandomErasing, MixUp, CutMix, RandAugment, AugMix, RandomElasticTransform,
Mosaic) and each input (128x64x64x3 float32 and 32x224x224x3 uint8),
times one training-mode call in TensorFlow graph mode (`tf.function`) and
under XLA (`tf.function(jit_compile=True)`) for Keras's layers, keras-aug's
(where it installs) and ours. Prints images per second (batch / median
time) and our speed-up over Keras's graph mode and over keras-aug; a
reference that fails (Keras's projective transforms have no XLA kernel) is
printed as "fails".

Usage: python benchmarks/augmentation.py [--repeats 15] [--threads 1]
Writes benchmarks/results/augmentation.json.
"""

import os
import statistics

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import detection_batch  # noqa: E402
from _common import interleaved  # noqa: E402
from _common import keras_geometric_stack  # noqa: E402
from _common import our_geometric_stack  # noqa: E402
from _common import parser  # noqa: E402
from _common import pin_threads  # noqa: E402
from _common import timed  # noqa: E402
from _common import write_results  # noqa: E402

from keras_regkit import layers  # noqa: E402

# Each case compiles its own function on purpose; TensorFlow's "frequent
# retracing" warning about that would only clutter the table.
tf.get_logger().setLevel("ERROR")

try:
    from keras_aug.layers import vision as keras_aug
except Exception as error:  # noqa: BLE001 - any import failure means "absent"
    keras_aug = None
    KERAS_AUG_ERROR = f"{type(error).__name__}: {error}"


def workloads(crop):
    """(name, {implementation: factory}) pairs; a factory returns a layer or
    a list of layers applied in order."""
    aug = {}
    if keras_aug is not None:
        aug = {
            "stack": lambda: keras_aug.RandomAffine(
                degree=36, translate=0.1, scale=0.1, seed=1),
            "flip": lambda: keras_aug.RandomFlip(seed=1),
            "rotation": lambda: keras_aug.RandomRotation(36, seed=1),
            "crop": lambda: keras_aug.RandomCrop(crop, seed=1),
            "erasing": lambda: keras_aug.RandomErasing(p=1.0, seed=1),
            "mixup": lambda: keras_aug.MixUp(seed=1),
            "cutmix": lambda: keras_aug.CutMix(seed=1),
            "randaugment": lambda: keras_aug.RandAugment(seed=1),
        }

    def pick(key):
        return {"keras-aug": aug[key]} if key in aug else {}

    return [
        ("geometric stack (4 layers)",
         {"keras": keras_geometric_stack, **pick("stack"),
          "regkit": our_geometric_stack}),
        # The same four of ours as separate layers, as in a Sequential: no
        # fusion, and XLA fuses each layer into the next one's gathers.
        ("4 layers one by one (ours)",
         {"regkit": lambda: list(our_geometric_stack().layers)}),
        # A colour layer first, then the four: one `Augment` of ours.
        ("contrast + the 4 layers",
         {"keras": lambda: [keras.layers.RandomContrast(0.3, seed=5),
                            *keras_geometric_stack()],
          "regkit": lambda: layers.Augment(
              [layers.RandomContrast(0.3, seed=5),
               *our_geometric_stack().layers])}),
        ("RandomFlip",
         {"keras": lambda: keras.layers.RandomFlip(seed=1), **pick("flip"),
          "regkit": lambda: layers.RandomFlip(seed=1)}),
        ("RandomRotation",
         {"keras": lambda: keras.layers.RandomRotation(0.1, seed=1),
          **pick("rotation"),
          "regkit": lambda: layers.RandomRotation(0.1, seed=1)}),
        ("RandomZoom",
         {"keras": lambda: keras.layers.RandomZoom(0.1, seed=1),
          "regkit": lambda: layers.RandomZoom(0.1, seed=1)}),
        ("RandomTranslation",
         {"keras": lambda: keras.layers.RandomTranslation(0.1, 0.1, seed=1),
          "regkit": lambda: layers.RandomTranslation(0.1, 0.1, seed=1)}),
        ("RandomShear",
         {"keras": lambda: keras.layers.RandomShear(0.1, 0.1, seed=1),
          "regkit": lambda: layers.RandomShear(0.1, 0.1, seed=1)}),
        ("RandomCrop",
         {"keras": lambda: keras.layers.RandomCrop(crop, crop, seed=1),
          **pick("crop"),
          "regkit": lambda: layers.RandomCrop(crop, crop, seed=1)}),
        ("RandomErasing",
         {"keras": lambda: keras.layers.RandomErasing(seed=1),
          **pick("erasing"),
          "regkit": lambda: layers.RandomErasing(seed=1)}),
        ("MixUp",
         {"keras": lambda: keras.layers.MixUp(seed=1), **pick("mixup"),
          "regkit": lambda: layers.MixUp(seed=1)}),
        ("CutMix",
         {"keras": lambda: keras.layers.CutMix(seed=1), **pick("cutmix"),
          "regkit": lambda: layers.CutMix(seed=1)}),
        ("RandAugment",
         {"keras": lambda: keras.layers.RandAugment(seed=1),
          **pick("randaugment"),
          "regkit": lambda: layers.RandAugment(seed=1)}),
        ("AugMix",
         {"keras": lambda: keras.layers.AugMix(seed=1),
          "regkit": lambda: layers.AugMix(seed=1)}),
        ("RandomElasticTransform",
         {"keras": lambda: keras.layers.RandomElasticTransform(seed=1),
          "regkit": lambda: layers.RandomElasticTransform(seed=1)}),
        ("Mosaic", {"regkit": lambda: layers.Mosaic(seed=1)}),
    ]


def make_fn(factory, jit):
    made = factory()
    stack = made if isinstance(made, list) else [made]

    def forward(x):
        for layer in stack:
            x = layer(x, training=True)
        return x

    return tf.function(forward, jit_compile=jit)


def measure(factory, jit, x, repeats):
    try:
        fn = make_fn(factory, jit)
        return timed(lambda: fn(x).numpy(), repeats)
    except Exception as error:  # noqa: BLE001
        first = str(error).strip().splitlines()[0][:70]
        return f"fails: {type(error).__name__}: {first}"


def boxes_and_masks_overhead(x, repeats):
    """Our fused 4-layer stack under XLA on images alone, with 20 boxes per
    image, and with the boxes and a uint8 mask (every fill mode, each
    against images alone with the same fill mode).

    Returns (name, median seconds, median of the per-round time ratios to
    images alone with the same fill mode, or None) tuples. The cases run
    in rounds, one call each, in alternating order, and each round's
    ratio is taken: a ratio of a few percent must not depend on which case
    ran first, nor on the shared machine's load drifting between them."""
    data = {**tf.nest.map_structure(tf.constant,
                                    detection_batch(x.numpy())),
            "images": x}
    boxes_only = {key: data[key] for key in ("images", "bounding_boxes")}
    cases = [("stack (images)", "reflect", {"images": x}),
             ("stack + 20 boxes", "reflect", boxes_only),
             ("stack + 20 boxes + mask", "reflect", data)]
    for mode in ("constant", "wrap", "nearest"):
        cases += [(f"stack, fill_mode={mode}", mode, {"images": x}),
                  ("  + 20 boxes + mask", mode, data)]
    stacks = {}
    for _, mode, _ in cases:
        if mode not in stacks:
            stacks[mode] = our_geometric_stack(mode)
            stacks[mode].bounding_box_format = "rel_xyxy"
    # One compiled function per case: each traces once.
    runs = []
    for _, mode, d in cases:
        call = tf.function(lambda d, layer=stacks[mode]: layer(
            d, training=True), jit_compile=True)
        runs.append(lambda d=d, call=call: call(d)["images"].numpy())
    rounds = interleaved(runs, 3 * repeats)
    alone = {mode: index for index, (_, mode, d) in enumerate(cases)
             if len(d) == 1}
    results = []
    for index, (name, mode, d) in enumerate(cases):
        ratio = None
        if len(d) > 1:
            ratio = statistics.median(
                times[index] / times[alone[mode]] for times in rounds)
        results.append((name, statistics.median(
            times[index] for times in rounds), ratio))
    return results


def main():
    args = parser(__doc__, repeats=15,
                  only="comma-separated workload names to run").parse_args()
    pin_threads(args.threads)
    rng = np.random.default_rng(0)
    inputs = [
        ("128x64x64x3 float32", tf.constant(
            rng.uniform(0, 255, (128, 64, 64, 3)).astype("float32")), 56),
        ("32x224x224x3 uint8", tf.constant(
            rng.integers(0, 256, (32, 224, 224, 3)).astype("uint8")), 192),
    ]
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    print(f"backend={keras.backend.backend()} repeats={args.repeats} "
          f"threads={args.threads or 'default'}; img/s = batch / median "
          "time of one training-mode call")
    if keras_aug is None:
        print(f"keras-aug not available: {KERAS_AUG_ERROR}")
    header = (f"{'workload':<28}{'impl':<11}{'graph img/s':>13}"
              f"{'XLA img/s':>12}{'regkit best / this graph':>26}")
    records = []
    for input_name, x, crop in inputs:
        batch = int(x.shape[0])
        print(f"\n{input_name}")
        print(header)
        print("-" * len(header))
        for name, impls in workloads(crop):
            if only and name not in only:
                continue
            results = {impl: {mode: measure(factory, mode == "XLA", x,
                                            args.repeats)
                              for mode in ("graph", "XLA")}
                       for impl, factory in impls.items()}
            ours = [v for v in results["regkit"].values()
                    if isinstance(v, float)]
            best = min(ours) if ours else None
            failures = []
            for row, (impl, modes) in enumerate(results.items()):
                def rate(v, batch=batch):
                    return (f"{batch / v:,.0f}" if isinstance(v, float)
                            else "fails")

                graph = modes["graph"]
                speedup = "-"
                if impl != "regkit" and best and isinstance(graph, float):
                    speedup = f"{graph / best:.2f}x"
                print(f"{'' if row else name:<28}{impl:<11}"
                      f"{rate(graph):>13}{rate(modes['XLA']):>12}"
                      f"{speedup:>26}")
                for mode, value in modes.items():
                    if isinstance(value, str):
                        failures.append(f"    {impl} {mode}: {value}")
                records.append({"input": input_name, "workload": name,
                                "impl": impl, "graph_s": graph,
                                "xla_s": modes["XLA"]})
            ours_graph, ours_xla = (results["regkit"]["graph"],
                                    results["regkit"]["XLA"])
            if isinstance(ours_graph, float) and isinstance(ours_xla, float):
                print(f"{'':<28}{'':<11}regkit XLA / graph time: "
                      f"{ours_xla / ours_graph:.2f}")
            for line in failures:
                print(line)
        if not only or "boxes" in only:
            for name, value, ratio in boxes_and_masks_overhead(
                    x, args.repeats):
                shown = ("" if ratio is None else
                         f"  time vs images alone: {ratio:.2f}x")
                print(f"{name:<28}{'regkit':<11}{'':>13}"
                      f"{batch / value:>12,.0f}{shown}")
                records.append({"input": input_name, "workload": name,
                                "impl": "regkit", "xla_s": value,
                                "time_vs_images_only": ratio})
    write_results("augmentation.json", records)


if __name__ == "__main__":
    main()
