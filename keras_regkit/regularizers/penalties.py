"""Norm penalties: `L1`, `L2`, `L1L2` and `OrthogonalRegularizer`.

Drop-in replacements for `keras.regularizers` with the same arguments,
defaults, config keys and penalties; every factor may also be a `Schedule`
(it then needs `keras_regkit.callbacks.StrengthScheduler` in
`fit(callbacks=...)` to change over training).
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit._matmul import exact_matmul
from keras_regkit.regularizers._base import Regularizer
from keras_regkit.strengths import Scheduled

_PACKAGE = "keras_regkit"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class L1(Regularizer):
    """L1 penalty, `l1 * sum(abs(x))`, with a factor that may be scheduled.

    Use it for sparse weights. Same as `keras.regularizers.L1`, plus
    schedules.

    Args:
        l1: float >= 0 or `Schedule`, the factor. `None` means `0.01`.
            May be a `Schedule` (moved by [`StrengthScheduler`][scheduled]).
            Defaults to `0.01`.

    Raises:
        TypeError: `l1` is not a number or schedule.
        ValueError: `l1` is negative, NaN or infinite.

    Examples:

        >>> reg = L1(0.1)
        >>> float(reg(keras.ops.ones((2, 2))))
        0.4000000059604645
    """

    l1 = Scheduled()

    def __init__(self, l1=0.01):
        self.l1 = 0.01 if l1 is None else l1

    def __call__(self, x):
        return self.factor_of("l1", x.dtype) * ops.sum(ops.absolute(x))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class L2(Regularizer):
    """L2 penalty, `l2 * sum(square(x))`, with a factor that may be scheduled.

    Use it for weight decay through the loss. Same as
    `keras.regularizers.L2`, plus schedules.

    Args:
        l2: float >= 0 or `Schedule`, the factor. `None` means `0.01`.
            May be a `Schedule` (moved by [`StrengthScheduler`][scheduled]).
            Defaults to `0.01`.

    Raises:
        TypeError: `l2` is not a number or schedule.
        ValueError: `l2` is negative, NaN or infinite.

    Examples:

        >>> from keras_regkit import schedules
        >>> reg = L2(l2=schedules.Linear(0.0, 1e-3, duration=3))
        >>> float(reg(keras.ops.ones((2, 2))))
        0.0
    """

    l2 = Scheduled()

    def __init__(self, l2=0.01):
        self.l2 = 0.01 if l2 is None else l2

    def __call__(self, x):
        return self.factor_of("l2", x.dtype) * ops.sum(ops.square(x))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class L1L2(Regularizer):
    """Elastic net: `l1 * sum(abs(x)) + l2 * sum(square(x))`.

    Same as `keras.regularizers.L1L2` (note its defaults are `0.0`, while
    the string `"l1_l2"` gives `0.01` each, as in Keras), plus schedules.

    Args:
        l1: float >= 0 or `Schedule`. `None` means `0.0`. May be a `Schedule`
            (moved by [`StrengthScheduler`][scheduled]). Defaults to `0.0`.
        l2: float >= 0 or `Schedule`, as `l1`. Defaults to `0.0`.

    Raises:
        TypeError: a factor is not a number or schedule.
        ValueError: a factor is negative, NaN or infinite.

    Examples:

        >>> reg = L1L2(l1=0.1, l2=0.2)
        >>> round(float(reg(keras.ops.ones((2, 2)))), 4)
        1.2
    """

    l1 = Scheduled()
    l2 = Scheduled()

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = 0.0 if l1 is None else l1
        self.l2 = 0.0 if l2 is None else l2

    def __call__(self, x):
        penalty = ops.zeros((), dtype=x.dtype)
        if not self.is_off("l1"):
            l1 = self.factor_of("l1", x.dtype)
            penalty = penalty + l1 * ops.sum(ops.absolute(x))
        if not self.is_off("l2"):
            l2 = self.factor_of("l2", x.dtype)
            penalty = penalty + l2 * ops.sum(ops.square(x))
        return penalty


@keras.saving.register_keras_serializable(package=_PACKAGE)
class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2-D weight toward orthogonality.

    The penalty is `factor` times half the mean absolute dot product between
    distinct L2-normalised rows (`mode="rows"`) or columns
    (`mode="columns"`), as `keras.regularizers.OrthogonalRegularizer`.

    Args:
        factor: float >= 0 or `Schedule`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]). Defaults to `0.01`.
        mode: `"rows"` or `"columns"`. Defaults to `"rows"`.

    Raises:
        TypeError: `factor` is not a number or schedule.
        ValueError: `factor` is negative or NaN, or `mode` is unknown.

    Examples:

        >>> reg = OrthogonalRegularizer(factor=0.1)
        >>> float(reg(keras.ops.eye(3)))
        0.0

    References:
        Brock et al., 2017, https://arxiv.org/abs/1609.07093
    """

    factor = Scheduled()

    def __init__(self, factor=0.01, mode="rows"):
        if mode not in ("rows", "columns"):
            raise checks.invalid("OrthogonalRegularizer", "mode", mode,
                                 'one of {"rows", "columns"}', show=str)
        self.mode = mode
        self.factor = factor

    def __call__(self, inputs):
        if len(inputs.shape) != 2:
            raise ValueError(
                "Inputs to OrthogonalRegularizer must have rank 2. "
                f"Received: inputs.shape={tuple(inputs.shape)}"
            )
        factor = self.factor_of("factor", inputs.dtype)
        axis = 1 if self.mode == "rows" else 0
        unit = ops.normalize(inputs, axis=axis)
        # Exact to float32 on any device (see `_matmul`): TF32 would put
        # errors of ~1e-3 into every cosine.
        if self.mode == "rows":
            product = exact_matmul(unit, ops.transpose(unit))
        else:
            product = exact_matmul(ops.transpose(unit), unit)
        size = inputs.shape[1 - axis]
        off_diagonal = product * (1.0 - ops.eye(size, dtype=inputs.dtype))
        pairs = size * (size - 1.0) / 2.0
        return factor * 0.5 * ops.sum(ops.absolute(off_diagonal)) / pairs

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
