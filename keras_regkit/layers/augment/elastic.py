"""RandomElasticTransform: a smooth random displacement of every pixel."""

import math

import keras
import numpy as np
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit._fusion import computed_once
from keras_regkit.layers.augment import bounding_boxes
from keras_regkit.layers.augment import geometry
from keras_regkit.layers.augment._base import BaseAugmentation
from keras_regkit.layers.augment._base import mask_fill_value
from keras_regkit.layers.augment.geometric import check_resampling
from keras_regkit.strengths import ScheduledRange

#: Standard deviation of Keras's smoothed field (white noise of deviation
#: sigma blurred by a normalized Gaussian of deviation sigma: 1 / (2 sqrt
#: pi) once sigma is a pixel or more), which `alpha` then scales.
_FIELD_STD = 0.5 / math.sqrt(math.pi)


def _upsampling(size, spacing, nodes):
    """Static indices and weights that interpolate `nodes` values spaced
    `spacing` pixels apart (node j at pixel j * spacing) at every pixel."""
    position = np.arange(size) / spacing
    lower = np.minimum(np.floor(position).astype("int32"), nodes - 2)
    return lower, (position - lower).astype("float32")


def _upsample(field, axis, lower, weight):
    """Linear interpolation along `axis` with static indices: gathers and
    multiply-adds (no matmul, so exact whatever the matmul precision)."""
    shape = [1] * 4
    shape[axis] = len(weight)
    weight = ops.reshape(ops.convert_to_tensor(weight), shape)
    return (ops.take(field, lower, axis=axis) * (1.0 - weight)
            + ops.take(field, lower + 1, axis=axis) * weight)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomElasticTransform(BaseAugmentation):
    """Elastic deformation: each pixel moved by a smooth random field.

    A drop-in for `keras.layers.RandomElasticTransform` (which claims
    `supports_jit` but fails under XLA), same arguments and meaning: each
    image is deformed with a probability drawn from `factor`'s range, by a
    Gaussian-smoothed random displacement field of smoothness `sigma =
    0.05 * min(height, width) * scale` and amplitude `alpha = 0.1 *
    max(height, width) * scale` pixels (so displacements have a standard
    deviation of about `0.028 * max(height, width) * scale`). Unlike
    Keras's, each image draws its own `scale` and its own field for x and
    y (Keras's two fields are equal), and boxes and masks follow.

    The field is drawn on a grid spaced `sigma_max / 2` pixels apart
    (`sigma_max` from the top of `scale`'s range), smoothed there by a
    separable Gaussian of fixed width and interpolated to every pixel: a
    fixed-size program whatever the draw, under XLA, at a fraction of a
    full-resolution blur's cost. Masks take the displaced pixels with
    nearest sampling (class ids copied); a box becomes the box of the
    output pixels whose source lies inside it.

    Args:
        factor: float, pair, or Schedule in [0, 1]: the probability of
            deforming an image is drawn from this range (a float `f` draws
            from `[0, f]`). Defaults to `1.0`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        scale: float or pair in [0, 1], the deformation's strength range
            (a float `s` draws from `[0, s]`). Defaults to `1.0`.
        interpolation: `"bilinear"` or `"nearest"`. Defaults to
            `"bilinear"`.
        fill_mode: as in `RandomRotation`. Defaults to `"reflect"`.
        fill_value: as in `RandomRotation`. Defaults to `0.0`.
        value_range: `(low, high)` of the pixel values; the output is
            clipped to it. Defaults to `(0, 255)`.
        seed: int or None. Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.

    Examples:

        >>> import numpy as np
        >>> layer = RandomElasticTransform(factor=(1.0, 1.0), seed=0)
        >>> x = np.random.rand(2, 32, 32, 3).astype("float32") * 255
        >>> y = keras.ops.convert_to_numpy(layer(x))
        >>> y.shape, bool(np.abs(y - x).max() > 1)
        ((2, 32, 32, 3), True)

    References:
        Simard et al., Best Practices for Convolutional Neural Networks
        Applied to Visual Document Analysis, 2003.
    """

    factor = ScheduledRange((0.0, 1.0))

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear",
                 fill_mode="reflect", fill_value=0.0, value_range=(0, 255),
                 seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        owner = type(self).__name__
        self.factor = factor
        if checks.is_number(scale):
            scale = (0.0, scale)
        self.scale = checks.pair(
            owner, "scale", scale, lambda lo, hi: 0 <= lo <= hi <= 1,
            "a float or a pair (low, high) with 0 <= low <= high <= 1")
        self._resampling = check_resampling(owner, fill_mode, interpolation,
                                            fill_value)
        self.interpolation = interpolation
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.value_range = checks.value_range(owner, value_range)

    def _grid(self, height, width):
        """(spacing, nodes along y and x, blur radius), all static."""
        sigma_max = 0.05 * min(height, width) * self.scale[1]
        spacing = max(1.0, sigma_max / 2.0)
        radius = max(1, math.ceil(3.0 * sigma_max / spacing))
        rows = int((height - 1) // spacing) + 2
        cols = int((width - 1) // spacing) + 2
        return spacing, rows, cols, radius

    def draw(self, batch_size, height, width):
        _, rows, cols, radius = self._grid(height, width)
        u = _random.uniform((3, batch_size), self.seed_generator)
        probability = self.strength("factor").sample(u[0])
        low, high = self.scale
        scale = low + (high - low) * u[1]
        noise = _random.normal(
            (batch_size, rows + 2 * radius, cols + 2 * radius, 2),
            self.seed_generator)
        return {"apply": u[2] < probability, "scale": scale, "noise": noise}

    def _coordinates(self, draw, height, width):
        """Each output pixel's source `(x, y)`, `(B, height * width)`."""
        spacing, rows, cols, radius = self._grid(height, width)
        scale = draw["scale"]
        # The Gaussian, per image, in grid units; one tap at scale 0.
        sigma = ops.maximum(0.05 * min(height, width) * scale / spacing,
                            1e-3)
        taps = ops.arange(-radius, radius + 1, dtype="float32")
        kernel = ops.exp(-0.5 * ops.square(taps[None] / sigma[:, None]))
        kernel = kernel / ops.sum(kernel, axis=1, keepdims=True)
        field = draw["noise"]
        size = 2 * radius + 1
        field = sum(ops.reshape(kernel[:, k], (-1, 1, 1, 1))
                    * field[:, k:k + rows] for k in range(size))
        field = sum(ops.reshape(kernel[:, k], (-1, 1, 1, 1))
                    * field[:, :, k:k + cols] for k in range(size))
        # Unit deviation (a separable blur of unit noise has deviation
        # sum(kernel ** 2)), then Keras's deviation times alpha.
        norm = ops.sum(ops.square(kernel), axis=1)
        alpha = 0.1 * max(height, width) * scale
        gain = ops.where(draw["apply"], alpha * _FIELD_STD / norm, 0.0)
        # The small grid, computed once: XLA on CPU otherwise reruns the
        # whole blur inside the resampling's gathers, for every pixel read.
        field = computed_once(field * ops.reshape(gain, (-1, 1, 1, 1)))
        field = _upsample(field, 1, *_upsampling(height, spacing, rows))
        field = _upsample(field, 2, *_upsampling(width, spacing, cols))
        ys, xs = ops.meshgrid(ops.arange(height, dtype="float32"),
                              ops.arange(width, dtype="float32"),
                              indexing="ij")
        x = ops.reshape(xs[None] + field[..., 0], (-1, height * width))
        y = ops.reshape(ys[None] + field[..., 1], (-1, height * width))
        return x, y

    def apply_images(self, images, draw):
        height, width = images.shape[1], images.shape[2]
        if images.shape[0] == 0:
            return images
        x, y = self._coordinates(draw, height, width)
        out = geometry.sample(images, x, y, (height, width),
                              **self._resampling)
        return ops.clip(out, *self.value_range)

    def apply_segmentation_masks(self, masks, draw):
        height, width = masks.shape[1], masks.shape[2]
        if masks.shape[0] == 0:
            return masks
        x, y = self._coordinates(draw, height, width)
        return geometry.sample(masks, x, y, (height, width), "nearest",
                               self.fill_mode, mask_fill_value(masks.dtype))

    def apply_bounding_boxes(self, boxes, draw, height, width):
        """Each box becomes the box of the output pixels whose source
        (pixel centre) lies inside it; -1 where none does."""
        x, y = self._coordinates(draw, height, width)
        x1, y1, x2, y2 = (boxes["boxes"][..., i, None] for i in range(4))
        x, y = x[:, None] + 0.5, y[:, None] + 0.5  # (B, 1, H * W)
        inside = (x >= x1) & (x < x2) & (y >= y1) & (y < y2)
        inside = ops.reshape(inside, (*ops.shape(inside)[:2], height, width))
        columns = ops.any(inside, axis=2)  # (B, N, W)
        rows = ops.any(inside, axis=3)  # (B, N, H)

        def extent(hit, size):
            index = ops.arange(size, dtype="float32")
            low = ops.min(ops.where(hit, index, float(size)), axis=-1)
            high = ops.max(ops.where(hit, index + 1.0, 0.0), axis=-1)
            return low, high

        left, right = extent(columns, width)
        top, bottom = extent(rows, height)
        found = ops.any(columns, axis=-1)
        moved = ops.where(found[..., None],
                          ops.stack([left, top, right, bottom], axis=-1),
                          0.0)
        result = {**boxes, "boxes": moved}
        if "labels" in boxes:
            result["labels"] = bounding_boxes.drop_empty(moved,
                                                         boxes["labels"])
        return result

    def get_config(self):
        return {
            **super().get_config(),
            "scale": list(self.scale),
            "value_range": list(self.value_range),
            **self._resampling,
        }
