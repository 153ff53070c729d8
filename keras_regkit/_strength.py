"""Strengths: the bridge from a float or schedule to a variable read on device.

A class declares each scheduled constructor argument once, in its body:

    class Dropout(StochasticLayer):
        rate = Scheduled(RATE)          # a scalar strength
    class RandomRotation(GeometricAugmentation):
        factor = ScheduledRange((-1.0, 1.0))   # a (low, high) range

and its `__init__` assigns it (`self.rate = rate`). The declaration checks
the value, registers a `Strength`, exposes the attribute (the plain float
given, or the strength variable of a schedule) and serializes it:
`declared_config(obj)` gives every declared argument as it was given, for
`get_config`. Compiled code reads `obj.strength("rate").value`.

Given a `Schedule`, a strength owns one scalar, non-trainable `float32`
variable initialised to `schedule(0)`; compiled code reads the variable, so
a callback can change the value between steps without a retrace. The
variable is the single source of truth (restoring a model's weights
restores its strengths). Without a writer a strength stays at
`schedule(0)`.

Given a plain number, the strength is just that Python float, with no
variable: the object then has exactly the state of its Keras namesake (a
`Dropout(0.3)` has no extra weight), and compiled code treats the value as
the constant it is. Pass a `Schedule` (even `Constant(0.3)`) to get a
variable that callbacks may change.

Writers (`StrengthScheduler`, `GapController`) go through one
`StrengthWriter` per model: it finds the strengths, makes their variables
part of the model's state on JAX, and writes them. A schedule and a
controller compose: the scheduler writes `schedule(t) * multiplier`, the
controller sets the multiplier with `Strength.adjust`.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import schedules as schedules_lib

_STRENGTHS = "_regkit_strengths"
_ATTRIBUTE = "_regkit_declared"


class Bounds:
    """A closed or half-open interval that a strength must stay in."""

    def __init__(self, low=0.0, high=math.inf, high_open=False):
        self.low = low
        self.high = high
        self.high_open = high_open

    def __contains__(self, value):
        if not math.isfinite(value) or value < self.low:
            return False
        return value < self.high if self.high_open else value <= self.high

    def describe(self):
        if self.high == math.inf:
            return f"a float >= {self.low:g}"
        right = ")" if self.high_open else "]"
        return f"a float in [{self.low:g}, {self.high:g}{right}"


NON_NEGATIVE = Bounds()
PROBABILITY = Bounds(0.0, 1.0)
RATE = Bounds(0.0, 1.0, high_open=True)


class Strength:
    """A scheduled argument held in a scalar variable.

    Created by a `Scheduled` declaration (or `add_strength`), not directly.

    Attributes:
        name: the argument name (`"l2"`, `"rate"`).
        owner: the object the argument belongs to.
        schedule: the `Schedule` that gives its value over time.
        variable: the scalar `keras.Variable` compiled code reads, or None
            for a plain number.
        bounds: the `Bounds` the value must stay in.
        multiplier: the controller's factor on the schedule (1.0 unless a
            `GapController` adjusted it); set through `adjust`.
    """

    def __init__(self, owner, name, schedule, bounds, variable):
        self.owner = owner
        self.name = name
        self.schedule = schedule
        self.bounds = bounds
        self.variable = variable
        self._plain = schedule(0)
        self._written = self._plain
        self.multiplier = 1.0
        # Set while the schedule gives 0 and a controller asked for more:
        # a multiple of 0 cannot express it.
        self._held = None
        self.time = 0

    @property
    def value(self):
        """What `call` reads: the variable's tensor, or the plain float."""
        if self.variable is None:
            return self._plain
        return self.variable.value

    @property
    def current(self):
        """The value in force, as a Python float: the plain number, or the
        variable's value as last read (`refresh`) or written (the exact
        float computed, not its float32 rounding)."""
        if self.variable is None:
            return self._plain
        return self._written

    def refresh(self):
        """Reads the variable back on the host, so a value that something
        else put there (restored weights, a loaded backup) is seen.

        Writers call it where the variable is guaranteed readable: at the
        start of training and of each epoch (mid-epoch, JAX's `fit` holds
        the state outside the variables).
        """
        if self.variable is None:
            return
        stored = ops.convert_to_numpy(self.variable)
        if np.float32(self._written) != stored:
            self._written = float(stored)

    @property
    def public(self):
        """What the owner exposes as the argument: the plain float it was
        given, or the variable (so `float(layer.rate)` reads the current
        value either way)."""
        return self._plain if self.variable is None else self.variable

    @property
    def unit(self):
        return self.schedule.unit

    @property
    def is_constant(self):
        """True when nothing but a controller can change the value."""
        return self.schedule.is_constant

    @property
    def is_adjusted(self):
        """True when a controller moved the value off the schedule."""
        return self.multiplier != 1.0 or self._held is not None

    @property
    def is_off(self):
        """True for a plain 0: the term it scales can be dropped."""
        return self.variable is None and self._plain == 0.0

    def config(self):
        """Config form: the plain float it was given, else the schedule."""
        if self.variable is None:
            return self._plain
        return schedules_lib.serialize(self.schedule)

    def value_at(self, t):
        """The value for time `t`: `schedule(t) * multiplier` (or the value
        a controller holds while the schedule gives 0), checked against
        the bounds on the host."""
        base = self.schedule(t)
        if base == 0.0 and self._held is not None:
            value = self._held
        else:
            value = base * self.multiplier
        if value not in self.bounds:
            raise ValueError(
                f"Scheduled value out of range for argument `{self.name}` of "
                f"{type(self.owner).__name__}: {self.schedule!r} gives "
                f"{value!r} at {self.unit} {t}, but `{self.name}` must be "
                f"{self.bounds.describe()}."
            )
        return value

    def assign_at(self, t):
        """Sets the variable to its value at time `t`; returns whether it
        changed. Remembers `t` as the strength's time."""
        self.time = t
        return self.assign(self.value_at(t))

    def adjust(self, value):
        """A controller's move: from now on the value is `value`, and the
        schedule keeps scaling it (the multiplier becomes `value` over the
        schedule's value at the strength's time). While the schedule gives
        0, `value` is held as it is. Returns whether the variable changed.
        """
        base = self.schedule(self.time)
        if base > 0:
            self.multiplier = value / base
            self._held = None
        else:
            self._held = value
        return self.assign(value)

    def reset_adjustment(self):
        """Forgets a controller's moves and goes back to time 0: the value
        is the schedule's first again (used when a model is trained anew
        from fresh weights)."""
        self.multiplier = 1.0
        self._held = None
        self.time = 0
        if self.variable is not None:
            self.assign(self.value_at(0))

    def assign(self, value):
        """Writes `value` (checked by the caller) to the variable.

        Under JAX during `fit`, write through a `StrengthWriter`, which
        syncs the trainer's state first.
        """
        if self.variable is None:
            if value == self._plain:
                return False
            raise ValueError(
                f"Argument `{self.name}` of {type(self.owner).__name__} was "
                "given as a plain number, so it cannot change during "
                "training; pass a Schedule (e.g. `schedules.Constant("
                f"{self._plain!r})`) to make it adjustable."
            )
        if value == self.current:
            return False
        self.variable.assign(value)
        self._written = value
        return True


def _check_schedule(owner_name, name, schedule, bounds):
    for t in schedule.landmarks():
        value = schedule(t)
        if value in bounds:
            continue
        if isinstance(schedule, schedules_lib.Constant):
            received = value
        else:
            received = f"{schedule!r} (gives {value!r} at {schedule.unit} {t})"
        raise checks.invalid(
            owner_name, name, received,
            f"{bounds.describe()} or a Schedule that stays in that range",
            show=str)


def add_strength(owner, name, value, bounds=NON_NEGATIVE):
    """Wraps argument `name` of `owner` in a `Strength` and registers it.

    What a `Scheduled` declaration calls; use it directly only for
    strengths that are not constructor arguments (a `Range`'s ends).

    A plain number stays a Python float (no variable). For a schedule,
    layers get a tracked, saved weight (`add_weight`); any other owner, such
    as a regularizer, gets a bare `keras.Variable`.

    Args:
        owner: the layer or regularizer the argument belongs to.
        name: the argument name.
        value: float, `Schedule`, Keras `LearningRateSchedule` or config.
        bounds: `Bounds` every scheduled value must stay in.

    Returns:
        The `Strength`.

    Raises:
        TypeError: `value` is not a float or schedule.
        ValueError: `value` is out of `bounds`, or NaN.
    """
    owner_name = type(owner).__name__
    plain = checks.is_number(value)
    schedule = schedules_lib.get(value, name=name, owner=owner_name)
    _check_schedule(owner_name, name, schedule, bounds)
    initial = schedule(0)
    if plain:
        variable = None
    elif isinstance(owner, keras.layers.Layer):
        variable = owner.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(initial),
            dtype="float32",
            trainable=False,
            name=name,
        )
    else:
        variable = keras.Variable(
            initial,
            dtype="float32",
            trainable=False,
            name=f"{owner_name.lower()}_{name}",
        )
    strength = Strength(owner, name, schedule, bounds, variable)
    strengths = dict(getattr(owner, _STRENGTHS, {}))
    strengths[name] = strength
    object.__setattr__(owner, _STRENGTHS, strengths)
    return strength


def strengths_of(obj):
    """The strengths `obj` registered, by argument name (a range's scheduled
    ends appear as `<name>_low` / `<name>_high` or `<name>`)."""
    return dict(getattr(obj, _STRENGTHS, {}))


def _declared(obj):
    return getattr(obj, _ATTRIBUTE, {})


def _register(obj, name, held):
    declared = dict(_declared(obj))
    declared[name] = held
    object.__setattr__(obj, _ATTRIBUTE, declared)


class Scheduled:
    """Declares a scheduled scalar argument in a class body.

    `rate = Scheduled(RATE)` in the class, then `self.rate = rate` once in
    `__init__`: the value (float, `Schedule`, Keras `LearningRateSchedule`
    or config) is checked against `bounds`, wrapped in a `Strength`, and
    `self.rate` reads the float given or the strength variable.

    Args:
        bounds: the `Bounds` every value must stay in. Defaults to
            `NON_NEGATIVE`.
        optional: whether `None` is allowed (the argument is then unused
            and reads as None). Defaults to `False`.

    Example:

    >>> class Noise:
    ...     std = Scheduled(NON_NEGATIVE)
    ...     def __init__(self, std):
    ...         self.std = std
    >>> Noise(0.1).std
    0.1
    >>> declared_config(Noise(schedules_lib.Constant(0.2)))["std"]["config"]
    {'value': 0.2, 'unit': 'epoch'}
    """

    def __init__(self, bounds=NON_NEGATIVE, optional=False):
        self.bounds = bounds
        self.optional = optional
        self.name = None

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        registry = _declared(obj)
        if self.name not in registry:
            raise AttributeError(
                f"{type(obj).__name__}.{self.name} is not set yet")
        return self.expose(registry[self.name])

    def __set__(self, obj, value):
        if self.name in _declared(obj):
            raise AttributeError(
                f"`{self.name}` of {type(obj).__name__} is a scheduled "
                "strength, set once in the constructor; to change it over "
                "training, give a Schedule and use StrengthScheduler (or "
                "GapController)."
            )
        _register(obj, self.name, self.declare(obj, value))

    def declare(self, obj, value):
        """Checks `value` and creates what `obj` holds for it (None for an
        unused optional argument)."""
        if value is None and self.optional:
            return None
        return self.create(obj, value)

    def create(self, obj, value):
        return add_strength(obj, self.name, value, self.bounds)

    def expose(self, held):
        """What reading the attribute gives."""
        return None if held is None else held.public

    def config(self, held):
        """The argument as it was given, for `get_config`."""
        return None if held is None else held.config()


class ScheduledRange(Scheduled):
    """Declares a `(low, high)` range argument whose ends may be scheduled.

    Accepts what Keras's augmentation layers accept for a `factor`, plus
    schedules (see `Range`). Reading the attribute gives `(low, high)`:
    floats, or scalar tensors for scheduled ends.

    Args:
        bounds: `(min, max)` every end must stay in. Defaults to
            `(-1.0, 1.0)`.
        optional: whether `None` is allowed (the argument is then unused).
            Defaults to `False`.
    """

    def __init__(self, bounds=(-1.0, 1.0), optional=False):
        super().__init__(bounds, optional)

    def create(self, obj, value):
        return Range(obj, self.name, value, self.bounds)

    def expose(self, held):
        return None if held is None else (held.low, held.high)


def _is_schedule_like(value):
    return isinstance(value, (schedules_lib.Schedule, dict)) or isinstance(
        value, keras.optimizers.schedules.LearningRateSchedule
    )


class Range:
    """A `(low, high)` range argument whose ends may follow schedules.

    Accepts what Keras's augmentation layers accept, plus schedules:
    - a number `f` (checked against `bounds`): the range
      `(max(-|f|, bounds[0]), |f|)`, as Keras normalizes it;
    - a pair `(a, b)` of numbers: the range `(min, max)`;
    - a `Schedule` for `f`: the same symmetric range, read from a variable;
    - a pair whose ends are numbers or schedules: each end its own strength
      (`<name>_low`, `<name>_high`).

    `low` and `high` are Python floats or scalar tensors (for schedules), so
    compiled code reads the current value without retracing.
    """

    def __init__(self, owner, name, value, bounds=(-1.0, 1.0)):
        self.name = name
        self.bounds = bounds
        owner_name = type(owner).__name__
        expected = (
            f"a float in [{bounds[0]:g}, {bounds[1]:g}], a pair of such "
            "floats, or a Schedule (or a pair of floats or Schedules)"
        )
        self._pair = isinstance(value, (tuple, list))
        magnitude = Bounds(0.0, max(abs(bounds[0]), bounds[1]))
        if self._pair:
            if len(value) != 2 or not all(
                checks.is_number(v) or _is_schedule_like(v) for v in value
            ):
                raise checks.invalid(owner_name, name, value, expected)
            low, high = value
            if checks.is_number(low) and checks.is_number(high):
                if not bounds[0] <= low <= bounds[1] or not (
                        bounds[0] <= high <= bounds[1]):
                    raise checks.invalid(owner_name, name, value, expected)
                low, high = sorted((float(low), float(high)))
            range_bounds = Bounds(bounds[0], bounds[1])
            self._low = add_strength(owner, f"{name}_low", low, range_bounds)
            self._high = add_strength(owner, f"{name}_high", high,
                                      range_bounds)
        elif checks.is_number(value):
            if not bounds[0] <= value <= bounds[1]:
                raise checks.invalid(owner_name, name, value, expected)
            self._high = add_strength(owner, name, abs(float(value)),
                                      magnitude)
            self._low = None
        elif _is_schedule_like(value):
            self._high = add_strength(owner, name, value, magnitude)
            self._low = None
        else:
            raise checks.invalid(owner_name, name, value, expected)

    @property
    def high(self):
        return self._high.value

    @property
    def low(self):
        if self._low is not None:
            return self._low.value
        high = self._high.value
        if isinstance(high, float):
            return max(-high, self.bounds[0])
        return ops.maximum(-high, self.bounds[0])

    @property
    def is_pair(self):
        """Whether the argument was given as a `(low, high)` pair."""
        return self._pair

    def config(self):
        if self._pair:
            return [self._low.config(), self._high.config()]
        return self._high.config()

    def sample(self, uniforms):
        """Maps uniforms in [0, 1) onto the range."""
        low = self.low
        return low + (self.high - low) * uniforms


def _declarations(cls):
    found = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Scheduled):
                found[attr] = value
    return found


class HasStrengths:
    """Mixin of every class with scheduled arguments.

    Gives `strength(name)`, what a declared argument holds (a `Strength`,
    a `Range`, or None for an unused optional range), and
    `declared_config()`, every declared argument as it was given.
    """

    def __setattr__(self, name, value):
        if isinstance(getattr(type(self), name, None), Scheduled):
            # The declaration takes the value as given (Keras's tracker
            # would wrap lists and dicts first).
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    def strength(self, name):
        """The `Strength` (or `Range`) behind declared argument `name`."""
        return _declared(self)[name]

    def declared_config(self):
        return declared_config(self)


def declared_config(obj):
    """Every argument declared with `Scheduled` / `ScheduledRange` on
    `obj`'s class, as it was given (float, pair, or serialized schedule)."""
    registry = _declared(obj)
    return {
        name: declaration.config(registry[name])
        for name, declaration in _declarations(type(obj)).items()
        if name in registry
    }


def _regularizers_of(layer):
    found = {}
    for attr, value in vars(layer).items():
        if attr.endswith("_regularizer") and value is not None:
            found[attr.lstrip("_")] = value
    for weight in layer.weights:
        regularizer = getattr(weight, "regularizer", None)
        if regularizer is not None:
            found.setdefault(f"{weight.name}_regularizer", regularizer)
    return found


def _layers_of(model):
    if hasattr(model, "_flatten_layers"):
        return list(model._flatten_layers(include_self=True, recursive=True))
    layers = [model]
    for layer in getattr(model, "layers", []):
        layers.extend(_layers_of(layer))
    return layers


def collect_strengths(model, found=None):
    """Every strength in `model`, keyed by a readable path.

    Walks the model's layers recursively (nested models included) and, for
    each, its own strengths and those of its kernel, bias, activity and other
    regularizers. A regularizer shared by several layers is listed once.

    Args:
        model: a model or layer.
        found: None, or a dict of strengths found already, which is
            extended (a strength in it is not listed again).

    Returns:
        dict: `"<layer>/<argument>"` or `"<layer>/<regularizer>/<argument>"`
        to `Strength`.
    """
    found = {} if found is None else found
    seen = {id(strength) for strength in found.values()}

    def add(path, strength):
        if id(strength) in seen:
            return
        seen.add(id(strength))
        unique, index = path, 1
        while unique in found:
            index += 1
            unique = f"{path}_{index}"
        found[unique] = strength

    # Children before parents, so a weight's regularizer is named after the
    # layer that owns the weight, not after the model that contains it.
    for layer in reversed(_layers_of(model)):
        for arg, strength in strengths_of(layer).items():
            add(f"{layer.name}/{arg}", strength)
        for attr, regularizer in sorted(_regularizers_of(layer).items()):
            for arg, strength in strengths_of(regularizer).items():
                add(f"{layer.name}/{attr}/{arg}", strength)
    return found


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


def _attach(model, holder):
    """Makes `holder` a sublayer of `model`, so its variables are part of
    the model's state. A Sequential model's tracker does not reach its
    layer list, so there the holder hangs from its first layer (unlocked
    for that one attribute)."""
    model._regkit_strength_state = holder
    if any(layer is holder for layer in _layers_of(model)):
        return
    first = model._layers[0]
    locked = first._tracker.locked
    first._tracker.unlock()
    try:
        first._regkit_strength_state = holder
    finally:
        if locked:
            first._tracker.lock()


def strength_state_variables(model):
    """The strength variables `StrengthWriter` joined to `model`'s state
    (JAX), which the model's `.weights.h5` files do not hold."""
    holder = getattr(model, "_regkit_strength_state", None)
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
    holder = getattr(model, "_regkit_strength_state", None)
    unreachable = RuntimeError(
        f"{writer} cannot reach the scheduled regularizer factors of model "
        f"{model.name!r} under the JAX backend: they must join the model's "
        "state, and this built subclassed model accepts no new state. Use a "
        "Functional or Sequential model, or the TensorFlow backend.")
    if holder is None:
        holder = _StrengthState(name="regkit_strength_state")
        try:
            _attach(model, holder)
        except (ValueError, AttributeError, IndexError) as error:
            raise unreachable from error
    holder.held.extend(missing)
    in_state = {id(v) for v in model.non_trainable_variables}
    if any(id(v) not in in_state for v in missing):
        raise unreachable


class StrengthWriter:
    """The one way callbacks write a model's strengths during `fit`.

    Finds every strength of `model` (`collect_strengths`); under JAX, makes
    their variables part of the model's state, so the jitted step reads
    them, and syncs the trainer's state before a write mid-epoch, so the
    next step picks the new value up. Create it in `on_train_begin`.

    Args:
        model: the model being trained.
        writer: str, the callback's name, for error messages.
        extra: layers outside the model whose strengths are written too
            (those of a `tf.data` pipeline), listed as
            `"<layer>/<argument>"` like the model's; strengths the model
            holds are listed once.

    Example:

    >>> from keras_regkit import layers, schedules
    >>> model = keras.Sequential([keras.Input((2,)), layers.Dropout(
    ...     schedules.Linear(0.0, 0.5, 2), name="drop")])
    >>> writer = StrengthWriter(model, "doc")
    >>> writer.schedule("epoch", 1)
    [('drop/rate', 0.25)]
    """

    def __init__(self, model, writer="StrengthWriter", extra=()):
        self.model = model
        self.strengths = collect_strengths(model)
        if keras.backend.backend() == "jax":
            _expose_to_jax_state(model, self.strengths, writer)
        for layer in extra:
            self.add(layer)

    def add(self, layer):
        """Writes `layer`'s strengths too (a layer outside the model: the
        pipeline reads their variables as it runs, so they join no model
        state). Returns the paths added."""
        before = set(self.strengths)
        collect_strengths(layer, found=self.strengths)
        return [path for path in self.strengths if path not in before]

    def _sync(self):
        if keras.backend.backend() == "jax":
            # Mid-epoch, JAX's fit keeps the state outside the variables;
            # syncing first makes it pick up the new value next step.
            sync = getattr(self.model, "jax_state_sync", None)
            if sync is not None:
                sync()

    def refresh(self):
        """Reads every strength's variable back (`Strength.refresh`); call
        at the start of training and of each epoch."""
        for strength in self.strengths.values():
            strength.refresh()

    def schedule(self, unit, t, strengths=None):
        """Writes each strength in `unit`s its value at time `t`.

        Args:
            unit: `"epoch"` or `"step"`.
            t: the time.
            strengths: dict of path to `Strength` to consider. Defaults to
                all of the model's.

        Returns:
            list of `(path, value)` for the strengths that changed.
        """
        candidates = self.strengths if strengths is None else strengths
        changed = []
        for path, strength in candidates.items():
            if strength.unit != unit:
                continue
            if strength.is_constant and not strength.is_adjusted:
                continue
            value = strength.value_at(t)
            strength.time = t
            if value == strength.current:
                continue
            if not changed:
                self._sync()
            strength.assign(value)
            changed.append((path, value))
        return changed

    def adjust(self, strength, value):
        """A controller's write (`Strength.adjust`); whether it changed."""
        self._sync()
        return strength.adjust(value)
