"""Stochastic weight averaging (SWA) as a callback.

References:
    Izmailov et al., Averaging Weights Leads to Wider Optima and Better
    Generalization, 2018. https://arxiv.org/abs/1803.05407
"""

import os
import re
import warnings

import keras
import numpy as np

from keras_regkit import _checks as checks
from keras_regkit import _files
from keras_regkit._compat import keras_training
from keras_regkit._compat.jax import host_array
from keras_regkit.callbacks._sharing import share
from keras_regkit.callbacks._sharing import unshare
from keras_regkit.callbacks.batch_norm import batch_norm_layers
from keras_regkit.callbacks.batch_norm import recompute_batch_norm

FOLDER = "regkit_swa"
_STATE = re.compile(r"state-epoch(\d+)\.npz")


def _is_state(name):
    """Whether `name` is a file SWA writes in its backup folder."""
    return _STATE.fullmatch(name) is not None


class SWA(keras.callbacks.Callback):
    """Stochastic weight averaging: the average of the weights along the
    end of training, swapped in for evaluation and at the end.

    From epoch `start_epoch` on, the trainable weights at the end of every
    cycle (`cycle_epochs` epochs) are averaged. With `learning_rate`, SWA
    also sets the optimizer's learning rate from `start_epoch`: constant
    (the paper's SWA), or, with `min_learning_rate`, falling linearly from
    `learning_rate` to `min_learning_rate` over each cycle, step by step
    (the paper's cyclical schedule; averages taken at the cycle's low
    point). Validation during `fit` and the model after `fit` use the
    averaged weights; BatchNormalization statistics, which no averaged
    weights ever produced, are recomputed over `batch_norm_data`
    (`recompute_batch_norm`) each time.

    With `backup_dir` (the folder of `BackupAndRestore`), the average is
    saved after every epoch (atomically, the last two epochs kept), so a
    killed `fit` resumed by `BackupAndRestore` continues it exactly.

    Args:
        start_epoch: int >= 0, the first epoch (counted from 0, as in
            callbacks) whose final weights are averaged.
        learning_rate: float > 0 or None, the SWA learning rate from
            `start_epoch` on; needs an optimizer whose learning rate is a
            number, not a schedule. Defaults to `None` (the optimizer's own
            learning rate or schedule is left alone).
        min_learning_rate: float > 0 or None, the low point of a cyclical
            schedule (needs `learning_rate`). Defaults to `None` (constant).
        cycle_epochs: int >= 1, epochs per cycle; an average is taken at
            the end of each. Defaults to `1`.
        batch_norm_data: training inputs for `recompute_batch_norm`;
            required when the model has BatchNormalization layers. Defaults
            to `None`.
        batch_norm_steps: int or None, batches of `batch_norm_data` used.
            Defaults to `None` (all).
        backup_dir: str or None, the `BackupAndRestore` folder. Defaults to
            `None`.
        verbose: 0 or 1. Defaults to `0`.

    Examples:

        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(0.1), "mse")
        >>> swa = SWA(start_epoch=2, learning_rate=0.05)
        >>> history = model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=4,
        ...                     verbose=0, callbacks=[swa])
        >>> history.history["swa/models"]
        [0.0, 0.0, 1.0, 2.0]
    """

    def __init__(self, start_epoch, learning_rate=None,
                 min_learning_rate=None, cycle_epochs=1,
                 batch_norm_data=None, batch_norm_steps=None,
                 backup_dir=None, verbose=0):
        super().__init__()
        self.start_epoch = checks.integer("SWA", "start_epoch", start_epoch)
        def positive(v):
            return v > 0

        self.learning_rate = None if learning_rate is None else checks.number(
            "SWA", "learning_rate", learning_rate, positive,
            "None or a float > 0")
        self.min_learning_rate = None if min_learning_rate is None else (
            checks.number("SWA", "min_learning_rate", min_learning_rate,
                          positive, "None or a float > 0"))
        if self.min_learning_rate is not None and self.learning_rate is None:
            raise ValueError(
                "SWA received min_learning_rate without learning_rate: a "
                "cyclical schedule goes from learning_rate down to "
                "min_learning_rate."
            )
        if (self.min_learning_rate is not None
                and self.min_learning_rate > self.learning_rate):
            raise checks.invalid(
                "SWA", "min_learning_rate", min_learning_rate,
                f"None or a float in (0, learning_rate={learning_rate}] (a "
                "cycle goes from learning_rate down to min_learning_rate)")
        self.cycle_epochs = checks.integer("SWA", "cycle_epochs",
                                           cycle_epochs, 1)
        self.batch_norm_data = batch_norm_data
        if batch_norm_steps is not None:
            checks.integer("SWA", "batch_norm_steps", batch_norm_steps, 1,
                           "None or an int >= 1")
        self.batch_norm_steps = batch_norm_steps
        self.backup_dir = backup_dir
        self.verbose = checks.verbose("SWA", verbose)
        self.average = None
        self.models = 0
        self._held = self._current_epoch = self._current_rate = None
        self._processed_epoch = self._added_epoch = None
        self._has_batch_norm = False

    # -- averaging ----------------------------------------------------------

    def _averages_at(self, epoch):
        """Whether the weights after `epoch` join the average."""
        return (epoch >= self.start_epoch
                and (epoch - self.start_epoch + 1) % self.cycle_epochs == 0)

    def _add(self):
        weights = [host_array(v).astype("float64")
                   for v in self.model.trainable_variables]
        if self.average is None:
            self.average = weights
        else:
            share = 1.0 / (self.models + 1)
            self.average = [a + (w - a) * share
                            for a, w in zip(self.average, weights, strict=True)]
        self.models += 1

    def _swap_in(self):
        """Puts the averaged weights (and matching BatchNormalization
        statistics) into the model; returns what to put back, or None."""
        if self.average is None:
            return None
        saved = [host_array(v) for v in self.model.variables]
        for variable, value in zip(self.model.trainable_variables,
                                   self.average, strict=True):
            variable.assign(value.astype(variable.dtype))
        if self._has_batch_norm:
            recompute_batch_norm(self.model, self.batch_norm_data,
                                 steps=self.batch_norm_steps)
        return saved

    # -- learning rate ----------------------------------------------------

    def _set_learning_rate(self, epoch, batch):
        if self.learning_rate is None or epoch < self.start_epoch:
            return
        rate = self.learning_rate
        if self.min_learning_rate is not None:
            steps = self.params.get("steps") or 1
            within = (epoch - self.start_epoch) % self.cycle_epochs
            fraction = (within + min(batch + 1, steps) / steps) / (
                self.cycle_epochs)
            rate = (1 - fraction) * self.learning_rate + (
                fraction * self.min_learning_rate)
        self.model.optimizer.learning_rate.assign(rate)
        self._current_rate = rate

    # -- Keras hooks ------------------------------------------------------

    def on_train_begin(self, logs=None):
        self.average, self.models, self._resume_pending = None, 0, True
        self._held, self._current_rate = None, None
        self._has_batch_norm = bool(batch_norm_layers(self.model))
        if self._has_batch_norm and self.batch_norm_data is None:
            raise ValueError(
                f"SWA: the model has BatchNormalization layers "
                f"({', '.join(b.name for b in batch_norm_layers(self.model))})"
                ", whose statistics must be recomputed for the averaged "
                "weights: pass SWA(batch_norm_data=<training inputs>)."
            )
        if self.learning_rate is not None:
            rate = keras_training.learning_rate_state(self.model.optimizer)
            if not isinstance(rate, keras.Variable):
                raise ValueError(
                    "SWA(learning_rate=...) sets the optimizer's learning "
                    "rate, but this optimizer follows a schedule "
                    f"({type(rate).__name__}); give the optimizer a number, "
                    "or leave SWA's learning_rate None to keep the schedule."
                )
        self._processed_epoch = self._added_epoch = None
        self._current_epoch = None
        if self.backup_dir is not None:
            self._folder = os.path.join(os.fspath(self.backup_dir), FOLDER)
            _files.remove_leftovers(self._folder)
            share(self.backup_dir, self)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch
        if self.backup_dir is not None and self._resume_pending:
            self._resume_pending = False
            self._resume(epoch)
        self._set_learning_rate(epoch, -1 if self.min_learning_rate else 0)

    def on_train_batch_begin(self, batch, logs=None):
        if self.min_learning_rate is not None:
            self._set_learning_rate(self._current_epoch, batch)

    def _add_epoch(self, epoch):
        """Averages the weights after `epoch` in, once."""
        if self._averages_at(epoch) and self._added_epoch != epoch:
            self._added_epoch = epoch
            self._add()

    def on_epoch_end(self, epoch, logs=None):
        if self._processed_epoch == epoch:
            return  # done already, for keras_regkit's BackupAndRestore
        self._processed_epoch = epoch
        self._add_epoch(epoch)
        if self.backup_dir is not None:
            self._save(epoch)
        if logs is not None:
            logs["swa/models"] = float(self.models)
            if self._current_rate is not None:
                logs["swa/learning_rate"] = float(self._current_rate)

    def on_test_begin(self, logs=None):
        # Validation in `fit` runs after the epoch's training: that epoch's
        # weights join the average first.
        if self._current_epoch is not None:
            self._add_epoch(self._current_epoch)
        if self._held is None:
            self._held = self._swap_in()

    def on_test_end(self, logs=None):
        if self._held is not None:
            for variable, value in zip(self.model.variables, self._held,
                                       strict=True):
                variable.assign(value)
            self._held = None

    def on_train_end(self, logs=None):
        if self.average is not None:
            self._swap_in()
            if self.verbose:
                print(f"SWA: the model now holds the average of "
                      f"{self.models} weights.")
        else:
            warnings.warn(
                f"SWA averaged nothing: training ended before epoch "
                f"{self.start_epoch + self.cycle_epochs} (start_epoch="
                f"{self.start_epoch}, cycle_epochs={self.cycle_epochs}); "
                "the model keeps its last weights.", stacklevel=2)
        if self.backup_dir is not None:
            _files.remove_ours(self._folder, _is_state)
            unshare(self.backup_dir, self)

    # -- restart support --------------------------------------------------

    def _path(self, epoch):
        return os.path.join(self._folder, f"state-epoch{epoch}.npz")

    def _save(self, epoch):
        os.makedirs(self._folder, exist_ok=True)
        arrays = {} if self.average is None else {
            f"w{i}": a for i, a in enumerate(self.average)}

        def write(path):
            with open(path, "wb") as f:
                np.savez(f, models=np.int64(self.models), **arrays)

        _files.write_atomically(self._path(epoch), write)
        for name in os.listdir(self._folder):
            match = _STATE.fullmatch(name)
            if match and int(match.group(1)) < epoch - 1:
                _files.remove_file(os.path.join(self._folder, name))

    def _resume(self, epoch):
        """Continues the average saved after epoch `epoch - 1` (a fit
        resumed at `epoch`); a fit from epoch 0 starts over."""
        if epoch == 0 or not os.path.isdir(self._folder):
            _files.remove_ours(self._folder, _is_state)
            return
        path = self._path(epoch - 1)
        if not os.path.exists(path):
            if epoch - 1 < self.start_epoch:
                return  # nothing was averaged yet
            raise ValueError(
                f"SWA cannot resume at epoch {epoch + 1}: {self._folder} has "
                f"no state after epoch {epoch}. Give SWA and "
                "BackupAndRestore the same backup_dir."
            )
        shapes = [tuple(v.shape) for v in self.model.trainable_variables]
        try:
            with open(path, "rb") as f, np.load(f) as data:
                models = int(data["models"])
                average = [data[f"w{i}"] for i in range(len(shapes))
                           if f"w{i}" in data.files]
                extra = len(data.files) - 1 - len(average)
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(
                f"SWA cannot resume from {path}: unreadable "
                f"({type(error).__name__}: {error}). Delete the folder to "
                "start over."
            ) from None
        expected = len(shapes) if models else 0
        if (models < 0 or extra or len(average) != expected
                or any(a.shape != s
                       for a, s in zip(average, shapes, strict=False))
                or not all(np.isfinite(a).all() for a in average)):
            raise ValueError(
                f"SWA cannot resume from {path}: it holds {models} averaged "
                f"models and {len(average)} arrays, which do not fit this "
                f"model's {len(shapes)} trainable weights {shapes}. Delete "
                "the folder to start over."
            )
        self.models = models
        self.average = average if models else None
