"""What a strength is: its bounds, and the float or variable holding it."""

import math

import numpy as np
from keras import ops

from keras_regkit import schedules as schedules_lib


class Bounds:
    """A closed or half-open interval that a strength must stay in.

    Examples:

        >>> 0.5 in RATE, 1.0 in RATE, 1.0 in PROBABILITY
        (True, False, True)
        >>> RATE.describe()
        'a float in [0, 1)'
    """

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
"""`[0, inf)`: a regularization factor, a noise scale."""
PROBABILITY = Bounds(0.0, 1.0)
"""`[0, 1]`: a probability, such as an augmentation's."""
RATE = Bounds(0.0, 1.0, high_open=True)
"""`[0, 1)`: a dropout rate (1 would drop everything)."""


class Strength:
    """A scheduled argument: a plain float, or a scalar variable that a
    `StrengthWriter` moves along its schedule.

    Created by a `Scheduled` declaration (or `add_strength`), not directly.
    Two reads: `value` in compiled code (the variable's tensor, or the plain
    float), `current` on the host (the float in force).

    Attributes:
        name: the argument name (`"l2"`, `"rate"`).
        owner: the object the argument belongs to.
        schedule: the `Schedule` that gives its value over time.
        variable: the scalar `keras.Variable` compiled code reads, or None
            for a plain number.
        bounds: the `Bounds` the value must stay in.
    """

    def __init__(self, owner, name, schedule, bounds, variable):
        self.owner = owner
        self.name = name
        self.schedule = schedule
        self.bounds = bounds
        self.variable = variable
        # The host's copy: the plain number, or the exact float last
        # written to the variable (not its float32 rounding) or read back.
        self._host = schedule(0)

    @property
    def value(self):
        """What compiled code reads: the variable's tensor (so a new value
        never retraces), or the plain float."""
        if self.variable is None:
            return self._host
        return self.variable.value

    @property
    def current(self):
        """The value in force, as a Python float."""
        return self._host

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
        if np.float32(self._host) != stored:
            self._host = float(stored)

    @property
    def unit(self):
        return self.schedule.unit

    @property
    def is_constant(self):
        """True when nothing but a controller can change the value."""
        return self.schedule.is_constant

    @property
    def is_off(self):
        """True for a plain 0: the term it scales can be dropped."""
        return self.variable is None and self._host == 0.0

    def config(self):
        """Config form: the plain float it was given, else the schedule."""
        if self.variable is None:
            return self._host
        return schedules_lib.serialize(self.schedule)

    def value_at(self, t, multiplier=1.0, held=None):
        """The value for time `t`, checked against the bounds on the host:
        `schedule(t) * multiplier`, or `held` while the schedule gives 0 (a
        controller's value, which no multiple of 0 can express). The one
        place a schedule is evaluated for a write; the controller's state
        (`multiplier`, `held`) belongs to the `StrengthWriter`."""
        base = self.schedule(t)
        if base == 0.0 and held is not None:
            value = held
        else:
            value = base * multiplier
        if value not in self.bounds:
            raise ValueError(
                f"Scheduled value out of range for argument `{self.name}` of "
                f"{type(self.owner).__name__}: {self.schedule!r} gives "
                f"{value!r} at {self.unit} {t}, but `{self.name}` must be "
                f"{self.bounds.describe()}."
            )
        return value

    def assign(self, value):
        """Writes `value` (checked by the caller) to the variable; returns
        whether it changed.

        Under JAX during `fit`, write through a `StrengthWriter`, which
        syncs the trainer's state first.
        """
        if self.variable is None:
            if value == self._host:
                return False
            raise ValueError(
                f"Argument `{self.name}` of {type(self.owner).__name__} was "
                "given as a plain number, so it cannot change during "
                "training; pass a Schedule (e.g. `schedules.Constant("
                f"{self._host!r})`) to make it adjustable."
            )
        if value == self._host:
            return False
        self.variable.assign(value)
        self._host = value
        return True
