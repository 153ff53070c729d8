"""`DropPath` (stochastic depth): drop whole residual branches per sample.

References:
    Huang et al., 2016, Deep Networks with Stochastic Depth,
    https://arxiv.org/abs/1603.09382
    Larsson et al., 2017, FractalNet, https://arxiv.org/abs/1605.07648
    The per-depth rate rule follows timm's `drop_path` helpers.
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.dropout._base import StochasticLayer
from keras_regkit.layers.dropout._base import check_function_args


def drop_path(inputs, rate, seed, scale_by_keep=True):
    """Zeroes whole samples with probability `rate` (one draw per sample).

    Apply it to the output of a residual branch before it is added back:
    `x + drop_path(branch(x), rate, seed)`.

    Args:
        inputs: tensor whose first axis is the batch.
        rate: float or scalar tensor in [0, 1).
        seed: a `keras.random.SeedGenerator` (or int).
        scale_by_keep: bool, scale kept samples by `1 / (1 - rate)`.

    Returns:
        A tensor like `inputs`; exactly `inputs` when `rate` is 0.

    Examples:

        >>> y = drop_path(keras.ops.ones((4, 3)), 0.5, seed=3)
        >>> sorted(set(keras.ops.convert_to_numpy(y).sum(axis=1).tolist()))
        [0.0, 6.0]
    """
    rate = check_function_args("drop_path", rate, seed)
    checks.boolean("drop_path", "scale_by_keep", scale_by_keep)
    shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
    keep_prob = 1.0 - ops.cast(rate, "float32")
    # A per-sample factor (0, or 1 / keep_prob), so the full-size tensor is
    # touched by a single multiply.
    factor = ops.cast(_random.uniform(shape, seed) < keep_prob, "float32")
    if scale_by_keep:
        factor = factor / keep_prob
    return inputs * ops.cast(factor, inputs.dtype)


def drop_path_rates(max_rate, depth):
    """Rates rising linearly from 0 to `max_rate` over `depth` blocks.

    The usual stochastic-depth rule: the first block is never dropped, the
    last is dropped with `max_rate`.

    Args:
        max_rate: float in [0, 1).
        depth: int >= 1, number of residual blocks.

    Returns:
        list of `depth` floats.

    Raises:
        ValueError: `max_rate` outside [0, 1) or `depth` < 1.

    Examples:

        >>> drop_path_rates(0.3, 4)
        [0.0, 0.1, 0.2, 0.3]
    """
    checks.number("drop_path_rates", "max_rate", max_rate,
                  lambda v: 0 <= v < 1, "a float in [0, 1)")
    checks.integer("drop_path_rates", "depth", depth, 1)
    if depth == 1:
        return [float(max_rate)]
    return [round(max_rate * i / (depth - 1), 12) for i in range(depth)]


@keras.saving.register_keras_serializable(package="keras_regkit")
class DropPath(StochasticLayer):
    """Stochastic depth: drops a residual branch for whole samples.

    Put it on the residual branch, before the addition, in ResNets,
    ConvNeXts and ViTs; spread rates over depth with `drop_path_rates`.
    Also exported as `StochasticDepth`.

    Args:
        rate: float in [0, 1) or `Schedule`, probability of dropping the
            branch for a sample. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        scale_by_keep: bool, scale kept samples by `1 / (1 - rate)` so the
            expected output is unchanged. Defaults to `True`.
        seed: int or None. Defaults to `None`.
        monte_carlo: bool, stay active at inference. Defaults to `False`.

    Call arguments:
        inputs: tensor whose first axis is the batch.
        training: bool. Defaults to `False`.

    Examples:

        >>> inputs = keras.Input((8,))
        >>> branch = keras.layers.Dense(8)(inputs)
        >>> outputs = keras.layers.Add()([inputs, DropPath(0.1)(branch)])
    """

    def __init__(self, rate, scale_by_keep=True, seed=None, monte_carlo=False,
                 **kwargs):
        super().__init__(rate, seed=seed, monte_carlo=monte_carlo, **kwargs)
        self.scale_by_keep = checks.boolean("DropPath", "scale_by_keep",
                                            scale_by_keep)
        self.mark_built_if_stateless()

    def drop(self, inputs, rate):
        return drop_path(inputs, rate, self.seed_generator, self.scale_by_keep)

    def get_config(self):
        return {**super().get_config(), "scale_by_keep": self.scale_by_keep}


@keras.saving.register_keras_serializable(package="keras_regkit")
class StochasticDepth(DropPath):
    """`DropPath` under keras-cv's name, taking keras-cv's call form too.

    `StochasticDepth(rate)(residual)` is `DropPath(rate)(residual)`;
    `StochasticDepth(rate)([shortcut, residual])`, as keras-cv's layer is
    called, returns `shortcut + ` the dropped residual. keras-cv drops the
    branch for the whole batch and scales it by `1 - rate` at inference;
    here it is dropped per sample and scaled by `1 / (1 - rate)` while
    training (timm's convention): the same expected output, with less
    variance per batch. `rate` defaults to keras-cv's `0.5`.

    Examples:

        >>> shortcut = keras.Input((8,))
        >>> residual = keras.layers.Dense(8)(shortcut)
        >>> outputs = StochasticDepth(0.1)([shortcut, residual])
        >>> tuple(outputs.shape)
        (None, 8)
    """

    def __init__(self, rate=0.5, scale_by_keep=True, seed=None,
                 monte_carlo=False, **kwargs):
        super().__init__(rate, scale_by_keep=scale_by_keep, seed=seed,
                         monte_carlo=monte_carlo, **kwargs)

    def _pair(self, inputs):
        if len(inputs) != 2:
            raise ValueError(
                "StochasticDepth takes a residual tensor, or a list "
                "[shortcut, residual] as keras-cv's layer does. Received a "
                f"list of {len(inputs)}.")
        return inputs

    def call(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            shortcut, residual = self._pair(inputs)
            return shortcut + super().call(residual, training=training)
        return super().call(inputs, training=training)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and \
                isinstance(input_shape[0], (list, tuple)):
            return tuple(self._pair(input_shape)[0])
        return super().compute_output_shape(input_shape)
