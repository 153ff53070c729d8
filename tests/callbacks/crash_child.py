"""Training runs for the crash tests, killed (SIGKILL) where they are told.

`python crash_child.py` is a small fork server: it imports Keras (JAX
backend), TensorFlow and keras_regkit once, then for each line
`{"folder": ..., "store": ..., "order": ..., "kill": ..., "kill_after":
...}` read from stdin forks a fresh process for one run and answers with
a line `{"returncode": ...}` (-9 when the run was killed). Each run is a
real process of its own, killed with SIGKILL; forking only skips the
imports (JAX has no backend yet in the server, so forking is safe), and
the runs share a JAX compilation cache on disk, so only the first one
compiles.

A run trains a small model with keras_regkit's EarlyStopping
(`backup_dir=FOLDER/backup`, `weights_store=STORE`) and BackupAndRestore
(in `ORDER`: `"stop-first"` or `"backup-first"`), then SWA (same
`backup_dir`, averaging from epoch 3), resuming from the backup if there
is one, and writes the outcome to `FOLDER/result.json`. `kill` is
`"<n>:<phase>"` or `"<kind>:<phase>"`: the run kills itself during its
n-th file write, or its first write of a file of that kind (`kind_of`), in
`phase` `"during"` (the temporary file half written), `"before"`
(written, not moved into place) or `"after"` (moved into place), after
appending the file's kind and the phase to `FOLDER/kills.log`.
`kill_after` (seconds) kills the run at that time instead, wherever it is.
"""

import json
import os
import re
import signal
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

# Imported before forking, as a run would import it (Keras's file
# utilities use TensorFlow's gfile when it is installed).
import tensorflow  # noqa: E402, F401

from keras_regkit import _files  # noqa: E402
from keras_regkit import callbacks  # noqa: E402
from keras_regkit import layers  # noqa: E402
from keras_regkit import regularizers  # noqa: E402
from keras_regkit import schedules  # noqa: E402


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def kind_of(path, folder):
    """A written file's kind: its path in `folder` with numbers as N (in a
    temporary folder elsewhere: `<temp>/` and its name)."""
    path = os.fspath(path)
    if path.startswith(os.fspath(folder) + os.sep):
        path = os.path.relpath(path, folder)
    else:
        path = os.path.join("<temp>", os.path.basename(path))
    return re.sub(r"[0-9]+", "N", path)


def kill_at(folder, target, phase):
    """Kills this process at its `target`-th file write (an int) or at its
    first write of a file of kind `target`, in `phase`."""
    original = _files.write_atomically
    count = [0]

    def note(path):
        with open(os.path.join(folder, "kills.log"), "a") as f:
            f.write(json.dumps({"kind": kind_of(path, folder),
                                "phase": phase}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def patched(path, write, **kwargs):
        count[0] += 1
        if count[0] != target and kind_of(path, folder) != target:
            return original(path, write, **kwargs)
        note(path)
        if phase == "after":
            original(path, write, **kwargs)
            die()

        def interrupted(temporary):
            write(temporary)
            if phase == "during":
                size = os.path.getsize(temporary)
                with open(temporary, "r+b") as f:
                    f.truncate(size // 2)
            die()

        return original(path, interrupted, **kwargs)

    _files.write_atomically = patched


def train(folder, store, order, kill=None):
    os.makedirs(folder, exist_ok=True)
    if kill:
        target, phase = kill.rsplit(":", 1)
        kill_at(folder, int(target) if target.isdigit() else target, phase)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] + rng.normal(size=(64, 1)) * 0.5).astype("float32")
    schedule = schedules.Linear(0.0, 1e-2, duration=10)
    # Random layers, ours and Keras's: a resumed run draws the same masks
    # and flips only if their seed states are in the backup.
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Reshape((2, 2, 1)),
        layers.RandomFlip(seed=1),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu", name="dense",
                           kernel_regularizer=regularizers.L2(schedule)),
        layers.Dropout(0.2, seed=2),
        keras.layers.Dropout(0.1),
        keras.layers.Dense(1, name="head"),
    ])
    model.compile(keras.optimizers.Adam(0.03), "mse", jit_compile=True)
    backup = os.path.join(folder, "backup")
    stopper = callbacks.EarlyStopping(
        patience=3, min_delta=1e-3, restore_best_weights=True,
        backup_dir=backup, smoothing="ema", smoothing_window=2,
        weights_store=store)
    saver = callbacks.BackupAndRestore(backup)
    pair = [stopper, saver] if order == "stop-first" else [saver, stopper]
    # SWA last: the model ends with the average of epochs 3.. whichever
    # order EarlyStopping and BackupAndRestore have.
    averaging = callbacks.SWA(start_epoch=2, backup_dir=backup)
    model.fit(x[:32], y[:32], validation_data=(x[32:], y[32:]), epochs=40,
              verbose=0, shuffle=False,
              callbacks=[callbacks.StrengthScheduler(), *pair, averaging])
    result = {
        "swa_models": averaging.models,
        "stopped_epoch": stopper.stopped_epoch,
        "best_epoch": stopper.best_epoch,
        "best": stopper.best,
        "weights": [w.tolist() for w in model.get_weights()],
    }
    _files.write_text(os.path.join(folder, "result.json"), json.dumps(result))


def run_forked(folder, store, order, kill=None, kill_after=None):
    """One run in a forked process; returns its exit code (-9: killed)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            train(folder, store, order, kill)
        except BaseException:  # reported to the test through stderr
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = None if kill_after is None else time.monotonic() + kill_after
    while True:
        done, status = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)


def serve():
    jax.config.update("jax_compilation_cache_dir",
                      os.environ["REGKIT_CRASH_JAX_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    for line in sys.stdin:
        request = json.loads(line)
        code = run_forked(**request)
        print(json.dumps({"returncode": code}), flush=True)


if __name__ == "__main__":
    serve()
