"""Augmentation in a Grain pipeline on the current backend: ours against
Keras's layers in Grain, and ours in Grain against ours in tf.data, one
interleaved run.

The 4-layer geometric stack (flip + rotate + zoom + translate) maps
batches of 32x224x224x3 uint8 images: in `grain.MapDataset.map` (Grain's
threads; Keras's layers run there eagerly on the CPU, ours compiled under
JAX) and in `tf.data.Dataset.map` (ours). Each round runs each pipeline
over all batches, in alternating order; prints images per second (median
of rounds), the per-round ratios' median, and how many distinct draws
each Grain pipeline made of BATCHES identical batches (Grain's threads
read Keras's seed states at once).

Usage: KERAS_BACKEND=jax python benchmarks/grain_pipeline.py [--rounds 5]
Writes benchmarks/results/grain_pipeline_<backend>.json.
"""

import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import grain  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import apply_in_turn  # noqa: E402
from _common import interleaved  # noqa: E402
from _common import keras_geometric_stack  # noqa: E402
from _common import our_geometric_stack  # noqa: E402
from _common import parser  # noqa: E402
from _common import pin_threads  # noqa: E402
from _common import write_results  # noqa: E402

BATCHES = 8
BATCH = 32


def _keras_map(stack):
    """Keras's layers in turn, as NumPy (what Grain passes on)."""
    apply = apply_in_turn(stack)
    return lambda images: keras.ops.convert_to_numpy(apply(images))


def _grain(map_fn, images):
    batches = grain.MapDataset.source(list(images)).batch(BATCH).map(map_fn)
    return batches.to_iter_dataset(grain.ReadOptions(num_threads=BATCHES))


def _tf_data(map_fn, images):
    return tf.data.Dataset.from_tensor_slices(images).batch(BATCH).map(
        map_fn)


def _distinct_draws(map_fn):
    """Distinct outputs of BATCHES identical batches through Grain."""
    same = np.repeat(np.random.default_rng(1).integers(
        0, 256, (1, 64, 64, 3)).astype("uint8"), BATCHES * BATCH, axis=0)
    return len({np.asarray(batch).tobytes()
                for batch in _grain(map_fn, same)})


def main():
    args = parser(__doc__, training={"rounds": 5}).parse_args()
    pin_threads(args.threads)
    images = np.random.default_rng(0).integers(
        0, 256, (BATCHES * BATCH, 224, 224, 3)).astype("uint8")
    backend = keras.backend.backend()
    pipelines = {
        "keras in grain": _grain(_keras_map(keras_geometric_stack()),
                                 images),
        "regkit in grain": _grain(our_geometric_stack(), images),
        "regkit in tf.data": _tf_data(our_geometric_stack(), images),
    }
    names = list(pipelines)
    times = interleaved(
        [lambda ds=ds: sum(int(np.shape(batch)[0]) for batch in ds)
         for ds in pipelines.values()], args.rounds, warmup=1)
    rates = {name: statistics.median(len(images) / round_[i]
                                     for round_ in times)
             for i, name in enumerate(names)}
    ratio = {name: statistics.median(round_[0] / round_[i]
                                     for round_ in times)
             for i, name in enumerate(names)}
    draws = {"keras in grain": _distinct_draws(
                 _keras_map(keras_geometric_stack())),
             "regkit in grain": _distinct_draws(our_geometric_stack())}
    print(f"backend={backend} threads={args.threads or 'default'} "
          f"{BATCHES} batches of {BATCH}x224x224x3 uint8, "
          f"4-layer stack, {args.rounds} interleaved rounds, Grain with "
          f"{BATCHES} threads")
    print(f"{'pipeline':<20}{'img/s':>9}{'vs keras in grain':>19}"
          f"{'distinct draws':>16}")
    for name in names:
        drawn = draws.get(name)
        print(f"{name:<20}{rates[name]:>9,.0f}{ratio[name]:>18.2f}x"
              f"{'' if drawn is None else f'{drawn} of {BATCHES}':>16}")
    write_results(f"grain_pipeline_{backend}.json",
                  {"backend": backend, "threads": args.threads,
                   "img_per_s": rates,
                   "vs_keras_in_grain": ratio,
                   "distinct_draws_of": BATCHES, "distinct_draws": draws})


if __name__ == "__main__":
    main()
