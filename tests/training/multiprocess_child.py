"""One process of a multi-process JAX training run, for
`test_multiprocess.py`.

`python multiprocess_child.py PROCESS_ID NUM_PROCESSES PORT OUT [DEVICES]
[DIE]` (`DEVICES`: CPU devices per process, default 1) trains the same
small model under each layout in turn: with `NUM_PROCESSES` 1 without
any distribution (the reference), otherwise after
`keras.distribution.initialize` on `localhost:PORT` with gloo CPU
collectives, under `DataParallel` and under a `ModelParallel` layout that
shards the Dense kernels' output units over the processes. Each process
feeds its own part of every global batch (`auto_shard_dataset = False`:
what a user with per-host data loaders does): a slice under
`DataParallel`, the whole batch under the `ModelParallel` layout, whose
batch axis has size 1. Process 0 writes
`OUT` (JSON: per layout, the final weights, the last epoch's logs and the
first weights).

Backups: every run but the `ModelParallel` one keeps them in
`<OUT's folder>/backup-<layout>` (BackupAndRestore, with EarlyStopping and
SWA sharing the folder); a process other than 0 that moves a file into it
exits with code 3 (process 0 alone writes). The `ModelParallel` layout
splits kernels over processes, which BackupAndRestore refuses before
training (checked). With `DIE` = `P:E` only `DataParallel` runs, and
process `P` exits (code 17) as epoch `E` (0-based) begins, after the
backup of the epoch before: the test then kills the others and starts
all again with `DIE` = `-` (`DataParallel` alone), which resumes from the
backup.

The model has our layers (Dropout, GaussianDropout, DropPath), weight
regularizers (scheduled L2, L1L2) and train-step components (clipping,
AGC, SAM, decoupled weight decay, in-step MixUp), so every random draw
and every reduction over the batch crosses the processes; it trains with
our callbacks that keep state on the device (StrengthScheduler,
EarlyStopping restoring the best weights, SWA, RegularizationMonitor), so
their decisions must agree across processes.
"""

import faulthandler
import json
import os
import sys

# Only when run as a script: pytest imports this module to collect its
# doctests (`--doctest-modules`), and an exit timer or another backend
# there would reach the test worker.
if __name__ == "__main__":
    # A process still running after 100 s prints where every thread is and
    # exits (the test gives a run 120 s).
    faulthandler.dump_traceback_later(100, exit=True)
    os.environ["KERAS_BACKEND"] = "jax"
    if len(sys.argv) > 5:
        os.environ["XLA_FLAGS"] = (
            f"--xla_force_host_platform_device_count={int(sys.argv[5])}")

import jax  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402

if __name__ == "__main__":
    jax.config.update("jax_cpu_collectives_implementation", "gloo")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_regkit import callbacks  # noqa: E402
from keras_regkit import layers  # noqa: E402
from keras_regkit import regularizers  # noqa: E402
from keras_regkit import schedules  # noqa: E402
from keras_regkit import training  # noqa: E402

BATCH, EXAMPLES, EPOCHS = 16, 64, 6


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(EXAMPLES, 6)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, EXAMPLES), 3)
    return x, y


def local_slice(array, process, shards):
    """This process's share of every global batch, in order: a
    `1 / shards` slice (the batch axis of the mesh spans the processes),
    or all of it (`shards=1`: the batch axis has size 1, every process
    holds the whole batch)."""
    if shards == 1:
        return array
    per = BATCH // shards
    return np.concatenate([
        array[start + process * per:start + (process + 1) * per]
        for start in range(0, len(array), BATCH)])


class Die(keras.callbacks.Callback):
    """Exits this process (code 17) as epoch `epoch` begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            sys.stdout.flush()
            os._exit(17)


def watch_writes(folder, process):
    """Makes a process other than 0 exit (code 3) when a file is moved into
    `folder`."""
    replace = os.replace

    def checked(source, target, *args, **kwargs):
        if process != 0 and os.path.abspath(target).startswith(folder):
            print(f"process {process} wrote {target}", flush=True)
            os._exit(3)
        return replace(source, target, *args, **kwargs)

    os.replace = checked


def run(distribution, process, processes, shards, backup=None, die=None):
    keras.backend.clear_session()  # the same layer names in every run
    keras.distribution.set_distribution(distribution)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(
        8, activation="tanh", name="hidden",
        kernel_regularizer=regularizers.L2(
            schedules.Linear(0.0, 1e-2, duration=2)))(inputs)
    hidden = layers.Dropout(0.2, seed=1)(hidden)
    hidden = layers.GaussianDropout(0.1, seed=2)(hidden)
    branch = keras.layers.Dense(8, name="branch")(hidden)
    hidden = keras.layers.Add()([hidden, layers.DropPath(0.2, seed=3)(
        branch)])
    outputs = keras.layers.Dense(
        3, name="head", kernel_regularizer=regularizers.L1L2(1e-4, 1e-3))(
        hidden)
    model = training.RegularizedModel(inputs, outputs, components=[
        training.StepMixUp(0.4, seed=4),
        training.SAM(0.05),
        training.GradientClipping(clipnorm=0.5, global_clipnorm=1.0),
        training.AdaptiveGradientClipping(0.05),
        training.DecoupledWeightDecay(0.01),
    ])
    model.compile(keras.optimizers.SGD(0.1),
                  keras.losses.CategoricalCrossentropy(from_logits=True))
    initial = gathered(model.weights)
    x, y = data()
    x, y = local_slice(x, process, shards), local_slice(y, process, shards)
    x_val, y_val = data(seed=1)
    saved = {} if backup is None else {"backup_dir": backup}
    extra = [] if backup is None else [callbacks.BackupAndRestore(backup)]
    if die is not None:
        extra.append(Die(die))
    history = model.fit(
        x, y, batch_size=BATCH // shards, epochs=EPOCHS, shuffle=False,
        verbose=0, validation_data=(local_slice(x_val, process, shards),
                                    local_slice(y_val, process, shards)),
        callbacks=[callbacks.StrengthScheduler(),
                   callbacks.EarlyStopping(
                       patience=3, min_delta=1e-3,
                       restore_best_weights=True, **saved),
                   callbacks.SWA(start_epoch=1, **saved),
                   callbacks.RegularizationMonitor(),
                   SynchronousBatchEnd(), *extra])
    weights = gathered(model.weights)
    logs = {key: float(values[-1])
            for key, values in history.history.items()}
    logs["epochs_run"] = float(len(history.history["loss"]))
    keras.distribution.set_distribution(None)
    return weights, logs, initial


class SynchronousBatchEnd(keras.callbacks.Callback):
    """Batch-end hooks that do nothing: Keras then runs batch-end callbacks
    in the training thread. Without them, Keras converts each batch's logs
    to NumPy in a thread pool while the next step (or evaluation) runs; with
    several devices per process those reads and the step's cross-process
    collectives deadlocked (3 runs in 8, in training and in evaluation)."""

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass


def gathered(variables):
    """Values of `variables`, each whole: one sharded or replicated over
    processes is read with an all-gather (`get_weights` reads local
    devices only)."""
    return [np.asarray(multihost_utils.process_allgather(
        v.value, tiled=True)).tolist() for v in variables]


def refuses_backups(distribution, folder):
    """Whether BackupAndRestore refuses, before training, a model whose
    kernels `distribution` splits over processes."""
    keras.distribution.set_distribution(distribution)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(8, name="hidden")(inputs))
    model.compile("sgd", "mse")
    x = np.ones((BATCH, 6), "float32")
    try:
        model.fit(x, np.ones((BATCH, 8), "float32"), batch_size=BATCH,
                  verbose=0, callbacks=[callbacks.BackupAndRestore(folder)])
    except ValueError as error:
        return "split over the devices of several processes" in str(error)
    finally:
        keras.distribution.set_distribution(None)
    return False


def main():
    process, processes, port, out = (int(sys.argv[1]), int(sys.argv[2]),
                                     sys.argv[3], sys.argv[4])
    die = None
    if len(sys.argv) > 6 and sys.argv[6] != "-":
        dying, epoch = (int(part) for part in sys.argv[6].split(":"))
        die = epoch if dying == process else None
    folder = os.path.abspath(os.path.dirname(out))
    watch_writes(folder, process)
    layouts = {"one process": (None, 1)}
    if processes > 1:
        keras.distribution.initialize(
            job_addresses=f"localhost:{port}", num_processes=processes,
            process_id=process)
        assert jax.process_count() == processes
        devices = jax.devices()
        assert len(devices) == processes * len(jax.local_devices())
        if len(sys.argv) > 5:
            assert len(jax.local_devices()) == int(sys.argv[5])
        data_parallel = keras.distribution.DataParallel(devices=devices)
        mesh = keras.distribution.DeviceMesh(
            (1, len(devices)), ["batch", "model"], devices)
        layout = keras.distribution.LayoutMap(mesh)
        for name in ("hidden", "branch"):
            layout[f"{name}/kernel"] = (None, "model")
        model_parallel = keras.distribution.ModelParallel(
            layout_map=layout, batch_dim_name="batch")
        layouts = {"DataParallel": (data_parallel, processes),
                   "ModelParallel": (model_parallel, 1)}
        for distribution, _ in layouts.values():
            distribution.auto_shard_dataset = False
        if len(sys.argv) > 6:
            layouts.pop("ModelParallel")
        else:
            assert refuses_backups(model_parallel,
                                   os.path.join(folder, "refused"))
    results = {
        name: run(distribution, process, processes, shards,
                  backup=None if name == "ModelParallel" else os.path.join(
                      folder, f"backup-{name.replace(' ', '-')}"),
                  die=die)
        for name, (distribution, shards) in layouts.items()}
    if process == 0:
        with open(out, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()
