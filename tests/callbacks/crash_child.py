"""A training run for the crash tests, killed (SIGKILL) where it is told.

Run as `python crash_child.py FOLDER STORE ORDER [KILL]`: trains a small
model with keras_regkit's EarlyStopping (`backup_dir=FOLDER/backup`,
`weights_store=STORE`) and BackupAndRestore (in `ORDER`: `"stop-first"` or
`"backup-first"`), then SWA (same `backup_dir`, averaging from epoch 3),
resuming from the backup if there is one, and writes
the outcome to `FOLDER/result.json`. `KILL` is `"<n>:<phase>"`: the process
kills itself during its n-th file write, in `phase` `"during"` (the
temporary file half written), `"before"` (written, not moved into place)
or `"after"` (moved into place).
"""

import json
import os
import signal
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_regkit import _files  # noqa: E402
from keras_regkit import callbacks  # noqa: E402
from keras_regkit import regularizers  # noqa: E402
from keras_regkit import schedules  # noqa: E402


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def kill_at(write_number, phase):
    original = _files.write_atomically
    count = [0]

    def patched(path, write):
        count[0] += 1
        if count[0] != write_number:
            return original(path, write)
        if phase == "after":
            original(path, write)
            die()

        def interrupted(temporary):
            write(temporary)
            if phase == "during":
                size = os.path.getsize(temporary)
                with open(temporary, "r+b") as f:
                    f.truncate(size // 2)
            die()

        return original(path, interrupted)

    _files.write_atomically = patched


def main():
    folder, store, order = sys.argv[1:4]
    if len(sys.argv) > 4:
        number, phase = sys.argv[4].split(":")
        kill_at(int(number), phase)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] + rng.normal(size=(64, 1)) * 0.5).astype("float32")
    schedule = schedules.Linear(0.0, 1e-2, duration=10)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(16, activation="relu", name="dense",
                           kernel_regularizer=regularizers.L2(schedule)),
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


if __name__ == "__main__":
    main()
