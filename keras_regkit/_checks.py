"""Argument checks: the one error sentence and the few checks built on it.

Every constructor in keras_regkit validates its arguments with these, so a
bad argument always reads the same way, naming the owner, the argument,
what is allowed and what was received:

    Invalid value for argument `rate` of DropPath: expected a float in
    [0, 1) or a Schedule. Received: rate=1.5

A wrong type raises `TypeError` ("Invalid type for argument ..."), a wrong
value `ValueError`. Each check returns the value (normalized where it says
so), so `self.x = checks.choice(...)` reads naturally.

Examples:

    >>> seed("Dropout", 3)
    3
    >>> choice("GroupLasso", "mode", "rows", ("rows", "columns"))
    'rows'
    >>> real("Linear", "start", float("nan"))
    Traceback (most recent call last):
        ...
    ValueError: Invalid value for argument `start` of Linear: expected a
    finite float. Received: start=nan
"""

import math
import numbers

import keras
import numpy as np

DATA_FORMATS = ("channels_last", "channels_first")


def invalid(owner, name, value, expected, error=ValueError, show=repr):
    """The house error for argument `name` of `owner`.

    Args:
        owner: str, the class or function the argument belongs to.
        name: str, the argument.
        value: what was received.
        expected: str, what is allowed ("a float >= 0").
        error: `ValueError` (a bad value) or `TypeError` (a bad type).
        show: how the received value is written. Defaults to `repr`.

    Returns:
        The exception, to `raise`.
    """
    kind = "type" if error is TypeError else "value"
    return error(
        f"Invalid {kind} for argument `{name}` of {owner}: expected "
        f"{expected}. Received: {name}={show(value)}"
    )


def is_number(value):
    """A real number that is not a bool (`True` is an int in Python)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def real(owner, name, value, expected="a finite float"):
    """A finite real number, returned as a float.

    Raises `TypeError` for a non-number (naming its type) and `ValueError`
    for NaN or an infinity.
    """
    if not is_number(value):
        raise TypeError(
            f"Invalid type for argument `{name}` of {owner}: expected "
            f"{expected}. Received: {name}={value!r} of type "
            f"{type(value).__name__}"
        )
    if not math.isfinite(value):
        raise invalid(owner, name, value, expected)
    return float(value)


def number(owner, name, value, valid=None, expected="a float"):
    """A finite real number accepted by `valid(value)`, as a float.

    Anything else, a bool or a non-number included, is a `ValueError`.
    """
    if (
        not is_number(value)
        or not math.isfinite(value)
        or (valid is not None and not valid(value))
    ):
        raise invalid(owner, name, value, expected)
    return float(value)


def integer(owner, name, value, minimum=0, expected=None, maximum=None):
    """An int (not a bool) in [`minimum`, `maximum`]; a `ValueError`
    otherwise. `maximum` bounds sizes that cost time or memory (a graph
    unrolled that many times)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        if expected is None:
            expected = (f"an int >= {minimum}" if maximum is None
                        else f"an int in [{minimum}, {maximum}]")
        raise invalid(owner, name, value, expected)
    return value


def boolean(owner, name, value):
    """A bool; a `TypeError` otherwise (1 and 0 are not bools)."""
    if not isinstance(value, bool):
        raise invalid(owner, name, value, "a bool", error=TypeError)
    return value


def choice(owner, name, value, choices, expected=None):
    """One of `choices`; a `ValueError` listing them otherwise."""
    if value not in choices:
        raise invalid(owner, name, value, expected or f"one of {choices}")
    return value


def verbose(owner, value):
    """The `verbose` argument of our callbacks: 0 or 1."""
    return choice(owner, "verbose", value, (0, 1), expected="0 or 1")


def pair(owner, name, value, valid, expected):
    """Two numbers `(low, high)` accepted by `valid(low, high)`, as floats."""
    if (
        not isinstance(value, (tuple, list)) or len(value) != 2
        or not all(is_number(v) for v in value)
        or not valid(*value)
    ):
        raise invalid(owner, name, value, expected)
    return (float(value[0]), float(value[1]))


def patterns(owner, name, value, expected, allow_empty=False,
             error=ValueError):
    """A list of strings (shell-style patterns), returned as a list."""
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, (list, tuple))
        or not all(isinstance(p, str) for p in value)
        or (not value and not allow_empty)
    ):
        raise invalid(owner, name, value, expected, error=error)
    return list(value)


def seed(owner, value):
    """`seed`: an int or None (every stochastic object checks it)."""
    if value is not None and (isinstance(value, bool)
                              or not isinstance(value, int)):
        raise invalid(owner, "seed", value, "an int or None", error=TypeError)
    return value


def data_format(owner, value):
    """`data_format`, defaulting to Keras's image data format."""
    if value is None:
        value = keras.config.image_data_format()
    return choice(owner, "data_format", value, DATA_FORMATS,
                  expected='"channels_last" or "channels_first"')


def value_range(owner, value, expected=None):
    """`value_range`: two numbers `(low, high)`, low < high, as a tuple."""
    if (
        not isinstance(value, (tuple, list)) or len(value) != 2
        or not all(is_number(v) for v in value)
        or not value[0] < value[1]
    ):
        raise invalid(owner, "value_range", value, expected or
                      "a pair of numbers (low, high) with low < high")
    return tuple(value)


def scalar(owner, name, value, valid, expected, optional=False):
    """A function form's scalar argument, checked as the classes check theirs.

    A Python or NumPy number (a 0-d array included) must be finite and
    accepted by `valid(value)`; a scalar tensor passes unchecked (inside a
    compiled step it is data, such as the strength variable a layer
    reads); None passes where `optional`. Anything else is a `TypeError`.
    Returns the value (a number as a Python float).
    """
    if value is None and optional:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if is_number(value):
        if not math.isfinite(value) or not valid(value):
            raise invalid(owner, name, value, expected)
        return float(value)
    if (not isinstance(value, (bool, str, bytes, np.ndarray))
            and hasattr(value, "shape") and hasattr(value, "dtype")):
        if len(value.shape) != 0:
            raise invalid(owner, name, value, expected + " (a scalar)",
                          show=lambda v: f"a tensor of shape "
                          f"{tuple(v.shape)}")
        return value
    raise invalid(owner, name, value, expected, error=TypeError)


def seed_source(owner, value):
    """A function form's `seed`: a `keras.random.SeedGenerator` or an int."""
    if not isinstance(value, keras.random.SeedGenerator) and (
            isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise invalid(owner, "seed", value,
                      "a keras.random.SeedGenerator or an int",
                      error=TypeError)
    return value


def optional_positive(owner, name, value):
    """A number > 0 where a number is given; a Schedule or None pass (a
    schedule's range is checked by its strength)."""
    if is_number(value) and value <= 0:
        raise invalid(owner, name, value, "a float > 0, a Schedule or None")
    return value
