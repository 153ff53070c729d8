"""`DropBlock2D`: drop contiguous square regions of feature maps.

References:
    Ghiasi et al., 2018, DropBlock: A regularization method for
    convolutional networks, https://arxiv.org/abs/1810.12890
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.dropout._base import StochasticLayer
from keras_regkit.layers.dropout._base import check_function_args


def drop_block_2d(inputs, rate, block_size, seed, data_format="channels_last"):
    """Zeroes `block_size` x `block_size` squares so that about `rate` drops.

    Block centres are drawn where a whole block fits, independently per
    sample and channel, with the paper's probability
    `gamma = rate * H * W / (block_size**2 * (H - block_size + 1) *
    (W - block_size + 1))`; the kept activations are rescaled by the share
    kept, so the expected sum is preserved.

    Args:
        inputs: 4D tensor.
        rate: float or scalar tensor in [0, 1): the fraction of units to
            drop (1 - the paper's keep_prob).
        block_size: int, side of the square; at most the spatial size.
        seed: a `keras.random.SeedGenerator` (or int).
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        A tensor like `inputs`; exactly `inputs` when `rate` is 0.

    Examples:

        >>> x = keras.ops.ones((1, 8, 8, 1))
        >>> y = drop_block_2d(x, 0.2, 3, seed=0)
        >>> tuple(y.shape)
        (1, 8, 8, 1)
    """
    owner = "drop_block_2d"
    rate = check_function_args(owner, rate, seed)
    checks.integer(owner, "block_size", block_size, minimum=1)
    checks.choice(owner, "data_format", data_format, checks.DATA_FORMATS)
    if len(inputs.shape) != 4:
        raise ValueError(f"{owner} expects a 4D input (batch, height, "
                         f"width, channels or channels first); received "
                         f"shape {tuple(inputs.shape)}.")
    if data_format == "channels_last":
        height, width = inputs.shape[1], inputs.shape[2]
    else:
        height, width = inputs.shape[2], inputs.shape[3]
    if None in (height, width) or block_size > min(height, width):
        raise checks.invalid(
            owner, "block_size", block_size,
            f"at most the input's known height and width "
            f"({height} x {width})")
    valid_h, valid_w = height - block_size + 1, width - block_size + 1
    rate = ops.cast(rate, "float32")
    gamma = rate * (height * width) / (block_size**2 * valid_h * valid_w)
    shape = ops.shape(inputs)
    if data_format == "channels_last":
        seed_shape = (shape[0], valid_h, valid_w, shape[3])
        row_axis, col_axis = 1, 2
    else:
        seed_shape = (shape[0], shape[1], valid_h, valid_w)
        row_axis, col_axis = 2, 3
    centres = _random.uniform(seed_shape, seed) < gamma
    dropped = _window_any(_window_any(centres, row_axis, block_size),
                          col_axis, block_size)
    keep = ops.cast(ops.logical_not(dropped), "float32")
    total = ops.cast(ops.size(keep), "float32")
    scale = total / ops.maximum(ops.sum(keep), 1.0)
    return ops.multiply(inputs, ops.cast(keep * scale, inputs.dtype))


def _window_any(centres, axis, size):
    """Marks, along `axis`, the `size` positions that follow each centre.

    Output position `r` is set when a centre lies in `[r - size + 1, r]`,
    so a centre at `i` covers `i .. i + size - 1` and the axis grows by
    `size - 1`. Done as a separable sliding "or" in log-steps (windows of
    1, 2, 4, ... combined from two shifted slices): about `2 * log2(size)`
    elementwise ops that XLA fuses, where a stride-1 `size` x `size` max
    pool reads each element `size**2` times.
    """
    padding = [(0, 0)] * len(centres.shape)
    padding[axis] = (size - 1, size - 1)
    covered = ops.pad(centres, padding)
    window = 1
    while window < size:
        step = min(window, size - window)
        length = covered.shape[axis]
        covered = ops.logical_or(
            _slice(covered, axis, 0, length - step),
            _slice(covered, axis, step, length),
        )
        window += step
    return covered


def _slice(tensor, axis, start, stop):
    index = [slice(None)] * len(tensor.shape)
    index[axis] = slice(start, stop)
    return tensor[tuple(index)]


@keras.saving.register_keras_serializable(package="keras_regkit")
class DropBlock2D(StochasticLayer):
    """DropBlock: structured dropout of contiguous regions for conv nets.

    Element-wise dropout barely regularizes convolutional features, because
    neighbours carry the same information; DropBlock removes whole
    `block_size` x `block_size` regions instead. The paper lowers keep_prob
    linearly from 1 during training: pass `rate=schedules.Linear(0.0, 0.1,
    duration=...)` with `StrengthScheduler`.

    Args:
        rate: float in [0, 1) or `Schedule`: fraction of activations to drop
            (the paper's `1 - keep_prob`). May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        block_size: int >= 1, side of the dropped squares; at most the
            input's height and width (checked at build). Defaults to `7`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        seed: int or None. Defaults to `None`.
        monte_carlo: bool, stay active at inference. Defaults to `False`.

    Call arguments:
        inputs: 4D tensor.
        training: bool. Defaults to `False`.

    Raises:
        ValueError: `rate` outside [0, 1), `block_size` < 1, unknown
            `data_format`; at build, a block larger than the input or an
            input that is not 4D.

    Examples:

        >>> layer = DropBlock2D(0.1, block_size=3, seed=0)
        >>> tuple(layer(keras.ops.ones((2, 8, 8, 4)), training=True).shape)
        (2, 8, 8, 4)
    """

    def __init__(self, rate, block_size=7, data_format=None, seed=None,
                 monte_carlo=False, **kwargs):
        super().__init__(rate, seed=seed, monte_carlo=monte_carlo, **kwargs)
        self.block_size = checks.integer("DropBlock2D", "block_size",
                                         block_size, 1)
        self.data_format = checks.data_format("DropBlock2D", data_format)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "DropBlock2D expects 4D input (batch, height, width, channels "
                f"or channels first); received input_shape={input_shape}"
            )
        spatial = (
            input_shape[1:3]
            if self.data_format == "channels_last"
            else input_shape[2:4]
        )
        if any(s is None for s in spatial):
            raise ValueError(
                "DropBlock2D needs a known height and width; received "
                f"input_shape={input_shape}"
            )
        if self.block_size > min(spatial):
            raise ValueError(
                "Invalid value for argument `block_size` of DropBlock2D: "
                f"block_size={self.block_size} is larger than the input's "
                f"height x width {spatial[0]} x {spatial[1]}; use a "
                f"block_size <= {min(spatial)}."
            )

    def drop(self, inputs, rate):
        return drop_block_2d(
            inputs, rate, self.block_size, self.seed_generator,
            self.data_format,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "block_size": self.block_size,
            "data_format": self.data_format,
        }
