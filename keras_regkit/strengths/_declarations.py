"""Declaring scheduled arguments, and the one registry of an owner's
strengths.

A class declares each scheduled constructor argument once, in its body:

    class Dropout(StochasticLayer):
        rate = Scheduled(RATE)          # a scalar strength
    class RandomRotation(GeometricAugmentation):
        factor = ScheduledRange((-1.0, 1.0))   # a (low, high) range

and its `__init__` assigns it (`self.rate = rate`). The declaration checks
the value, registers a `Strength` (`strengths_of(obj)` lists them), exposes
the attribute (the plain float given, or the strength variable of a
schedule) and serializes it: `declared_config(obj)` gives every declared
argument as it was given, for `get_config`. Compiled code reads
`obj.strength("rate").value`.
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import schedules as schedules_lib
from keras_regkit.strengths._values import NON_NEGATIVE
from keras_regkit.strengths._values import Bounds
from keras_regkit.strengths._values import Strength

# Set on each owner, past Keras's attribute tracking: its strengths by
# argument name, and what each declared argument holds.
_STRENGTHS = "_regkit_strengths"
_ATTRIBUTE = "_regkit_declared"


def _variable(owner, name, initial):
    """The scalar float32 variable of a scheduled argument: a layer's
    non-trainable weight (tracked, saved with the layer), or a bare
    `keras.Variable` for any other owner (a regularizer)."""
    if isinstance(owner, keras.layers.Layer):
        return owner.add_weight(
            shape=(), initializer=keras.initializers.Constant(initial),
            dtype="float32", trainable=False, name=name)
    return keras.Variable(initial, dtype="float32", trainable=False,
                          name=f"{type(owner).__name__.lower()}_{name}")


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
    variable = None if plain else _variable(owner, name, schedule(0))
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

    Examples:

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
        """What reading the attribute gives: the plain float given, or the
        variable (so `float(layer.rate)` reads the current value either
        way)."""
        if held is None:
            return None
        return held.current if held.variable is None else held.variable

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
