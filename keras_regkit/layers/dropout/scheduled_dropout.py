"""`Dropout`, `SpatialDropout1D/2D/3D`, `GaussianDropout`: scheduled rates.

Drop-ins for Keras's layers (same arguments, defaults and meaning) whose
`rate` may also follow a `Schedule` (curriculum dropout), and which can stay
active at inference (`monte_carlo=True`). Masks come from a counter-based
hash generator (`keras_regkit._random`) instead of `keras.random.uniform`,
whose XLA kernel on CPU makes Keras's Dropout far slower under
`jit_compile=True` than in graph mode.

References:
    Srivastava et al., 2014, https://jmlr.org/papers/v15/srivastava14a.html
    Tompson et al., 2015 (spatial dropout), https://arxiv.org/abs/1411.4280
    Morerio et al., 2017 (curriculum dropout), https://arxiv.org/abs/1703.06229
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.dropout._base import StochasticLayer
from keras_regkit.layers.dropout._base import check_function_args

_PACKAGE = "keras_regkit"


def dropout(inputs, rate, seed, noise_shape=None):
    """Zeroes entries with probability `rate`, scales the rest by 1/(1-rate).

    Args:
        inputs: tensor.
        rate: float or scalar tensor in [0, 1).
        seed: a `keras.random.SeedGenerator` (or int).
        noise_shape: None or a shape broadcastable to `inputs` (None entries
            take the input's size); entries of size 1 share one draw.

    Returns:
        A tensor like `inputs`; exactly `inputs` when `rate` is 0.

    Examples:

        >>> x = keras.ops.ones((2, 4))
        >>> y = dropout(x, 0.5, seed=1)
        >>> sorted(set(keras.ops.convert_to_numpy(y).ravel().tolist()))
        [0.0, 2.0]
    """
    rate = check_function_args("dropout", rate, seed)
    shape = ops.shape(inputs)
    if noise_shape is not None:
        shape = tuple(s if n is None else n
                      for s, n in zip(shape, noise_shape, strict=False))
    keep_prob = 1.0 - ops.cast(rate, "float32")
    keep = _random.keep_mask(shape, keep_prob, seed)
    scale = ops.cast(1.0 / keep_prob, inputs.dtype)
    return ops.where(keep, inputs * scale, ops.zeros((), inputs.dtype))


def gaussian_dropout(inputs, rate, seed):
    """Multiplies by noise from N(1, rate / (1 - rate)); identity at rate 0.

    Examples:

        >>> y = gaussian_dropout(keras.ops.ones((3,)), 0.0, seed=1)
        >>> keras.ops.convert_to_numpy(y).tolist()
        [1.0, 1.0, 1.0]
    """
    rate = ops.cast(check_function_args("gaussian_dropout", rate, seed),
                    "float32")
    stddev = ops.sqrt(rate / (1.0 - rate))
    noise = _random.normal(ops.shape(inputs), seed) * stddev + 1.0
    return inputs * ops.cast(noise, inputs.dtype)


def _validate_noise_shape(noise_shape):
    """Keras's `Dropout` rules and wording for `noise_shape`."""
    if noise_shape is None:
        return None
    if isinstance(noise_shape, str):
        raise ValueError(
            "Invalid value received for argument `noise_shape`. Expected a "
            f"tuple or list of integers. Received: noise_shape={noise_shape}"
        )
    try:
        noise_shape = tuple(noise_shape)
    except TypeError:
        raise ValueError(
            "Invalid value received for argument `noise_shape`. Expected a "
            f"tuple or list of integers. Received: noise_shape={noise_shape}"
        ) from None
    for dim in noise_shape:
        if dim is None:
            continue
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise ValueError(
                "Invalid value received for argument `noise_shape`. Expected "
                "all elements to be integers or None. Received: "
                f"noise_shape={noise_shape}"
            )
        if dim <= 0:
            raise ValueError(
                "Invalid value received for argument `noise_shape`. Expected "
                "all dimensions to be positive integers or None. Received: "
                f"noise_shape={noise_shape}"
            )
    return noise_shape


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Dropout(StochasticLayer):
    """Dropout whose rate may follow a schedule; a drop-in for Keras's.

    Sets input units to 0 with probability `rate` during training and scales
    the others by `1 / (1 - rate)`, so the expected sum is unchanged. Use a
    schedule for curriculum dropout (start at 0, raise it as the model
    starts to overfit), and `monte_carlo=True` for MC-dropout uncertainty
    (see `mc_predict`).

    Args:
        rate: float in [0, 1) or `Schedule`, fraction of units to drop. May be
            a `Schedule`; moved by [`StrengthScheduler`][scheduled].
        noise_shape: None or tuple: shape of the keep/drop mask, broadcast
            against the input (e.g. `(batch, 1, features)` drops the same
            features at every time step). Defaults to `None`.
        seed: int or None. Defaults to `None`.
        monte_carlo: bool, stay active at inference. Defaults to `False`.

    Call arguments:
        inputs: tensor of any shape.
        training: bool, whether to drop. Defaults to `False`.

    Raises:
        ValueError: `rate` outside [0, 1) or a bad `noise_shape`.

    Examples:

        >>> from keras_regkit import schedules
        >>> layer = Dropout(schedules.Linear(0.0, 0.5, duration=10), seed=0)
        >>> tuple(layer(keras.ops.ones((2, 3)), training=True).shape)
        (2, 3)
    """

    def __init__(self, rate, noise_shape=None, seed=None, monte_carlo=False,
                 **kwargs):
        super().__init__(rate, seed=seed, monte_carlo=monte_carlo, **kwargs)
        self.noise_shape = _validate_noise_shape(noise_shape)
        self.mark_built_if_stateless()

    def drop(self, inputs, rate):
        return dropout(inputs, rate, self.seed_generator, self.noise_shape)

    def get_config(self):
        return {**super().get_config(), "noise_shape": self.noise_shape}


class _SpatialDropout(StochasticLayer):
    """Drops whole channels: one draw per sample and channel."""

    rank = None

    def __init__(self, rate, data_format=None, seed=None, monte_carlo=False,
                 **kwargs):
        super().__init__(rate, seed=seed, monte_carlo=monte_carlo, **kwargs)
        self.data_format = checks.data_format(type(self).__name__,
                                              data_format)
        self.input_spec = keras.layers.InputSpec(ndim=self.rank + 2)
        self.mark_built_if_stateless()

    def drop(self, inputs, rate):
        shape = ops.shape(inputs)
        if self.data_format == "channels_last":
            noise_shape = (shape[0], *([1] * self.rank), shape[-1])
        else:
            noise_shape = (shape[0], shape[1], *([1] * self.rank))
        return dropout(inputs, rate, self.seed_generator, noise_shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpatialDropout1D(_SpatialDropout):
    """Drops entire 1D feature maps (channels); a drop-in for Keras's.

    Use it after `Conv1D`, where neighbouring steps are strongly correlated
    and element-wise dropout barely regularizes. Keras's layer has no
    `data_format`; ours accepts one (default channels_last).

    Args:
        rate: float in [0, 1) or `Schedule`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        seed: int or None. Defaults to `None`.
        monte_carlo: bool, stay active at inference. Defaults to `False`.

    Call arguments:
        inputs: 3D tensor `(samples, timesteps, channels)`.
        training: bool. Defaults to `False`.

    Examples:

        >>> layer = SpatialDropout1D(0.5)
        >>> tuple(layer(keras.ops.ones((2, 4, 3)), training=True).shape)
        (2, 4, 3)
    """

    rank = 1

    def __init__(self, rate, seed=None, monte_carlo=False,
                 data_format="channels_last", **kwargs):
        super().__init__(rate, data_format=data_format, seed=seed,
                         monte_carlo=monte_carlo, **kwargs)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpatialDropout2D(_SpatialDropout):
    """Drops entire 2D feature maps (channels); a drop-in for Keras's.

    Args:
        rate: float in [0, 1) or `Schedule`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        seed: int or None. Defaults to `None`.
        monte_carlo: bool, stay active at inference. Defaults to `False`.

    Call arguments:
        inputs: 4D tensor.
        training: bool. Defaults to `False`.

    Examples:

        >>> tuple(SpatialDropout2D(0.5)(keras.ops.ones((2, 4, 4, 3))).shape)
        (2, 4, 4, 3)
    """

    rank = 2


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpatialDropout3D(_SpatialDropout):
    """Drops entire 3D feature maps (channels); a drop-in for Keras's.

    Args:
        rate: float in [0, 1) or `Schedule`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        seed: int or None. Defaults to `None`.
        monte_carlo: bool, stay active at inference. Defaults to `False`.

    Call arguments:
        inputs: 5D tensor.
        training: bool. Defaults to `False`.

    Examples:

        >>> tuple(SpatialDropout3D(0.5)(keras.ops.ones((1, 2, 2, 2, 3))).shape)
        (1, 2, 2, 2, 3)
    """

    rank = 3


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GaussianDropout(StochasticLayer):
    """Multiplicative N(1, rate/(1-rate)) noise; a drop-in for Keras's.

    Args:
        rate: float in [0, 1) or `Schedule`, the drop probability the noise
            variance corresponds to. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        seed: int or None. Defaults to `None`.
        monte_carlo: bool, stay active at inference. Defaults to `False`.

    Call arguments:
        inputs: tensor of any shape.
        training: bool. Defaults to `False`.

    Examples:

        >>> tuple(GaussianDropout(0.2, seed=0)(keras.ops.ones((2, 2))).shape)
        (2, 2)
    """

    def __init__(self, rate, seed=None, monte_carlo=False, **kwargs):
        super().__init__(rate, seed=seed, monte_carlo=monte_carlo, **kwargs)
        self.mark_built_if_stateless()

    def drop(self, inputs, rate):
        return gaussian_dropout(inputs, rate, self.seed_generator)
