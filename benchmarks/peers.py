"""Our augmentation against the CPU libraries users pick for speed:
albumentations (OpenCV), torchvision v2, keras-aug and Keras.

Workloads (`--workloads`), each on a batch of 32x224x224x3 uint8 images,
uint8 out, every image drawn on its own:
- geometric: a random horizontal flip, a rotation of up to 18 degrees, a
  zoom of up to 10% and a translation of up to 10% with reflected borders
  (torchvision fills with a constant: it has no reflect mode for affine
  warps); ours is one fused `Augment`.
- resized_crop: a random-resized crop (scale 0.08-1, ratio 3/4-4/3) back
  to 224x224, bilinear (Keras has no such layer).
- erasing: a random erasing of 2-33% of the image filled with 0.
- colour: brightness, contrast, saturation (each +-20%) and hue (+-0.1
  turn), as albumentations' and torchvision's `ColorJitter`; ours and
  Keras's are four layers (ours in one `Augment`). The libraries' ranges
  mean nearly, not exactly, the same.

Each implementation runs in a process of its own (TensorFlow and torch do
not share a process well, and each library sets its threads at start),
started once per workload and thread count; the parent asks them in turn,
alternating the order every round, for one untimed batch followed by a
timed run of consecutive batches (about 0.1 s: throughput, as in a
training loop; a single batch after the process sat idle ran up to 2x
slower on the 2-core VM, most for the fastest implementations), and prints
the median ms/batch and the median of per-round ratios to ours under
TensorFlow XLA.

Usage: python benchmarks/peers.py [--rounds 15] [--threads-list 1,2]
           [--peer-python PATH]
`--peer-python` runs albumentations and torchvision with another Python
(a virtual environment with `pip install albumentations==2.0.8
torchvision`); by default this one. A library that is not installed is
reported as missing. Writes benchmarks/results/peers.json.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

BATCH_SHAPE = (32, 224, 224, 3)
RUN_SECONDS = 0.1  # each timed run: consecutive batches of about this long
DEGREES, ZOOM, SHIFT = 18.0, 0.1, 0.1


def _images():
    import numpy as np

    return np.random.default_rng(0).integers(0, 256, BATCH_SHAPE,
                                             dtype=np.uint8)


def _ours_layers(workload):
    from keras_regkit import layers

    fill = {"fill_mode": "reflect"}
    steps = {
        "geometric": lambda: [
            layers.RandomFlip("horizontal", seed=1),
            layers.RandomRotation(DEGREES / 360.0, seed=2, **fill),
            layers.RandomZoom(ZOOM, seed=3, **fill),
            layers.RandomTranslation(SHIFT, SHIFT, seed=4, **fill)],
        "resized_crop": lambda: [layers.RandomResizedCrop(224, 224, seed=1)],
        "erasing": lambda: [layers.RandomErasing(factor=1.0, fill_value=0.0,
                                                 seed=1)],
        "colour": lambda: [layers.RandomBrightness(0.2, seed=1),
                           layers.RandomContrast(0.2, seed=2),
                           layers.RandomSaturation(0.1, seed=3),
                           layers.RandomHue(0.2, seed=4)],
    }[workload]()
    return layers.Augment(steps, keep_dtype=True)


def _keras_layers(workload):
    import keras

    if workload == "geometric":
        return [keras.layers.RandomFlip("horizontal", seed=1),
                keras.layers.RandomRotation(DEGREES / 360.0, seed=2),
                keras.layers.RandomZoom(ZOOM, seed=3),
                keras.layers.RandomTranslation(SHIFT, SHIFT, seed=4)]
    if workload == "erasing":
        return [keras.layers.RandomErasing(factor=1.0, fill_value=0.0,
                                           seed=1)]
    if workload == "colour":
        return [keras.layers.RandomBrightness(0.2, seed=1),
                keras.layers.RandomContrast(0.2, seed=2),
                keras.layers.RandomSaturation(0.1, seed=3),
                keras.layers.RandomHue(0.2, seed=4)]
    raise ValueError(f"Keras has no layer for {workload}")


def _peer_transform(name, workload):
    """albumentations' or torchvision's transform for `workload`."""
    if name == "albumentations":
        import albumentations as A
        import cv2

        return {
            "geometric": lambda: A.Compose([
                A.HorizontalFlip(p=0.5),
                A.Affine(rotate=(-DEGREES, DEGREES),
                         scale=(1 - ZOOM, 1 + ZOOM),
                         translate_percent=(-SHIFT, SHIFT),
                         border_mode=cv2.BORDER_REFLECT, p=1.0)]),
            "resized_crop": lambda: A.RandomResizedCrop(size=(224, 224)),
            "erasing": lambda: A.Erasing(fill=0, p=1.0),
            "colour": lambda: A.ColorJitter(0.2, 0.2, 0.2, 0.1, p=1.0),
        }[workload]()
    from torchvision.transforms import v2

    return {
        "geometric": lambda: v2.Compose([
            v2.RandomHorizontalFlip(),
            v2.RandomAffine(degrees=DEGREES, translate=(SHIFT, SHIFT),
                            scale=(1 - ZOOM, 1 + ZOOM))]),
        "resized_crop": lambda: v2.RandomResizedCrop(224),
        "erasing": lambda: v2.RandomErasing(p=1.0, value=0),
        "colour": lambda: v2.ColorJitter(0.2, 0.2, 0.2, 0.1),
    }[workload]()


def _make(name, workload):
    """A function that augments one batch and waits for the result."""
    images = _images()
    if name in ("ours (TF XLA)", "Keras (TF graph)"):
        import keras
        import tensorflow as tf

        if name.startswith("ours"):
            stack = _ours_layers(workload)
        else:
            stack = keras.Sequential(_keras_layers(workload))
        fn = tf.function(lambda b: tf.cast(stack(b, training=True),
                                           tf.uint8),
                         jit_compile=name.startswith("ours"))
        x = tf.constant(images)
        return lambda: fn(x).numpy()
    if name == "ours (JAX jit)":
        import jax

        stack = _ours_layers(workload)
        x = jax.numpy.asarray(images)
        stack.build(x.shape)
        step = jax.jit(lambda state, b: stack.stateless_call(
            [], state, b, training=True))
        box = [[v.value for v in stack.non_trainable_variables]]

        def run():
            out, box[0] = step(box[0], x)
            return jax.block_until_ready(out)
        return run
    if name == "albumentations":
        transform = _peer_transform(name, workload)
        return lambda: [transform(image=image)["image"] for image in images]
    if name == "torchvision v2":
        import torch

        transform = _peer_transform(name, workload)
        batch = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        return lambda: [transform(image) for image in batch]
    if name == "keras-aug":
        if workload != "geometric":
            raise ValueError("measured on the geometric workload only")
        import keras_aug

        stack = [keras_aug.layers.vision.RandomHorizontalFlip(),
                 keras_aug.layers.vision.RandomAffine(
                     degree=DEGREES, translate=(SHIFT, SHIFT),
                     scale=(1 - ZOOM, 1 + ZOOM), padding_mode="reflect")]
        import tensorflow as tf

        def apply(b):
            for layer in stack:
                b = layer(b, training=True)
            return b
        fn = tf.function(apply)
        x = tf.constant(images)
        return lambda: fn(x).numpy()
    raise ValueError(name)


def _worker(name, workload, threads):
    """Runs in its own process: answers "run" with one batch's seconds."""
    try:
        if threads:
            try:
                import cv2

                cv2.setNumThreads(threads)
            except ImportError:
                pass
            if "torch" in name:
                import torch

                torch.set_num_threads(threads)
            if "TF" in name or "keras" in name.lower():
                import tensorflow as tf

                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
        run = _make(name, workload)
        for _ in range(3):
            run()
    except Exception as error:  # noqa: BLE001 - reported as the row
        first = (str(error).strip().splitlines() or [""])[0][:60]
        print(json.dumps({"error": f"{type(error).__name__}: {first}"}),
              flush=True)
        return
    # A run of consecutive batches of at least RUN_SECONDS, after one
    # untimed batch: the throughput a training loop sees. (On the 2-core
    # VM a batch right after the process sat idle ran up to 2x slower,
    # most for the fastest implementations.)
    start = time.perf_counter()
    run()
    batches = max(1, math.ceil(RUN_SECONDS / (time.perf_counter() - start)))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        run()
        start = time.perf_counter()
        for _ in range(batches):
            run()
        print(json.dumps({"seconds": (time.perf_counter() - start)
                          / batches}), flush=True)


WORKLOADS = ("geometric", "resized_crop", "erasing", "colour")
IMPLEMENTATIONS = {
    "ours (TF XLA)": "tensorflow", "ours (JAX jit)": "jax",
    "albumentations": None, "torchvision v2": None, "keras-aug": "tensorflow",
    "Keras (TF graph)": "tensorflow"}


def _start(name, workload, threads, peer_python):
    backend = IMPLEMENTATIONS[name]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               OMP_NUM_THREADS=str(threads), KERAS_BACKEND=backend or "")
    if backend == "jax":
        env["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen={threads > 1} "
                            f"intra_op_parallelism_threads={threads}")
    python = peer_python if backend is None else sys.executable
    process = subprocess.Popen(
        [python, os.path.abspath(__file__), "--worker", name, workload,
         str(threads)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env=env)
    answer = json.loads(process.stdout.readline() or
                        '{"error": "the worker died while starting"}')
    if "error" in answer:
        process.kill()
        return None, answer["error"]
    return process, None


def _ask(process):
    process.stdin.write("run\n")
    process.stdin.flush()
    return json.loads(process.stdout.readline())["seconds"]


def _compare(workload, threads, args):
    """{implementation: {"ms", "ratio_to_ours_tf_xla"} or why it is
    missing}, from alternated rounds of one batch each."""
    workers, rows = {}, {}
    for name in IMPLEMENTATIONS:
        process, error = _start(name, workload, threads, args.peer_python)
        if process is None:
            rows[name] = error
        else:
            workers[name] = process
    names = list(workers)
    times = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            times[name].append(_ask(workers[name]))
    for process in workers.values():
        process.stdin.close()
        process.wait()
    reference = times.get("ours (TF XLA)")
    for name in names:
        ratio = (statistics.median(t / r for t, r in zip(
            times[name], reference, strict=True)) if reference else None)
        rows[name] = {"ms": 1000 * statistics.median(times[name]),
                      "ratio_to_ours_tf_xla": ratio}
    return rows


def _print(workload, threads, rows, rounds):
    print(f"\n{workload}, {threads} thread(s), {BATCH_SHAPE[0]}x"
          f"{BATCH_SHAPE[1]}x{BATCH_SHAPE[2]}x3 uint8, {rounds} alternated "
          "rounds")
    print(f"{'implementation':<20}{'ms/batch':>10}{'time / ours (TF XLA)':>22}")
    for name in IMPLEMENTATIONS:
        row = rows[name]
        if isinstance(row, str):
            print(f"{name:<20}  missing or failed: {row}")
        elif row["ratio_to_ours_tf_xla"] is None:
            print(f"{name:<20}{row['ms']:>10.1f}{'-':>22}")
        else:
            print(f"{name:<20}{row['ms']:>10.1f}"
                  f"{row['ratio_to_ours_tf_xla']:>22.2f}")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import write_results

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads-list", default="1,2")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--peer-python", default=sys.executable)
    args = parser.parse_args()
    results = {}
    for workload in args.workloads.split(","):
        for threads in [int(t) for t in args.threads_list.split(",")]:
            rows = _compare(workload, threads, args)
            results.setdefault(workload, {})[threads] = rows
            _print(workload, threads, rows, args.rounds)
    write_results("peers.json", {"batch_shape": BATCH_SHAPE,
                                 "rounds": args.rounds, "results": results})


if __name__ == "__main__":
    main()
