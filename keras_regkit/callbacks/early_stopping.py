"""`EarlyStopping`: Keras's, plus relative deltas, smoothing, cheaper
snapshots and state that survives a restart."""

import os
import shutil
import tempfile
import warnings

import keras
import numpy as np

from keras_regkit import _checks as checks
from keras_regkit import _files
from keras_regkit._compat.jax import host_array
from keras_regkit._compat.keras_callbacks import EarlyStoppingHooks
from keras_regkit._lock import FileLock
from keras_regkit.callbacks._restart_state import RestartState
from keras_regkit.callbacks._sharing import share
from keras_regkit.callbacks._sharing import unshare
from keras_regkit.callbacks.backup import check_weights_whole_in_each_process
from keras_regkit.strengths import strength_state_variables

_STORES = ("device", "host", "disk")
_SMOOTHING = (None, "ema", "mean")

_TEMP_PREFIX = "regkit-early-stopping-"
_OWNER = "owner.lock"  # held by the fit using the folder


class EarlyStopping(EarlyStoppingHooks):
    """Stops training when a monitored metric stops improving.

    A strict superset of `keras.callbacks.EarlyStopping`: the same arguments,
    defaults and behaviour (including restoring the best weights at the end
    of training when it ran to the end without stopping, and resetting at
    every `fit`, so one instance can be reused), plus:

    - `min_delta_mode="relative"`: an improvement must beat the best value by
      `min_delta * |best|` instead of `min_delta`;
    - `smoothing`: decide on a moving average (`"mean"` over the last
      `smoothing_window` epochs) or an exponential moving average (`"ema"`,
      span `smoothing_window`) of a noisy metric;
    - `weights_store`: where best weights live. `"device"` (default) keeps
      copies as tensors next to the model: no host transfer per improvement,
      unlike Keras's `get_weights()`. `"host"` keeps NumPy copies (Keras's
      way). `"disk"` writes a `.weights.h5` file, for models too large to
      copy;
    - `backup_dir`: a folder (use the same as `BackupAndRestore`) where the
      callback's state (wait, best, best epoch, smoothing, best weights) is
      saved every epoch and restored when `fit` is run again after a crash,
      so the resumed run stops at the same epoch with the same weights as
      an uninterrupted one. Files are written under temporary names and
      moved into place (a crash at any instant leaves a consistent
      backup); the state is checked when `fit` starts (a damaged or
      hand-edited backup is an error naming the file, before any
      training). The state of the last two epochs is kept, so a crash
      between this callback's save and `BackupAndRestore`'s resumes
      exactly; with Keras's `BackupAndRestore` put `EarlyStopping` first in
      `callbacks`, with keras_regkit's either order works. A fit that
      starts at epoch 1 is a new run: a leftover backup is ignored, with a
      warning. The folder is deleted when training ends normally;
    - `best`, `best_epoch`, `stopped_epoch` and `wait` are attributes, and
      go into `logs` every epoch as `early_stopping/best`,
      `early_stopping/best_epoch` and `early_stopping/wait` (and
      `early_stopping/smoothed` with `smoothing`): one value per epoch,
      NaN while there is none yet (before `start_from_epoch`), so
      `History` stays rectangular.

    With an optimizer EMA (`use_ema=True`), Keras writes the moving averages
    into the model right before `on_train_end`; restoring the best weights
    then replaces them with the raw weights of the best epoch. To end on
    EMA weights, leave `restore_best_weights=False`.

    Args:
        monitor: quantity to monitor. Defaults to `"val_loss"`.
        min_delta: float, minimum change that counts as an improvement.
            Defaults to `0`.
        patience: int, epochs without improvement before stopping. Defaults
            to `0`.
        verbose: 0 or 1. Defaults to `0`.
        mode: `"auto"`, `"min"` or `"max"` (an unknown mode is an error, not
            a silent fallback as in Keras). Defaults to `"auto"`.
        baseline: float or None, a value the metric must beat. Defaults to
            `None`.
        restore_best_weights: bool. Defaults to `False`.
        start_from_epoch: int, epochs to wait before monitoring. Defaults to
            `0`.
        min_delta_mode: `"absolute"` or `"relative"`. Defaults to
            `"absolute"`.
        smoothing: None, `"mean"` or `"ema"`. Defaults to `None`.
        smoothing_window: int >= 1. Defaults to `5`.
        weights_store: `"device"`, `"host"` or `"disk"`. Defaults to
            `"device"`.
        weights_path: path of the `.weights.h5` file for `"disk"`. Defaults
            to a temporary file.
        backup_dir: str or None, see above. Defaults to `None`.

    Raises:
        ValueError: for an invalid argument.

    Examples:

        >>> stop = EarlyStopping(patience=3, restore_best_weights=True,
        ...                      smoothing="ema", smoothing_window=3)
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
        min_delta_mode="absolute",
        smoothing=None,
        smoothing_window=5,
        weights_store="device",
        weights_path=None,
        backup_dir=None,
    ):
        owner = "EarlyStopping"
        if not isinstance(monitor, str) or not monitor:
            raise checks.invalid(owner, "monitor", monitor,
                                 'the name of a logged metric (a str such '
                                 'as "val_loss")', error=TypeError)
        if baseline is not None:
            checks.number(owner, "baseline", baseline,
                          expected="None or a finite float")
        checks.boolean(owner, "restore_best_weights", restore_best_weights)
        checks.integer(owner, "start_from_epoch", start_from_epoch)
        checks.verbose(owner, verbose)
        for name, value in (("backup_dir", backup_dir),
                            ("weights_path", weights_path)):
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise checks.invalid(owner, name, value,
                                     "None or a path (str or os.PathLike)",
                                     error=TypeError)
        checks.choice(owner, "mode", mode, ("auto", "min", "max"),
                      expected='one of "auto", "min", "max"')
        checks.number(owner, "min_delta", min_delta,
                      expected="a finite float")
        checks.integer(owner, "patience", patience)
        checks.choice(owner, "min_delta_mode", min_delta_mode,
                      ("absolute", "relative"),
                      expected='"absolute" or "relative"')
        checks.choice(owner, "smoothing", smoothing, _SMOOTHING,
                      expected='None, "mean" or "ema"')
        checks.integer(owner, "smoothing_window", smoothing_window, 1)
        checks.choice(owner, "weights_store", weights_store, _STORES,
                      expected='one of "device", "host", "disk"')
        if weights_path is not None and (
            weights_store != "disk"
            or not str(weights_path).endswith(".weights.h5")
        ):
            raise checks.invalid(owner, "weights_path", weights_path,
                                 'a path ending in ".weights.h5", with '
                                 'weights_store="disk"')
        super().__init__(
            monitor=monitor,
            min_delta=min_delta,
            patience=patience,
            verbose=verbose,
            mode=mode,
            baseline=baseline,
            restore_best_weights=restore_best_weights,
            start_from_epoch=start_from_epoch,
        )
        self.min_delta_mode = min_delta_mode
        self.smoothing = smoothing
        self.smoothing_window = smoothing_window
        self.weights_store = weights_store
        self.weights_path = weights_path
        self.backup_dir = backup_dir
        self._history = []
        self._smoothed = None
        self._temp_dir = self._temp_lock = None
        self._restart = None
        self._processed_epoch = None
        self._snapshot_epoch = None

    # -- monitoring -----------------------------------------------------

    def is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        if self.min_delta_mode == "absolute":
            return super().is_improvement(monitor_value, reference_value)
        # min_delta carries the sign Keras gave it (negative in min mode).
        delta = self.min_delta * abs(reference_value)
        return bool(self.monitor_op(monitor_value - delta, reference_value))

    def _smooth(self, value):
        if self.smoothing is None:
            return value  # exactly what Keras compares
        self._history.append(float(value))
        self._history = self._history[-self.smoothing_window:]
        if self.smoothing == "mean":
            self._smoothed = float(np.mean(self._history))
        else:
            alpha = 2.0 / (self.smoothing_window + 1.0)
            previous = self._smoothed
            self._smoothed = float(value) if previous is None else (
                alpha * float(value) + (1 - alpha) * previous
            )
        return self._smoothed

    # -- best-weight snapshots --------------------------------------------

    def _store(self):
        # Device snapshots need a real Keras model; anything else (a test
        # double with get/set_weights) gets host copies.
        if not isinstance(self.model, keras.Model):
            return "host"
        return self.weights_store

    def _disk_path(self):
        if self.weights_path is not None:
            return os.fspath(self.weights_path)
        if self._temp_dir is None:
            self._temp_dir, self._temp_lock = _new_temp_dir()
        return os.path.join(self._temp_dir, "best.weights.h5")

    def _own_disk_path(self):
        """Whether the disk store is this process's temporary folder (each
        process of a multi-process run writes its own), not the shared
        `weights_path`."""
        return self.weights_path is None

    def _kept_weights(self):
        """The weights the best snapshot holds: the model's, less the
        scheduled regularizer factors joined to its state. The scheduler
        sets those from the step count and a `.weights.h5` file does not
        hold them, so every store restores the same thing."""
        held = {id(v) for v in strength_state_variables(self.model)}
        return [w for w in self.model.weights if id(w) not in held]

    def _host_weights(self):
        if not isinstance(self.model, keras.Model):
            return self.model.get_weights()  # a test double
        return [host_array(w) for w in self._kept_weights()]

    def _snapshot(self, epoch):
        store = self._store()
        if store == "device":
            self.best_weights = [keras.ops.copy(w.value)
                                 for w in self._kept_weights()]
        elif store == "host":
            self.best_weights = self._host_weights()
        else:
            path = self._disk_path()
            _files.write_atomically(
                path, lambda temporary: self.model.save_weights(
                    temporary, overwrite=True),
                every_process=self._own_disk_path())
            self.best_weights = path
        self._snapshot_epoch = epoch

    def _restore(self):
        store = self._store()
        if store == "device" or (store == "host"
                                 and isinstance(self.model, keras.Model)):
            for weight, value in zip(self._kept_weights(), self.best_weights,
                                     strict=True):
                weight.assign(value)
        elif store == "host":
            self.model.set_weights(self.best_weights)
        else:
            self.model.load_weights(self.best_weights)

    def _host_copy_of_best(self):
        store = self._store()
        if store == "device":
            return [host_array(v) for v in self.best_weights]
        return list(self.best_weights)

    # -- Keras hooks ------------------------------------------------------

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._history = []
        self._smoothed = None
        self._processed_epoch = None
        self._snapshot_epoch = None
        self._restart = None
        if self._store() == "disk":
            check_weights_whole_in_each_process(self.model, "EarlyStopping")
        if self.backup_dir is not None:
            # Read and checked now, before any training; which saved state
            # applies is known at the first epoch (see `_resume`).
            disk = self._store() == "disk"
            self._restart = RestartState(self.backup_dir, disk)
            self._restart.read([tuple(w.shape)
                                for w in self._kept_weights()])
            self._resume_pending = True
            share(self.backup_dir, self)

    def on_epoch_begin(self, epoch, logs=None):
        if self._restart is not None and self._resume_pending:
            self._resume_pending = False
            self._resume(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self._processed_epoch == epoch:
            return  # done already, for keras_regkit's BackupAndRestore
        self._processed_epoch = epoch
        if self.monitor_op is None:
            self.set_monitor_op()
        raw = self.get_monitor_value(logs)
        if raw is not None and epoch >= self.start_from_epoch:
            if np.all(np.isfinite(raw)):
                self._decide(epoch, self._smooth(raw))
            else:
                # Not an improvement (as in Keras), and kept out of the best
                # value and the smoothing, which it would poison for good.
                warnings.warn(
                    f"EarlyStopping: {self.monitor}={raw} at epoch "
                    f"{epoch + 1} is not finite; it counts as an epoch "
                    "without improvement and is left out of the best value "
                    "and the smoothing.", stacklevel=2)
                self._decide(epoch, None)
        if logs is not None:
            # One value per epoch, every epoch (NaN until there is one), so
            # `History` stays rectangular (`pandas.DataFrame(history)`).
            logs["early_stopping/wait"] = self.wait
            logs["early_stopping/best_epoch"] = self.best_epoch
            logs["early_stopping/best"] = (
                float(self.best)
                if self.best is not None and np.ndim(self.best) == 0
                else float("nan"))
            if self.smoothing is not None:
                logs["early_stopping/smoothed"] = (
                    float("nan") if self._smoothed is None
                    else self._smoothed)
        if self._restart is not None:
            self._save_restart_state(epoch)

    def _decide(self, epoch, current):
        """Keras's decision rule, applied to the (smoothed) value; `current`
        None (a non-finite value) is never an improvement."""
        if self.restore_best_weights and self.best_weights is None:
            self._snapshot(epoch)
            self.best_epoch = epoch
        self.wait += 1
        if current is not None and self.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self._snapshot(epoch)
            if self.baseline is None or self.is_improvement(
                current, self.baseline
            ):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print("Restoring model weights from the end of the best "
                      f"epoch: {self.best_epoch + 1}.")
            self._restore()
        if self._restart is not None:
            self._restart.remove()
            unshare(self.backup_dir, self)
        if self._temp_dir is not None and self.weights_path is None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_lock.release(remove=False)
            self._temp_dir = self._temp_lock = None

    # -- restart support --------------------------------------------------

    def _save_restart_state(self, epoch):
        weights = None
        if self.best_weights is not None:
            weights = self._restart.weights_name(self._snapshot_epoch)
        state = {
            "epoch": epoch,
            "wait": self.wait,
            "best": None if self.best is None else float(self.best),
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "history": self._history,
            "smoothed": self._smoothed,
            "weights": weights,
        }

        def write_weights(path):
            if self._store() == "disk":
                shutil.copyfile(self.best_weights, path)
            else:
                np.savez(path, *self._host_copy_of_best())

        self._restart.write(state, write_weights)

    def _resume(self, epoch):
        """Continues from the saved state after epoch `epoch - 1`.

        A fit that starts at epoch 0 is a new run: a leftover backup is
        ignored (with a warning) and replaced. A fit that resumes at epoch
        `k` (as `BackupAndRestore` or `initial_epoch` makes it) continues
        from the state saved after epoch `k - 1`, so the resumed run ends
        exactly as an uninterrupted one.
        """
        states = self._restart.states
        if not states:
            return
        if epoch == 0:
            warnings.warn(
                f"EarlyStopping ignores the backup in {self._restart.folder}: "
                "this fit starts at epoch 1, so it is a new run, not the "
                "resumed one (BackupAndRestore resumes after the last saved "
                "epoch). The backup is replaced as this run goes.",
                stacklevel=2)
            self._restart.states = []
            return
        match = [s for s in states if s["epoch"] == epoch - 1]
        if not match:
            saved = [s["epoch"] + 1 for s in states]
            raise ValueError(
                f"EarlyStopping cannot resume from {self._restart.path}: it "
                f"holds the state after epoch(s) {saved}, but fit resumes at "
                f"epoch {epoch + 1}. Give BackupAndRestore and EarlyStopping "
                "the same backup_dir, and either put EarlyStopping first in "
                "`callbacks` or use keras_regkit.callbacks.BackupAndRestore "
                "(which saves EarlyStopping's state before its own)."
            )
        state = match[0]
        self._restart.adopt(state)
        self.wait = state["wait"]
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.stopped_epoch = state["stopped_epoch"]
        self._history = list(state["history"])
        self._smoothed = state["smoothed"]
        if state["weights"] is None:
            return
        self._snapshot_epoch = self._restart.weights_epoch(state)
        store = self._store()
        if store == "disk":
            path = self._disk_path()
            source = self._restart.weights_path(state)
            _files.write_atomically(
                path, lambda temporary: shutil.copyfile(source, temporary),
                every_process=self._own_disk_path())
            self.best_weights = path
            return
        host = self._restart.load_arrays(state)
        if store == "device":
            self.best_weights = [keras.ops.convert_to_tensor(a) for a in host]
        else:
            self.best_weights = host


def _new_temp_dir():
    """A temporary folder for the disk store, and the lock on it this
    process holds while the folder is in use. Folders whose lock can be
    taken belong to processes that are gone (killed): they are removed;
    any other folder is left alone (see `keras_regkit._lock`)."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        if name.startswith(_TEMP_PREFIX):
            _remove_if_abandoned(os.path.join(root, name))
    folder = tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-")
    return folder, FileLock.create_held(os.path.join(folder, _OWNER))


def _remove_if_abandoned(folder):
    path = os.path.join(folder, _OWNER)
    if os.path.islink(folder) or not os.path.isfile(path):
        return  # not provably ours, or still being made
    lock = FileLock(path)
    try:
        taken = lock.acquire()
    except OSError:
        return
    if taken:
        shutil.rmtree(folder, ignore_errors=True)
        lock.release(remove=False)
