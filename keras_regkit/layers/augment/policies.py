"""Augmentation policies: `RandAugment` and `TrivialAugment`.

Each image draws its own operations and magnitudes. To stay one compiled
program (no data-dependent branches), every colour operation is computed for
the batch and selected per image, while the geometric operations of all
stages become one matrix per image and one resampling at the end. So colour
operations act before the geometric ones (they commute except near the
filled border and through interpolation). `equalize` is left out: a
per-image histogram is a scatter XLA runs slowly. Boxes and masks move by
the same matrix as the pixels; colour operations leave them alone.
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit._fusion import kept_apart
from keras_regkit.layers.augment import colour
from keras_regkit.layers.augment import geometry
from keras_regkit.layers.augment._base import BaseAugmentation
from keras_regkit.layers.augment._base import mask_fill_value
from keras_regkit.layers.augment._base import move_boxes
from keras_regkit.layers.augment.geometric import check_resampling
from keras_regkit.strengths import ScheduledRange

# Magnitude 1 means (timm's RandAugment at magnitude 10): rotate 30 degrees,
# shear 0.3, translate 45% of the size, enhance factors 1 +- 0.9, posterize
# to 4 bits, solarize everything.
_ROTATE_MAX = 30.0 * 3.141592653589793 / 180.0
_SHEAR_MAX = 0.3
_TRANSLATE_MAX = 0.45
_ENHANCE_MAX = 0.9
# The most ops (or chains) a policy layer unrolls: published policies use
# 1-3; a million would take minutes to trace, and a .keras file may ask.
MAX_OPS = 32

COLOUR_OPS = ("identity", "auto_contrast", "brightness", "color", "contrast",
              "posterize", "solarize", "sharpness")
GEOMETRIC_OPS = ("rotate", "shear_x", "shear_y", "translate_x",
                 "translate_y")
OPS = COLOUR_OPS + GEOMETRIC_OPS


def _blend(degenerate, images, factor, value_range):
    """PIL's ImageEnhance: `degenerate + factor * (images - degenerate)`."""
    factor = ops.reshape(factor, (-1, 1, 1, 1))
    return ops.clip(degenerate + factor * (images - degenerate),
                    *value_range)


def _smooth(images):
    """PIL's SMOOTH kernel (centre 5, neighbours 1, over 13); borders kept."""
    if images.shape[0] == 0:  # torch cannot pad an empty batch
        return images
    padded = ops.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="symmetric")
    height, width = images.shape[1], images.shape[2]
    total = 4.0 * images
    for dy in range(3):
        for dx in range(3):
            total = total + padded[:, dy:dy + height, dx:dx + width]
    return total / 13.0


def colour_op(name, images, magnitude, signed, value_range):
    """One colour operation at a per-image `magnitude` in [0, 1]."""
    low, high = value_range
    span = high - low
    enhance = 1.0 + _ENHANCE_MAX * signed
    if name == "identity":
        return images
    if name == "auto_contrast":
        # `initial` keeps an empty batch legal; the range bounds every value.
        lo = ops.min(images, axis=(1, 2), keepdims=True, initial=high)
        hi = ops.max(images, axis=(1, 2), keepdims=True, initial=low)
        scaled = (images - lo) / ops.maximum(hi - lo, 1e-6) * span + low
        # Rounding can carry the maximum a few ulps past `high`.
        return ops.where(hi > lo, ops.minimum(scaled, high), images)
    if name == "brightness":
        return _blend(ops.zeros_like(images) + low, images, enhance,
                      value_range)
    if name == "color":
        return _blend(colour.grayscale(images), images, enhance, value_range)
    if name == "contrast":
        gray = ops.mean(colour.grayscale(images), axis=(1, 2, 3),
                        keepdims=True)
        return _blend(gray, images, enhance, value_range)
    if name == "posterize":
        step = ops.reshape(2.0 ** ops.round(4.0 * magnitude), (-1, 1, 1, 1))
        unit = (images - low) * (255.0 / span)
        return ops.floor(unit / step) * step * (span / 255.0) + low
    if name == "solarize":
        threshold = ops.reshape(high - magnitude * span, (-1, 1, 1, 1))
        return ops.where(images > threshold, high + low - images, images)
    if name == "sharpness":
        return _blend(_smooth(images), images, enhance, value_range)
    raise ValueError(f"Unknown colour operation: {name!r}")


def geometric_op(name, signed, height, width):
    """The matrix of one geometric operation at a signed magnitude."""
    zeros = ops.zeros_like(signed)
    if name == "rotate":
        return geometry.rotation(signed * _ROTATE_MAX, height, width)
    if name == "shear_x":
        return geometry.shear(signed * _SHEAR_MAX, zeros, height, width)
    if name == "shear_y":
        return geometry.shear(zeros, signed * _SHEAR_MAX, height, width)
    if name == "translate_x":
        return geometry.translation(signed * _TRANSLATE_MAX * width, zeros)
    if name == "translate_y":
        return geometry.translation(zeros, signed * _TRANSLATE_MAX * height)
    raise ValueError(f"Unknown geometric operation: {name!r}")


def apply_chain(images, index, magnitude, signed, value_range, ops_list):
    """Applies one chain of per-image operations: `index`, `magnitude`,
    `signed` are `(stages, batch)`; `ops_list[index]` names each stage's
    operation. Colour operations run now, each computed for the batch and
    selected per image; returns the images and the `(B, 3, 3)` matrix of
    the chain's geometric operations, composed, for one resampling."""
    height, width = images.shape[1], images.shape[2]
    batch_size = ops.shape(images)[0]
    matrix = geometry.identity(batch_size)
    for stage in range(index.shape[0]):
        chosen = images
        step = geometry.identity(batch_size)
        for k, name in enumerate(ops_list):
            where = index[stage] == k
            if name in GEOMETRIC_OPS:
                step = ops.where(ops.reshape(where, (-1, 1, 1)),
                                 geometric_op(name, signed[stage], height,
                                              width), step)
            elif name != "identity":
                candidate = colour_op(name, images, magnitude[stage],
                                      signed[stage], value_range)
                chosen = ops.where(ops.reshape(where, (-1, 1, 1, 1)),
                                   candidate, chosen)
        images = chosen
        matrix = geometry.compose(matrix, step)
    return images, matrix


def chain_matrix(index, signed, height, width, ops_list):
    """The composed geometric matrix of a chain (as `apply_chain`), without
    the colour operations: what boxes and masks follow."""
    matrix = geometry.identity(ops.shape(index)[1])
    for stage in range(index.shape[0]):
        step = geometry.identity(ops.shape(index)[1])
        for k, name in enumerate(ops_list):
            if name in GEOMETRIC_OPS:
                step = ops.where(ops.reshape(index[stage] == k, (-1, 1, 1)),
                                 geometric_op(name, signed[stage], height,
                                              width), step)
        matrix = geometry.compose(matrix, step)
    return matrix


class _Policy(BaseAugmentation):
    """Draws `num_ops` operations per image from `OPS` and applies them."""

    accepted_channels = (1, 3)
    factor = ScheduledRange((0.0, 1.0))

    def __init__(self, value_range, num_ops, factor, interpolation,
                 fill_mode, fill_value, seed, data_format, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        owner = type(self).__name__
        self.value_range = checks.value_range(owner, value_range)
        # Each op is unrolled in the compiled graph.
        self.num_ops = checks.integer(owner, "num_ops", num_ops,
                                      maximum=MAX_OPS)
        self.factor = factor
        self._resampling = check_resampling(owner, fill_mode, interpolation,
                                            fill_value)
        self.interpolation = interpolation
        self.fill_mode = fill_mode
        self.fill_value = fill_value

    def draw(self, batch_size, height, width):
        u = _random.uniform((max(self.num_ops, 1), 3, batch_size),
                            self.seed_generator)
        index = ops.minimum(ops.cast(u[:, 0] * len(OPS), "int32"),
                            len(OPS) - 1)
        magnitude = self.strength("factor").sample(u[:, 1])
        signed = magnitude * ops.where(u[:, 2] < 0.5, -1.0, 1.0)
        return {"index": index, "magnitude": magnitude, "signed": signed}

    def apply_images(self, images, draw):
        if self.num_ops == 0:
            return images
        images, matrix = apply_chain(images, draw["index"], draw["magnitude"],
                                     draw["signed"], self.value_range, OPS)
        images = kept_apart(images, self.seed_generator.state)
        # Bilinear weights can carry a value a few ulps past the range.
        return ops.clip(
            geometry.affine_transform(images, matrix, **self._resampling),
            *self.value_range)

    def _matrix(self, draw, height, width):
        index = draw["index"][:self.num_ops]
        return chain_matrix(index, draw["signed"][:self.num_ops], height,
                            width, OPS)

    def apply_bounding_boxes(self, boxes, draw, height, width):
        return move_boxes(boxes, self._matrix(draw, height, width),
                          (height, width))

    def apply_segmentation_masks(self, masks, draw):
        height, width = masks.shape[1], masks.shape[2]
        return geometry.resample_nearest(
            masks, self._matrix(draw, height, width), None, self.fill_mode,
            mask_fill_value(masks.dtype))

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": list(self.value_range),
            **self._resampling,
        }


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandAugment(_Policy):
    """RandAugment: `num_ops` random operations per image; XLA-friendly.

    A drop-in for `keras.layers.RandAugment` (which fails under XLA). Each
    image draws `num_ops` operations uniformly from identity, auto-contrast,
    brightness, colour, contrast, posterize, solarize, sharpness, rotate,
    shear x/y and translate x/y, each with a magnitude drawn from `factor`'s
    range (a fraction of the maximum: 30 degrees, shear 0.3, 45% shift,
    enhance factor 1 +- 0.9, 4 bits, full solarize) and a random sign.

    Args:
        value_range: `(low, high)` of the pixel values. Defaults to
            `(0, 255)`.
        num_ops: int >= 0, operations per image. Defaults to `2`.
        factor: float, pair, or Schedule in [0, 1]: the magnitude range (a
            float `f` draws from `[0, f]`). Defaults to `0.5`. May be a
            `Schedule` (or a pair of them); moved by
            [`StrengthScheduler`][scheduled].
        interpolation: `"bilinear"` or `"nearest"`. Defaults to
            `"bilinear"`.
        seed: int or None. Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        fill_mode: as in `RandomRotation`. Defaults to `"reflect"`.
        fill_value: as in `RandomRotation`. Defaults to `0.0`.

    Examples:

        >>> import numpy as np
        >>> layer = RandAugment(num_ops=2, factor=0.5, seed=0)
        >>> x = np.random.rand(2, 16, 16, 3).astype("float32") * 255
        >>> tuple(layer(x).shape)
        (2, 16, 16, 3)

    References:
        Cubuk et al., RandAugment: Practical automated data augmentation
        with a reduced search space, 2020. https://arxiv.org/abs/1909.13719
    """

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5,
                 interpolation="bilinear", seed=None, data_format=None,
                 fill_mode="reflect", fill_value=0.0, **kwargs):
        super().__init__(value_range, num_ops, factor, interpolation,
                         fill_mode, fill_value, seed, data_format, **kwargs)

    def get_config(self):
        return {**super().get_config(), "num_ops": self.num_ops}


@keras.saving.register_keras_serializable(package="keras_regkit")
class TrivialAugment(_Policy):
    """TrivialAugment: one random operation per image, random magnitude.

    No hyperparameters to tune: each image draws one operation from the
    `RandAugment` set and a magnitude uniformly from `[0, factor]`.

    Args:
        value_range: `(low, high)`. Defaults to `(0, 255)`.
        factor: float, pair, or Schedule in [0, 1], the magnitude range.
            Defaults to `1.0`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        interpolation, fill_mode, fill_value, seed, data_format: as in
            `RandAugment`.

    Examples:

        >>> import numpy as np
        >>> layer = TrivialAugment(seed=0)
        >>> x = np.random.rand(2, 16, 16, 3).astype("float32") * 255
        >>> tuple(layer(x).shape)
        (2, 16, 16, 3)

    References:
        Mueller and Hutter, TrivialAugment: Tuning-free Yet State-of-the-Art
        Data Augmentation, 2021. https://arxiv.org/abs/2103.10158
    """

    def __init__(self, value_range=(0, 255), factor=1.0,
                 interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, seed=None, data_format=None, **kwargs):
        super().__init__(value_range, 1, factor, interpolation, fill_mode,
                         fill_value, seed, data_format, **kwargs)
