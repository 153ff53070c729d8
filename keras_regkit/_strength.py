"""Strength: the bridge from a float or schedule to a variable read on device.

A layer or regularizer wraps each scheduled argument in a `Strength`. Given a
`Schedule`, the strength owns one scalar, non-trainable `float32` variable
initialised to `schedule(0)`; compiled code reads the variable, so the
`StrengthScheduler` callback can change the value between steps without a
retrace. Without that callback a strength stays at `schedule(0)`.

Given a plain number, the strength is just that Python float, with no
variable: the object then has exactly the state of its Keras namesake (a
`Dropout(0.3)` has no extra weight), and compiled code treats the value as
the constant it is. Pass a `Schedule` (even `Constant(0.3)`) to get a
variable that callbacks may change.
"""

import math
import numbers

import keras

from keras_regkit import schedules as schedules_lib

_ATTRIBUTE = "_regkit_strengths"


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

    Create strengths with `add_strength`, not directly.

    Attributes:
        name: the argument name (`"l2"`, `"rate"`).
        owner: the object the argument belongs to.
        schedule: the `Schedule` that gives its value over time.
        variable: the scalar `keras.Variable` compiled code reads.
        bounds: the `Bounds` the value must stay in.
    """

    def __init__(self, owner, name, schedule, bounds, variable):
        self.owner = owner
        self.name = name
        self.schedule = schedule
        self.bounds = bounds
        self.variable = variable
        self.current = schedule(0)
        # Set by controllers (GapController): the scheduler writes
        # `schedule(t) * multiplier`, so a controller and a schedule compose.
        self.multiplier = 1.0

    @property
    def value(self):
        """What `call` reads: the variable's tensor, or the plain float."""
        if self.variable is None:
            return self.current
        return self.variable.value

    @property
    def public(self):
        """What the owner exposes as the argument: the plain float it was
        given, or the variable (so `float(layer.rate)` reads the current
        value either way)."""
        return self.current if self.variable is None else self.variable

    @property
    def unit(self):
        return self.schedule.unit

    @property
    def is_constant(self):
        return self.schedule.is_constant

    def config(self):
        """Config form: the plain float it was given, else the schedule."""
        if self.variable is None:
            return self.current
        return schedules_lib.serialize(self.schedule)

    def value_at(self, t):
        """`schedule(t) * multiplier`, checked against the bounds (host)."""
        value = self.schedule(t) * self.multiplier
        if value not in self.bounds:
            raise ValueError(
                f"Scheduled value out of range for argument `{self.name}` of "
                f"{type(self.owner).__name__}: {self.schedule!r} gives "
                f"{value!r} at {self.unit} {t}, but `{self.name}` must be "
                f"{self.bounds.describe()}."
            )
        return value

    def assign_at(self, t):
        """Sets the variable to `schedule(t)`; returns whether it changed."""
        return self.assign(self.value_at(t))

    def assign(self, value):
        """Writes `value` (checked by the caller) to the variable."""
        if value == self.current:
            return False
        if self.variable is None:
            raise ValueError(
                f"Argument `{self.name}` of {type(self.owner).__name__} was "
                "given as a plain number, so it cannot change during "
                "training; pass a Schedule (e.g. `schedules.Constant("
                f"{self.current!r})`) to make it adjustable."
            )
        self.variable.assign(value)
        self.current = value
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
        raise ValueError(
            f"Invalid value for argument `{name}` of {owner_name}: expected "
            f"{bounds.describe()} or a Schedule that stays in that range. "
            f"Received: {name}={received}"
        )


def add_strength(owner, name, value, bounds=NON_NEGATIVE):
    """Wraps argument `name` of `owner` in a `Strength` and registers it.

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
    plain = isinstance(value, numbers.Real) and not isinstance(value, bool)
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
    registry = dict(getattr(owner, _ATTRIBUTE, {}))
    registry[name] = strength
    object.__setattr__(owner, _ATTRIBUTE, registry)
    return strength


def strengths_of(obj):
    """The strengths `obj` registered, by argument name."""
    return dict(getattr(obj, _ATTRIBUTE, {}))


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


def collect_strengths(model):
    """Every strength in `model`, keyed by a readable path.

    Walks the model's layers recursively (nested models included) and, for
    each, its own strengths and those of its kernel, bias, activity and other
    regularizers. A regularizer shared by several layers is listed once.

    Returns:
        dict: `"<layer>/<argument>"` or `"<layer>/<regularizer>/<argument>"`
        to `Strength`.
    """
    found = {}
    seen = set()

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
