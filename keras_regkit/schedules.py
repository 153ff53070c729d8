"""Schedules: pure functions of training time that drive every strength.

A schedule maps a time ``t >= 0`` (an epoch index or an optimizer step,
chosen by ``unit``) to a float. Schedules are evaluated on the host by
`keras_regkit.callbacks.StrengthScheduler`, which writes the value into the
strength variable that compiled code reads; so a new value never retraces.

Every schedule is a small serializable class (no lambdas: a closure cannot be
saved with the model). `get()` turns a float, a schedule, a Keras
`LearningRateSchedule` or a config dict into a `Schedule`.

Examples:

    >>> from keras_regkit import schedules
    >>> s = schedules.Linear(0.0, 1e-3, duration=4)
    >>> [round(s(t), 6) for t in range(6)]
    [0.0, 0.00025, 0.0005, 0.00075, 0.001, 0.001]
    >>> schedules.get(0.1)
    Constant(value=0.1, unit='epoch')
"""

import bisect
import inspect
import itertools
import math

import keras

from keras_regkit import _checks as checks
from keras_regkit import _registration

__all__ = [
    "Schedule",
    "Constant",
    "Linear",
    "Cosine",
    "Exponential",
    "InverseDecay",
    "Piecewise",
    "Join",
    "KerasSchedule",
    "get",
    "serialize",
    "deserialize",
]

_PACKAGE = "keras_regkit"
UNITS = ("epoch", "step")


def _check_duration(owner, name, value):
    value = checks.number(owner, name, value, lambda v: v > 0,
                          "a finite number > 0")
    return int(value) if float(value).is_integer() else float(value)


def _check_unit(owner, unit):
    return checks.choice(owner, "unit", unit, UNITS,
                         expected='one of "epoch", "step"')


class Schedule:
    """Base class: a pure, serializable function of training time.

    Subclass it to write your own schedule: implement `value(t)` (pure
    Python, defined for every `t >= 0`) and `get_config()`, and register the
    class with `keras.saving.register_keras_serializable`.

    Args:
        unit: `"epoch"` or `"step"`: whether `t` counts epochs (the index
            Keras passes to `on_epoch_begin`) or optimizer steps. Defaults to
            `"epoch"`.
    """

    def __init__(self, unit="epoch"):
        self.unit = _check_unit(type(self).__name__, unit)

    def value(self, t):
        raise NotImplementedError

    def __call__(self, t):
        if not checks.is_number(t):
            raise TypeError(
                f"{type(self).__name__} expects a time t >= 0 as a number. "
                f"Received: t={t!r}"
            )
        if not t >= 0 or not math.isfinite(t):
            raise ValueError(
                f"{type(self).__name__} is defined for finite t >= 0. "
                f"Received: t={t!r}"
            )
        return float(self.value(t))

    @property
    def is_constant(self):
        """True when the schedule returns the same value at every time."""
        return False

    def landmarks(self):
        """Times where the value reaches its extremes (checked up front)."""
        return [0]

    def get_config(self):
        return {"unit": self.unit}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and (
            serialize(self) == serialize(other)
        )

    def __hash__(self):
        return hash(repr(self))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Constant(Schedule):
    """The same value at every time; what a plain float becomes.

    Args:
        value: float. Defaults to `0.0`.
        unit: `"epoch"` or `"step"`. Defaults to `"epoch"`.

    Examples:

        >>> Constant(0.1)(42)
        0.1
    """

    def __init__(self, value=0.0, unit="epoch"):
        super().__init__(unit)
        self.constant = checks.real("Constant", "value", value)

    def value(self, t):
        return self.constant

    @property
    def is_constant(self):
        return True

    def get_config(self):
        return {"value": self.constant, "unit": self.unit}


class _Interpolation(Schedule):
    """Goes from `start` to `end` over `duration`, then stays at `end`."""

    def __init__(self, start, end, duration, unit="epoch"):
        super().__init__(unit)
        name = type(self).__name__
        self.start = checks.real(name, "start", start)
        self.end = checks.real(name, "end", end)
        self.duration = _check_duration(name, "duration", duration)

    def fraction(self, progress):
        raise NotImplementedError

    def value(self, t):
        if t >= self.duration:
            return self.end
        progress = self.fraction(t / self.duration)
        return self.start + (self.end - self.start) * progress

    @property
    def is_constant(self):
        return self.start == self.end

    def landmarks(self):
        return [0, self.duration]

    def get_config(self):
        return {
            "start": self.start,
            "end": self.end,
            "duration": self.duration,
            "unit": self.unit,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Linear(_Interpolation):
    """Linear ramp from `start` (at t=0) to `end` (at t=`duration`), then flat.

    Use it for warm-ups (`Linear(0.0, 1e-4, 5)`) and curricula that raise or
    lower a strength steadily.

    Args:
        start: float, value at `t = 0`.
        end: float, value from `t = duration` on.
        duration: number > 0, length of the ramp in `unit`s.
        unit: `"epoch"` or `"step"`. Defaults to `"epoch"`.

    Examples:

        >>> Linear(0.0, 1.0, duration=4)(1)
        0.25
    """

    def fraction(self, progress):
        return progress


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Cosine(_Interpolation):
    """Half-cosine from `start` to `end` over `duration`, then flat.

    Smooth at both ends, as in cosine learning-rate decay (Loshchilov and
    Hutter, 2017, https://arxiv.org/abs/1608.03983).

    Args:
        start: float, value at `t = 0`.
        end: float, value from `t = duration` on.
        duration: number > 0, length of the transition in `unit`s.
        unit: `"epoch"` or `"step"`. Defaults to `"epoch"`.

    Examples:

        >>> Cosine(1.0, 0.0, duration=2)(1)
        0.5
    """

    def fraction(self, progress):
        return 0.5 * (1.0 - math.cos(math.pi * progress))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Exponential(Schedule):
    """`start * rate ** (t / period)`, optionally bounded by `end`.

    With `rate < 1` the value decays toward zero; `end` then acts as a floor.
    With `rate > 1` it grows, and `end` (required then) is a ceiling, so the
    schedule stays finite for every `t`.

    Args:
        start: float, value at `t = 0`.
        rate: float > 0, factor applied every `period`.
        period: number > 0, in `unit`s. Defaults to `1`.
        end: float or None: the value is never taken past `end`. Required
            when `rate > 1`. Defaults to `None`.
        staircase: bool, apply the factor in whole periods only. Defaults to
            `False`.
        unit: `"epoch"` or `"step"`. Defaults to `"epoch"`.

    Examples:

        >>> Exponential(1.0, rate=0.5)(3)
        0.125
    """

    def __init__(
        self,
        start,
        rate,
        period=1,
        end=None,
        staircase=False,
        unit="epoch",
    ):
        super().__init__(unit)
        self.start = checks.real("Exponential", "start", start)
        rate = checks.real("Exponential", "rate", rate)
        if rate <= 0:
            raise checks.invalid("Exponential", "rate", rate, "a float > 0")
        self.rate = rate
        self.period = _check_duration("Exponential", "period", period)
        if end is not None:
            end = checks.real("Exponential", "end", end)
        elif rate > 1 and self.start != 0:
            raise checks.invalid(
                "Exponential",
                "end",
                end,
                "a float bound when rate > 1 (otherwise the value grows "
                "without limit)",
            )
        if end is not None and self.start != 0 and rate != 1:
            moving_up = (rate > 1) == (self.start > 0)
            if (end < self.start) if moving_up else (end > self.start):
                side = ">=" if moving_up else "<="
                raise checks.invalid(
                    "Exponential",
                    "end",
                    end,
                    f"a bound the value moves toward (end {side} start="
                    f"{self.start!r} for rate={rate!r})",
                )
        self.end = end
        if not isinstance(staircase, bool):  # a ValueError, as released
            raise checks.invalid("Exponential", "staircase", staircase,
                                 "a bool")
        self.staircase = staircase

    def value(self, t):
        exponent = t / self.period
        if self.staircase:
            exponent = math.floor(exponent)
        try:
            factor = self.rate**exponent
        except OverflowError:
            factor = math.inf
        if self.start == 0:
            return 0.0
        value = self.start * factor
        if self.end is None:
            return value
        # `end` bounds the value on the side it is moving toward.
        moving_up = (self.rate > 1) == (self.start > 0)
        return min(value, self.end) if moving_up else max(value, self.end)

    @property
    def is_constant(self):
        return self.rate == 1 or self.start == 0

    def landmarks(self):
        return [0, 1e12 * self.period]

    def get_config(self):
        return {
            "start": self.start,
            "rate": self.rate,
            "period": self.period,
            "end": self.end,
            "staircase": self.staircase,
            "unit": self.unit,
        }


def _check_boundaries(owner, boundaries):
    if not isinstance(boundaries, (list, tuple)) or not boundaries:
        raise checks.invalid(
            owner, "boundaries", boundaries, "a non-empty list of numbers"
        )
    checked = [_check_duration(owner, "boundaries", b) for b in boundaries]
    if any(b >= c for b, c in itertools.pairwise(checked)):
        raise checks.invalid(
            owner, "boundaries", boundaries, "strictly increasing numbers"
        )
    return checked


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Piecewise(Schedule):
    """Constant pieces: `values[i]` on `[boundaries[i-1], boundaries[i])`.

    Args:
        boundaries: strictly increasing numbers > 0.
        values: floats, one more than `boundaries`.
        unit: `"epoch"` or `"step"`. Defaults to `"epoch"`.

    Examples:

        >>> s = Piecewise([2, 5], [0.0, 0.1, 0.2])
        >>> [s(t) for t in (0, 1.9, 2, 4, 5, 9)]
        [0.0, 0.0, 0.1, 0.1, 0.2, 0.2]
    """

    def __init__(self, boundaries, values, unit="epoch"):
        super().__init__(unit)
        self.boundaries = _check_boundaries("Piecewise", boundaries)
        if not isinstance(values, (list, tuple)) or len(values) != len(
            self.boundaries
        ) + 1:
            raise checks.invalid(
                "Piecewise",
                "values",
                values,
                f"a list of {len(self.boundaries) + 1} floats (one more than "
                "`boundaries`)",
            )
        self.values = [checks.real("Piecewise", "values", v) for v in values]

    def value(self, t):
        return self.values[bisect.bisect_right(self.boundaries, t)]

    @property
    def is_constant(self):
        return len(set(self.values)) == 1

    def landmarks(self):
        return [0, *self.boundaries]

    def get_config(self):
        return {
            "boundaries": list(self.boundaries),
            "values": list(self.values),
            "unit": self.unit,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Join(Schedule):
    """Chains schedules: `schedules[i]` runs from `boundaries[i-1]` on.

    Each schedule sees the time elapsed since its own start, as in Optax's
    `join_schedules`; so `Join([Linear(0, 1, 5), Cosine(1, 0, 20)], [5])`
    is a 5-epoch warm-up followed by a 20-epoch cosine decay.

    Args:
        schedules: list of schedules (or floats, or configs), all with the
            same `unit`; one more than `boundaries`.
        boundaries: strictly increasing numbers > 0, in that unit.

    Examples:

        >>> s = Join([Linear(0.0, 1.0, 2), Constant(0.5)], boundaries=[2])
        >>> [s(t) for t in (0, 1, 2, 3)]
        [0.0, 0.5, 0.5, 0.5]
    """

    def __init__(self, schedules, boundaries, unit=None):
        if not isinstance(schedules, (list, tuple)) or len(schedules) < 2:
            raise checks.invalid(
                "Join", "schedules", schedules, "a list of at least 2 schedules"
            )
        parts = [get(s) for s in schedules]
        units = {s.unit for s in parts if not s.is_constant}
        if len(units) > 1:
            raise checks.invalid(
                "Join",
                "schedules",
                [s.unit for s in parts],
                "schedules that share one unit",
            )
        if unit is None:
            unit = units.pop() if units else parts[0].unit
        elif units and unit not in units:
            raise checks.invalid(
                "Join", "unit", unit, f"the unit of its schedules, {units}"
            )
        super().__init__(unit)
        self.boundaries = _check_boundaries("Join", boundaries)
        if len(parts) != len(self.boundaries) + 1:
            raise checks.invalid(
                "Join",
                "schedules",
                schedules,
                f"{len(self.boundaries) + 1} schedules (one more than "
                "`boundaries`)",
            )
        self.schedules = parts

    def value(self, t):
        index = bisect.bisect_right(self.boundaries, t)
        offset = self.boundaries[index - 1] if index else 0
        return self.schedules[index](t - offset)

    @property
    def is_constant(self):
        values = {s(0) for s in self.schedules}
        return all(s.is_constant for s in self.schedules) and len(values) == 1

    def landmarks(self):
        starts = [0, *self.boundaries]
        ends = [*self.boundaries, math.inf]
        return [
            start + t
            for start, end, schedule in zip(starts, ends, self.schedules,
                                            strict=True)
            for t in schedule.landmarks()
            if start + t < end
        ]

    def get_config(self):
        return {
            "schedules": [serialize(s) for s in self.schedules],
            "boundaries": list(self.boundaries),
            "unit": self.unit,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InverseDecay(Schedule):
    """`start / (1 + t) ** power`: the annealing of gradient noise.

    Neelakantan et al. anneal gradient noise this way (`power=0.55`, step
    units); `training.GradientNoise` uses it. Unlike the other schedules,
    `tensor_value(t)` also evaluates it on a tensor `t` inside a compiled
    step, so it can follow the optimizer's step count on the device.

    Args:
        start: float, value at `t = 0`.
        power: float >= 0, the exponent. Defaults to `0.55`.
        unit: `"epoch"` or `"step"` (gradient noise counts steps).
            Defaults to `"epoch"`.

    Examples:

        >>> InverseDecay(1.0, power=1.0)(3)
        0.25
    """

    def __init__(self, start, power=0.55, unit="epoch"):
        super().__init__(unit)
        self.start = checks.real("InverseDecay", "start", start)
        self.power = checks.number("InverseDecay", "power", power,
                                   lambda v: v >= 0, "a float >= 0")

    def value(self, t):
        return self.start / (1.0 + t) ** self.power

    def tensor_value(self, t):
        """The value at a float tensor `t` (for compiled code)."""
        return self.start / (1.0 + t) ** self.power

    @property
    def is_constant(self):
        return self.power == 0 or self.start == 0

    def get_config(self):
        return {"start": self.start, "power": self.power, "unit": self.unit}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class KerasSchedule(Schedule):
    """Adapts a `keras.optimizers.schedules.LearningRateSchedule`.

    Lets you reuse `CosineDecay`, `ExponentialDecay`, etc. as a strength
    schedule; it is read in step units, as the optimizer reads it.
    `schedules.get()` wraps such schedules for you.

    Args:
        schedule: a `LearningRateSchedule` instance or its serialized config.

    Examples:

        >>> decay = keras.optimizers.schedules.ExponentialDecay(1.0, 10, 0.5)
        >>> round(get(decay)(10), 6)
        0.5
    """

    def __init__(self, schedule, unit="step"):
        if isinstance(schedule, dict):
            schedule = keras.saving.deserialize_keras_object(schedule)
        if not isinstance(
            schedule, keras.optimizers.schedules.LearningRateSchedule
        ):
            raise checks.invalid(
                "KerasSchedule", "schedule", schedule,
                "a keras.optimizers.schedules.LearningRateSchedule",
                error=TypeError)
        if unit != "step":
            raise checks.invalid(
                "KerasSchedule",
                "unit",
                unit,
                '"step" (Keras schedules count optimizer steps)',
            )
        super().__init__(unit)
        self.schedule = schedule

    def value(self, t):
        return float(keras.ops.convert_to_numpy(self.schedule(t)))

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "unit": self.unit,
        }


def _by_name():
    classes = (Constant, Linear, Cosine, Exponential, InverseDecay,
               Piecewise, Join)
    return {cls.__name__: cls for cls in (*classes, KerasSchedule)}


def serialize(schedule):
    """Returns the JSON-safe serialized form of a schedule."""
    return keras.saving.serialize_keras_object(schedule)


def deserialize(config, custom_objects=None):
    """Rebuilds a schedule from `serialize()` output."""
    obj = keras.saving.deserialize_keras_object(
        config, module_objects=_by_name(), custom_objects=custom_objects
    )
    return get(obj)


def get(identifier, name="schedule", owner=None):
    """Turns a float, schedule or config into a `Schedule`.

    Args:
        identifier: a number (becomes `Constant`), a `Schedule`, a
            `keras.optimizers.schedules.LearningRateSchedule` (wrapped in
            `KerasSchedule`) or a dict from `serialize()`.
        name: argument name used in error messages.
        owner: class name used in error messages.

    Returns:
        A `Schedule`.

    Raises:
        TypeError: for a bare function or lambda (it cannot be saved with
            the model), or any other type.
        ValueError: for NaN or infinite numbers.

    Examples:

        >>> get({"class_name": "Constant", "config": {"value": 0.5}})
        Constant(value=0.5, unit='epoch')
    """
    owner = owner or "schedules.get"
    if isinstance(identifier, Schedule):
        return identifier
    if isinstance(identifier, keras.optimizers.schedules.LearningRateSchedule):
        return KerasSchedule(identifier)
    if checks.is_number(identifier):
        if not math.isfinite(identifier):
            raise checks.invalid(
                owner, name, identifier, "a finite float or a Schedule"
            )
        return Constant(float(identifier))
    if isinstance(identifier, dict):
        obj = keras.saving.deserialize_keras_object(
            identifier, module_objects=_by_name()
        )
        if not isinstance(
            obj, (Schedule, keras.optimizers.schedules.LearningRateSchedule)
        ):
            raise TypeError(
                f"Invalid value for argument `{name}` of {owner}: the config "
                f"does not describe a schedule. Received: {name}={identifier!r}"
            )
        return get(obj, name=name, owner=owner)
    if inspect.isfunction(identifier) or inspect.ismethod(identifier):
        raise TypeError(
            f"Invalid type for argument `{name}` of {owner}: a bare function "
            "or lambda cannot be a schedule, because it cannot be saved with "
            "the model. Subclass `keras_regkit.schedules.Schedule` (implement "
            "`value(t)` and `get_config()`) or use a built-in schedule such "
            f"as `Linear`. Received: {name}={identifier!r}"
        )
    raise TypeError(
        f"Invalid type for argument `{name}` of {owner}: expected a float, a "
        "keras_regkit Schedule, a Keras LearningRateSchedule or a schedule "
        f"config dict. Received: {name}={identifier!r} of type "
        f"{type(identifier).__name__}"
    )

# Last: registers our classes with Keras if this import loaded it.
_registration.package_loaded(__name__)
