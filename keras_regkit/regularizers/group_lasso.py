"""Group lasso: structured sparsity over rows, columns or conv filters."""

import math

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit.regularizers._base import Regularizer
from keras_regkit.strengths import Scheduled

_MODES = {"rows": -2, "columns": -1, "filters": -1}


@keras.saving.register_keras_serializable(package="keras_regkit")
class GroupLasso(Regularizer):
    """Group lasso: `factor * sum_g sqrt(size_g) * ||w_g||_2` over groups.

    Drives whole groups of weights to zero together, so you can prune them
    afterwards: input features of a `Dense` kernel (`mode="rows"`), its
    output units (`mode="columns"`), or the output filters of a conv kernel
    (`mode="filters"`, a slice along the last axis). Keras has no
    equivalent.

    Args:
        factor: float >= 0 or `Schedule`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]). Defaults to `0.01`.
        mode: `"rows"` (groups along the second-to-last axis: Dense inputs,
            conv input channels), `"columns"` (along the last axis: Dense
            units) or `"filters"` (the same axis, named for conv kernels).
            Defaults to `"columns"`.
        scale_by_group_size: bool, weight each group norm by the square root
            of its size (Yuan and Lin's original form). Defaults to `True`.

    Raises:
        TypeError: `factor` is not a number or schedule.
        ValueError: `factor` is negative or NaN, `mode` is unknown, or the
            weight has rank < 2 (when called).

    Examples:

        >>> reg = GroupLasso(factor=1.0, mode="columns",
        ...                  scale_by_group_size=False)
        >>> float(reg(keras.ops.ones((4, 3))))
        6.0

    References:
        Yuan and Lin, 2006, https://doi.org/10.1111/j.1467-9868.2005.00532.x
        Scardapane et al., 2017, https://arxiv.org/abs/1607.00485
    """

    factor = Scheduled()

    def __init__(self, factor=0.01, mode="columns", scale_by_group_size=True):
        self.mode = checks.choice("GroupLasso", "mode", mode, tuple(_MODES),
                                  expected='one of "rows", "columns", '
                                  '"filters"')
        self.scale_by_group_size = checks.boolean(
            "GroupLasso", "scale_by_group_size", scale_by_group_size)
        self.factor = factor

    def __call__(self, x):
        rank = len(x.shape)
        if rank < 2:
            raise ValueError(
                "GroupLasso needs a weight of rank >= 2 (a kernel), got "
                f"shape {tuple(x.shape)}; use it as a kernel_regularizer."
            )
        if self.mode == "filters" and rank < 3:
            raise ValueError(
                'GroupLasso(mode="filters") groups the filters of a conv '
                f"kernel (rank >= 3); this weight has shape {tuple(x.shape)}"
                ', a Dense kernel: use mode="columns" for its units or '
                '"rows" for its inputs.'
            )
        factor = self.factor_of("factor", x.dtype)
        group_axis = rank + _MODES[self.mode]
        reduce_axes = tuple(a for a in range(rank) if a != group_axis)
        squares = ops.sum(ops.square(x), axis=reduce_axes)
        # sqrt has an infinite gradient at 0; the floor keeps it finite while
        # changing the value by at most 1e-12 per group.
        norms = ops.sqrt(ops.maximum(squares, 1e-24))
        penalty = ops.sum(norms)
        if self.scale_by_group_size:
            size = math.prod(x.shape[a] for a in reduce_axes)
            penalty = penalty * math.sqrt(size)
        return factor * penalty

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "scale_by_group_size": self.scale_by_group_size,
        }
