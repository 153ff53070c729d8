"""`StrengthScheduler`: the one callback that writes strength variables."""

import keras

from keras_regkit._strength import collect_strengths


class _StrengthState(keras.layers.Layer):
    """Carries regularizer strength variables into JAX's jitted train step.

    Under JAX, `fit` passes only the model's own variables in and out of the
    compiled step; any other variable is frozen into the trace as a constant.
    Layer strengths are model weights already, but a regularizer's variable
    belongs to no layer. Attached to the model as a non-trainable sublayer,
    this holder puts those variables in the step's state. It saves nothing:
    the values follow from the schedules and the step count, which the
    scheduler restores at the start of every fit.
    """

    def __init__(self, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.held = []

    def build(self, input_shape=None):
        pass

    def call(self, inputs):
        return inputs

    def save_own_variables(self, store):
        pass

    def load_own_variables(self, store):
        pass


def _expose_to_jax_state(model, strengths):
    """Makes sure every strength variable is part of the model's state."""
    in_state = {id(v) for v in model.non_trainable_variables}
    missing = [
        s.variable
        for s in strengths.values()
        if s.variable is not None and id(s.variable) not in in_state
    ]
    if not missing:
        return
    holder = getattr(model, "_regkit_strength_state", None)
    if holder is None:
        try:
            model._regkit_strength_state = _StrengthState(
                name="regkit_strength_state"
            )
        except ValueError as error:
            raise RuntimeError(
                "StrengthScheduler cannot reach the scheduled regularizer "
                f"factors of model {model.name!r} under the JAX backend: "
                "they must join the model's state, and this built subclassed "
                "model accepts no new state. Use a Functional or Sequential "
                "model, or the TensorFlow backend."
            ) from error
        holder = model._regkit_strength_state
    holder.held.extend(missing)


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

    Args:
        log_constants: bool, also log strengths that never change. Defaults to
            `False`.
        verbose: int, 0 (quiet) or 1 (print each epoch-unit change). Defaults
            to `0`.

    Raises:
        ValueError: (during `fit`) a schedule gives a value outside the range
            of its argument; the message names owner, argument, schedule,
            time and value.

    Example:

    >>> import numpy as np
    >>> from keras_regkit import regularizers, schedules
    >>> reg = regularizers.L2(schedules.Linear(0.0, 1e-3, duration=2))
    >>> dense = keras.layers.Dense(1, kernel_regularizer=reg)
    >>> model = keras.Sequential([keras.Input((4,)), dense])
    >>> model.compile("sgd", "mse")
    >>> history = model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=3,
    ...                     verbose=0, callbacks=[StrengthScheduler()])
    >>> logged = history.history["regkit/dense/kernel_regularizer/l2"]
    >>> [round(v, 6) for v in logged]
    [0.0, 0.0005, 0.001]
    """

    def __init__(self, log_constants=False, verbose=0):
        super().__init__()
        if not isinstance(log_constants, bool):
            raise TypeError(
                "Invalid type for argument `log_constants` of "
                "StrengthScheduler: expected a bool. Received: "
                f"log_constants={log_constants!r}"
            )
        if verbose not in (0, 1):
            raise ValueError(
                "Invalid value for argument `verbose` of StrengthScheduler: "
                f"expected 0 or 1. Received: verbose={verbose!r}"
            )
        self.log_constants = log_constants
        self.verbose = verbose
        self.strengths = {}
        self._step_strengths = {}
        self._epoch_start_step = 0

    def on_train_begin(self, logs=None):
        self.strengths = collect_strengths(self.model)
        if keras.backend.backend() == "jax":
            _expose_to_jax_state(self.model, self.strengths)
        self._step_strengths = {
            path: s
            for path, s in self.strengths.items()
            if s.unit == "step" and not s.is_constant
        }
        self._epoch_start_step = self._iterations()
        self._update("step", self._epoch_start_step)

    def _iterations(self):
        """The optimizer's step count (read once per epoch, on the host)."""
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not self._step_strengths:
            return 0
        return int(keras.ops.convert_to_numpy(optimizer.iterations))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start_step = self._iterations()
        for path, value in self._update("epoch", epoch):
            if self.verbose:
                print(f"Epoch {epoch + 1}: StrengthScheduler set {path} to "
                      f"{value:.6g}.")

    def on_train_batch_begin(self, batch, logs=None):
        if self._step_strengths:
            self._update("step", self._epoch_start_step + batch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for path, strength in self.strengths.items():
            if self.log_constants or not strength.is_constant:
                logs[f"regkit/{path}"] = strength.current

    def _update(self, unit, t):
        """Assigns `schedule(t)` to the strengths in `unit`s; lists changes."""
        candidates = (
            self._step_strengths
            if unit == "step"
            else {p: s for p, s in self.strengths.items() if s.unit == unit}
        )
        changed = []
        synced = False
        for path, strength in candidates.items():
            if strength.is_constant and strength.multiplier == 1.0:
                continue
            value = strength.value_at(t)
            if value == strength.current:
                continue
            if not synced and keras.backend.backend() == "jax":
                # Mid-epoch, JAX's fit keeps the state outside the variables;
                # syncing first makes it pick up the new value next step.
                sync = getattr(self.model, "jax_state_sync", None)
                if sync is not None:
                    sync()
                synced = True
            strength.assign(value)
            changed.append((path, value))
        return changed
