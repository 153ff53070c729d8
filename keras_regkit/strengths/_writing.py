"""Writing strengths during `fit`: the one writer per model, which owns
the controllers' state and makes the variables part of JAX's step state.

Writers (`StrengthScheduler`, `GapController`) share the model's
`StrengthWriter` (`StrengthWriter.of(model)`). A schedule and a controller
compose: the scheduler writes `schedule(t) * multiplier`, the controller
sets the multiplier (`adjust`). Both go through `Strength.value_at`, the
one place a schedule is evaluated for a write.
"""

import dataclasses

import keras

from keras_regkit._compat.keras_layers import attach_sublayer
from keras_regkit.strengths._collection import collect_strengths

# Where a model keeps its writer and its strength holder (past Keras's
# attribute tracking for the writer; the holder is a tracked sublayer).
_WRITER = "_regkit_strength_writer"
_HOLDER = "_regkit_strength_state"


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


def strength_state_variables(model):
    """The strength variables `StrengthWriter` joined to `model`'s state
    (JAX), which the model's `.weights.h5` files do not hold."""
    holder = getattr(model, _HOLDER, None)
    return list(holder.held) if holder is not None else []


def _expose_to_jax_state(model, strengths, writer):
    """Makes sure every strength variable is part of the model's state."""
    in_state = {id(v) for v in model.non_trainable_variables}
    missing = [
        s.variable
        for s in strengths.values()
        if s.variable is not None and id(s.variable) not in in_state
    ]
    if not missing:
        return
    holder = getattr(model, _HOLDER, None)
    unreachable = RuntimeError(
        f"{writer} cannot reach the scheduled regularizer factors of model "
        f"{model.name!r} under the JAX backend: they must join the model's "
        "state, and this built subclassed model accepts no new state. Use a "
        "Functional or Sequential model, or the TensorFlow backend.")
    if holder is None:
        holder = _StrengthState(name="regkit_strength_state")
        try:
            attach_sublayer(model, _HOLDER, holder)
        except (ValueError, AttributeError, IndexError) as error:
            raise unreachable from error
    holder.held.extend(missing)
    in_state = {id(v) for v in model.non_trainable_variables}
    if any(id(v) not in in_state for v in missing):
        raise unreachable
    # Under a `keras.distribution`, Keras fixes the step's state layout
    # (its output shardings) when `fit` makes the train function, before
    # `on_train_begin`, where the variables above joined the state: the
    # functions made already are made again for the new state.
    if keras.distribution.distribution() is not None:
        for kind in ("train", "test", "predict"):
            if getattr(model, f"{kind}_function", None) is not None:
                getattr(model, f"make_{kind}_function")(force=True)


@dataclasses.dataclass
class _Adjustment:
    """A controller's moves on one strength: the factor on its schedule,
    and the value held while the schedule gives 0."""

    multiplier: float = 1.0
    held: float | None = None


class StrengthWriter:
    """The one way callbacks write a model's strengths during `fit`.

    Finds every strength of `model` (`collect_strengths`); under JAX, makes
    their variables part of the model's state, so the jitted step reads
    them, and syncs the trainer's state before a write mid-epoch, so the
    next step picks the new value up. It owns the controllers' state (each
    strength's multiplier and held value, the time of the last scheduled
    write), so callbacks get the model's writer with `StrengthWriter.of`
    in `on_train_begin`.

    Args:
        model: the model being trained.
        writer: str, the callback's name, for error messages.

    Examples:

        >>> from keras_regkit import layers, schedules
        >>> model = keras.Sequential([keras.Input((2,)), layers.Dropout(
        ...     schedules.Linear(0.0, 0.5, 2), name="drop")])
        >>> writer = StrengthWriter(model, "doc")
        >>> writer.schedule("epoch", 1)
        [('drop/rate', 0.25)]
    """

    def __init__(self, model, writer="StrengthWriter"):
        self.model = model
        self.strengths = {}
        self._adjustments = {}  # id(strength) -> _Adjustment
        self._time = {}  # unit -> the time of the last scheduled write
        self.collect(writer)

    @classmethod
    def of(cls, model, writer="StrengthWriter"):
        """The writer of `model`, made on first use: every callback that
        writes the model's strengths shares it, so a controller's moves
        and the scheduler's time are seen by both (and kept across fits,
        as the variables are). Finds strengths added since."""
        found = getattr(model, _WRITER, None)
        if found is None:
            found = cls(model, writer)
            object.__setattr__(model, _WRITER, found)
        else:
            found.collect(writer)
        return found

    def collect(self, writer="StrengthWriter"):
        """Finds the model's strengths (again: new ones are added) and,
        under JAX, joins their variables to its state."""
        collect_strengths(self.model, found=self.strengths)
        if keras.backend.backend() == "jax":
            _expose_to_jax_state(self.model, self.strengths, writer)

    def _sync(self):
        if keras.backend.backend() == "jax":
            # Mid-epoch, JAX's fit keeps the state outside the variables;
            # syncing first makes it pick up the new value next step.
            sync = getattr(self.model, "jax_state_sync", None)
            if sync is not None:
                sync()

    def refresh(self, strengths=None):
        """Reads every strength's variable back (`Strength.refresh`); call
        at the start of training and of each epoch.

        Args:
            strengths: dict of path to `Strength`. Defaults to the model's.
        """
        for strength in (self.strengths if strengths is None
                         else strengths).values():
            strength.refresh()

    def _adjustment(self, strength):
        return self._adjustments.get(id(strength), _Adjustment())

    def schedule(self, unit, t, strengths=None):
        """Writes each strength in `unit`s its value at time `t`.

        Args:
            unit: `"epoch"` or `"step"`.
            t: the time.
            strengths: dict of path to `Strength` to consider (the model's
                and those of layers outside it, such as a `tf.data`
                pipeline's). Defaults to all of the model's.

        Returns:
            list of `(path, value)` for the strengths that changed.
        """
        self._time[unit] = t
        candidates = self.strengths if strengths is None else strengths
        changed = []
        for path, strength in candidates.items():
            if strength.unit != unit:
                continue
            adjustment = self._adjustment(strength)
            if strength.is_constant and adjustment == _Adjustment():
                continue
            value = strength.value_at(t, adjustment.multiplier,
                                      adjustment.held)
            if value == strength.current:
                continue
            if not changed:
                self._sync()
            strength.assign(value)
            changed.append((path, value))
        return changed

    def adjust(self, strength, value):
        """A controller's move: from now on the value is `value`, and the
        schedule keeps scaling it (the multiplier becomes `value` over the
        schedule's value at the last scheduled time). While the schedule
        gives 0, `value` is held as it is. Returns whether the variable
        changed."""
        base = strength.schedule(self._time.get(strength.unit, 0))
        if base > 0:
            adjustment = _Adjustment(multiplier=value / base)
        else:
            adjustment = _Adjustment(held=value)
        self._adjustments[id(strength)] = adjustment
        self._sync()
        return strength.assign(value)

    def reset(self):
        """Forgets the controllers' moves and goes back to time 0: every
        scheduled strength gets its schedule's first value again (for a
        model trained anew from fresh weights)."""
        self._adjustments.clear()
        self._time.clear()
        for strength in self.strengths.values():
            if strength.variable is not None:
                strength.assign(strength.value_at(0))
