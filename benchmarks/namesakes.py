"""Every layer of ours with a Keras namesake against Keras's, in the four
places users run them: a TensorFlow graph (`tf.function`, TensorFlow's CPU
default), TensorFlow under XLA (`jit_compile=True`), JAX's `jit`, and a
`tf.data` map (TensorFlow backend).

Both layers get the same arguments (ours are drop-ins) and the same input:
16x160x160x3 float32 images in [0, 255] for the image layers,
16x40x40x32 float32 feature maps for the dropout family (3D for
SpatialDropout1D, 5D for SpatialDropout3D). Each setting times one
training-mode call of each layer in interleaved rounds
(`_common.interleaved`) and prints the median of the per-round ratios
ours / Keras's (below 1: ours is faster); a Keras layer that fails in a
setting is reported as such. The tf.data column times taking 4 batches
from the iterator of a dataset mapped by the layer (one iterator for the
run, as within an epoch).

The JAX column runs in a second process (a process has one Keras
backend). With `--threads 1` (the default) both processes use one CPU
thread.

Usage: python benchmarks/namesakes.py [--rounds 7] [--only Dropout,...]
Writes benchmarks/results/namesakes.json.
"""

import json
import os
import statistics
import subprocess
import sys

IMAGE_SHAPE = (16, 160, 160, 3)
FEATURE_SHAPE = (16, 40, 40, 32)
DATASET_BATCHES = 4

# name: (positional args, keyword args, input kind). Arguments as a user
# would write them for Keras's layer.
CASES = {
    "RandomFlip": ((), {}, "image"),
    "RandomCrop": ((128, 128), {}, "image"),
    "RandomRotation": ((0.1,), {}, "image"),
    "RandomZoom": ((0.1,), {}, "image"),
    "RandomTranslation": ((0.1, 0.1), {}, "image"),
    "RandomShear": ((), {"x_factor": 0.2, "y_factor": 0.2}, "image"),
    "RandomPerspective": ((), {"factor": 0.5, "scale": 0.2}, "image"),
    "RandomElasticTransform": ((), {}, "image"),
    "RandomBrightness": ((0.2,), {}, "image"),
    "RandomContrast": ((0.2,), {}, "image"),
    "RandomSaturation": ((0.3,), {}, "image"),
    "RandomHue": ((0.2,), {}, "image"),
    "RandomGrayscale": ((), {}, "image"),
    "RandomErasing": ((), {}, "image"),
    "MixUp": ((), {}, "image"),
    "CutMix": ((), {}, "image"),
    "RandAugment": ((), {}, "image"),
    "AugMix": ((), {}, "image"),
    "Dropout": ((0.3,), {}, "features"),
    "GaussianDropout": ((0.3,), {}, "features"),
    "SpatialDropout1D": ((0.3,), {}, "sequence"),
    "SpatialDropout2D": ((0.3,), {}, "features"),
    "SpatialDropout3D": ((0.3,), {}, "volume"),
}
SETTINGS = ("TF graph", "TF XLA", "tf.data", "JAX jit")


def _input(kind):
    import numpy as np

    rng = np.random.default_rng(0)
    if kind == "image":
        return rng.uniform(0, 255, IMAGE_SHAPE).astype("float32")
    shape = {"features": FEATURE_SHAPE, "sequence": (16, 1600, 32),
             "volume": (16, 12, 12, 12, 32)}[kind]
    return rng.normal(size=shape).astype("float32")


def _layers(name):
    import keras

    from keras_regkit import layers

    args, kwargs, kind = CASES[name]
    return (getattr(layers, name)(*args, seed=1, **kwargs),
            getattr(keras.layers, name)(*args, seed=1, **kwargs), kind)


def _failure(error):
    first = (str(error).strip().splitlines() or [""])[0][:50]
    return f"fails: {type(error).__name__}: {first}"


def _tensorflow_runners(name, setting):
    import tensorflow as tf

    ours, theirs, kind = _layers(name)
    x = tf.constant(_input(kind))
    runners = []
    for layer in (ours, theirs):
        if setting == "tf.data":
            # One iterator for the whole run: an iterator's start costs
            # some 25 ms, which an epoch pays once.
            # No prefetch TensorFlow would inject: it computes batches in
            # the background while the other layer is timed.
            options = tf.data.Options()
            options.experimental_optimization.inject_prefetch = False
            options.autotune.enabled = False
            batches = iter(tf.data.Dataset.from_tensors(x).repeat().map(
                lambda b, layer=layer: layer(b, training=True)
            ).with_options(options))

            def run(batches=batches):
                for _ in range(DATASET_BATCHES):
                    batch = next(batches)
                return batch.numpy()
        else:
            fn = tf.function(lambda b, layer=layer: layer(b, training=True),
                             jit_compile=setting == "TF XLA")

            def run(fn=fn):
                return fn(x).numpy()
        runners.append(run)
    return runners


def _jax_runners(name, setting):
    import jax

    ours, theirs, kind = _layers(name)
    x = jax.numpy.asarray(_input(kind))
    runners = []
    for layer in (ours, theirs):
        layer.build(x.shape)
        step = jax.jit(lambda state, b, layer=layer: layer.stateless_call(
            [], state, b, training=True))
        state = [v.value for v in layer.non_trainable_variables]

        def run(step=step, box=[state]):  # noqa: B006 - the state box
            out, box[0] = step(box[0], x)
            return jax.block_until_ready(out)
        runners.append(run)
    return runners


def _measure(names, settings, rounds):
    """{name: {setting: [ours ms, Keras ms, ratio] or a failure}} on this
    process's backend."""
    import keras

    sys.path.insert(0, os.path.dirname(__file__))
    from _common import interleaved

    make = (_jax_runners if keras.backend.backend() == "jax"
            else _tensorflow_runners)
    results = {}
    for name in names:
        for setting in settings:
            try:
                ours, theirs = make(name, setting)
            except Exception as error:  # noqa: BLE001 - reported as a row
                results.setdefault(name, {})[setting] = _failure(error)
                continue
            cell = []
            for who, run in (("ours", ours), ("Keras", theirs)):
                try:
                    run()
                except Exception as error:  # noqa: BLE001
                    cell = f"{who} {_failure(error)}"
                    break
            if not cell:
                times = interleaved([ours, theirs], rounds)
                cell = [1000 * statistics.median(t[0] for t in times),
                        1000 * statistics.median(t[1] for t in times),
                        statistics.median(t[0] / t[1] for t in times)]
            results.setdefault(name, {})[setting] = cell
            print(f"  {name:<24}{setting:<10}{_cell(cell)}", file=sys.stderr,
                  flush=True)
    return results


def _cell(cell):
    if isinstance(cell, str):
        return cell
    return f"{cell[0]:8.1f} {cell[1]:8.1f} {cell[2]:6.2f}"


def _child(backend, names, rounds, threads):
    """Runs this script's measurement under `backend` in a new process."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    if threads == 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_cpu_multi_thread_eigen=false"
                            " intra_op_parallelism_threads=1").strip()
    settings = ["JAX jit"] if backend == "jax" else list(SETTINGS[:3])
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(
            {"names": names, "settings": settings, "rounds": rounds,
             "threads": threads})],
        env=env, stdout=subprocess.PIPE, check=True)
    return json.loads(done.stdout)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        job = json.loads(sys.argv[2])
        sys.path.insert(0, os.path.dirname(__file__))
        from _common import pin_threads

        pin_threads(job["threads"])
        print(json.dumps(_measure(job["names"], job["settings"],
                                  job["rounds"])))
        return
    sys.path.insert(0, os.path.dirname(__file__))
    from _common import parser
    from _common import write_results

    args = parser(__doc__, training={"rounds": 7},
                  only="comma-separated layer names").parse_args()
    names = [n for n in args.only.split(",") if n] or list(CASES)
    results = _child("tensorflow", names, args.rounds, args.threads)
    for name, cells in _child("jax", names, args.rounds,
                              args.threads).items():
        results[name].update(cells)
    print(f"ours / Keras's time per setting: median of per-round ratios "
          f"({args.rounds} interleaved rounds, threads={args.threads}); "
          "< 1 means ours is faster")
    print(f"{'layer':<24}" + "".join(f"{s:>12}" for s in SETTINGS))
    worst = (0.0, "")
    for name in names:
        row = f"{name:<24}"
        for setting in SETTINGS:
            cell = results[name].get(setting, "not run")
            if isinstance(cell, list):
                row += f"{cell[2]:>12.2f}"
                worst = max(worst, (cell[2], f"{name}, {setting}"))
            else:  # "Keras fails: ..." / "ours fails: ..."
                row += f"{' '.join(cell.split()[:2]).rstrip(':'):>12}"
        print(row)
    print(f"highest ratio: {worst[0]:.2f} ({worst[1]}); ms per call and "
          "errors in benchmarks/results/namesakes.json")
    write_results("namesakes.json", {
        "image_shape": IMAGE_SHAPE, "feature_shape": FEATURE_SHAPE,
        "rounds": args.rounds, "threads": args.threads,
        "results": results})


if __name__ == "__main__":
    main()
