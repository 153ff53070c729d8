"""`StrengthScheduler`: moves every strength along its schedule."""

import warnings

import keras

from keras_regkit import _checks as checks
from keras_regkit._compat import tf_data
from keras_regkit.strengths import StrengthWriter
from keras_regkit.strengths import collect_strengths


class StrengthScheduler(keras.callbacks.Callback):
    """Moves every scheduled strength in the model along its schedule.

    Add it to `fit(callbacks=...)` whenever a regularizer factor, dropout rate
    or augmentation magnitude is a `Schedule`; without it, each strength stays
    at `schedule(0)`. At the start of training it finds every strength in the
    model (layers, nested models, kernel/bias/activity regularizers). It
    updates epoch-unit strengths in `on_epoch_begin(epoch)` (so `initial_epoch`
    and `BackupAndRestore` resume correctly) and step-unit strengths in
    `on_train_batch_begin`, counting steps from `optimizer.iterations` (so a
    reloaded model resumes where it stopped). With `steps_per_execution > 1`
    step-unit values change once per execution. Values are computed on the
    host and written with `assign`; compiled steps read the variables, so
    nothing retraces. Each epoch's values go into `logs` as
    `regkit/<layer>/<argument>` (or `regkit/<layer>/<regularizer>/<argument>`)
    and so into `History`, CSV and TensorBoard logs.

    Our augmentation layers used in a `tf.data` pipeline rather than in the
    model are moved too, from the first epoch boundary after their pipeline
    has made a batch in this fit (each counts the batches it makes there,
    under every backend; a pipeline built and not used is left alone). The
    pipeline reads the strengths' variables as it runs (batches prefetched
    before an epoch begins were made with the previous value). Layers named
    in `layers` are moved from the start.

    Args:
        log_constants: bool, also log strengths that never change. Defaults to
            `False`.
        verbose: int, 0 (quiet) or 1 (print each epoch-unit change). Defaults
            to `0`.
        layers: list of layers outside the model whose scheduled strengths
            are moved too (besides those noted in `tf.data` pipelines).
            Defaults to `None`.

    Raises:
        ValueError: (during `fit`) a schedule gives a value outside the range
            of its argument; the message names owner, argument, schedule,
            time and value.

    Examples:

        >>> import numpy as np
        >>> from keras_regkit import regularizers, schedules
        >>> reg = regularizers.L2(schedules.Linear(0.0, 1e-3, duration=2))
        >>> dense = keras.layers.Dense(1, kernel_regularizer=reg, name="dense")
        >>> model = keras.Sequential([keras.Input((4,)), dense])
        >>> model.compile("sgd", "mse")
        >>> history = model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=3,
        ...                     verbose=0, callbacks=[StrengthScheduler()])
        >>> logged = history.history["regkit/dense/kernel_regularizer/l2"]
        >>> [round(v, 6) for v in logged]
        [0.0, 0.0005, 0.001]
    """

    def __init__(self, log_constants=False, verbose=0, layers=None):
        super().__init__()
        if layers is not None and (
                not isinstance(layers, (list, tuple))
                or not all(isinstance(layer, keras.layers.Layer)
                           for layer in layers)):
            raise checks.invalid("StrengthScheduler", "layers", layers,
                                 "None or a list of Keras layers",
                                 error=TypeError)
        self.layers = list(layers or [])
        self.log_constants = checks.boolean("StrengthScheduler",
                                            "log_constants", log_constants)
        self.verbose = checks.verbose("StrengthScheduler", verbose)
        self.writer = None
        self.strengths = {}
        self._step_strengths = {}
        self._epoch_start_step = 0

    def on_train_begin(self, logs=None):
        self.writer = StrengthWriter.of(self.model, "StrengthScheduler")
        # The model's strengths and those of the layers named here or
        # found running in a tf.data pipeline (which join no model state).
        self.strengths = dict(self.writer.strengths)
        for layer in self.layers:
            collect_strengths(layer, found=self.strengths)
        self._pipeline_uses = tf_data.pipeline_uses()
        self._checked_idle = False
        self.writer.refresh(self.strengths)
        self._find_step_strengths()
        self._epoch_start_step = self._iterations()
        self._update("step", self._epoch_start_step)

    def _iterations(self):
        """The optimizer's step count (read once per epoch, on the host)."""
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not self._step_strengths:
            return 0
        return int(keras.ops.convert_to_numpy(optimizer.iterations))

    def _add_running_pipelines(self):
        """Adds the layers whose `tf.data` pipelines made batches since
        the last look (this fit's data)."""
        uses = tf_data.pipeline_uses()
        before = len(self.strengths)
        for layer, count in uses.items():
            if count > self._pipeline_uses.get(layer, 0):
                collect_strengths(layer, found=self.strengths)
        added = len(self.strengths) > before
        self._pipeline_uses = uses
        if added:
            self._find_step_strengths()

    def _find_step_strengths(self):
        self._step_strengths = {
            path: s for path, s in self.strengths.items()
            if s.unit == "step" and not s.is_constant}

    def on_epoch_begin(self, epoch, logs=None):
        self._add_running_pipelines()
        # What another callback restored (best weights, a backup) is read
        # back, so it is replaced by the scheduled value.
        self.writer.refresh(self.strengths)
        self._epoch_start_step = self._iterations()
        for path, value in self._update("epoch", epoch):
            if self.verbose:
                print(f"Epoch {epoch + 1}: StrengthScheduler set {path} to "
                      f"{value:.6g}.")

    def on_train_batch_begin(self, batch, logs=None):
        if self._step_strengths:
            self._update("step", self._epoch_start_step + batch)

    def on_epoch_end(self, epoch, logs=None):
        self._add_running_pipelines()  # logged from the epoch they ran
        if not self._checked_idle:
            # After one epoch, pipelines that run in this fit are known.
            self._checked_idle = True
            if all(s.is_constant for s in self.strengths.values()):
                warnings.warn(
                    "StrengthScheduler has nothing to move: no regularizer "
                    "factor, rate or magnitude of model "
                    f"{self.model.name!r} (or of the tf.data pipeline it "
                    "trains on) follows a Schedule. Give one a Schedule "
                    "(e.g. Dropout(schedules.Linear(0.0, 0.3, "
                    "duration=10))) or leave the callback out.",
                    stacklevel=2)
        if logs is None:
            return
        for path, strength in self.strengths.items():
            if self.log_constants or not strength.is_constant:
                logs[f"regkit/{path}"] = strength.current

    def _update(self, unit, t):
        """Writes `schedule(t)` to the strengths in `unit`s; lists changes."""
        candidates = (self._step_strengths if unit == "step"
                      else self.strengths)
        return self.writer.schedule(unit, t, candidates)
