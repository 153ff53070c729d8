"""Random erasing (cutout): blank a random box of each image."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.augment import geometry
from keras_regkit.layers.augment._base import BaseAugmentation
from keras_regkit.layers.augment._regions import box_mask
from keras_regkit.layers.augment._regions import box_size
from keras_regkit.strengths import PROBABILITY
from keras_regkit.strengths import Scheduled


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomErasing(BaseAugmentation):
    """Erases a random box of each image (random erasing / cutout).

    Takes `keras.layers.RandomErasing`'s arguments, with `factor` meaning
    what Keras's docstring says: the probability that an image is erased
    (`1.0` always; Keras actually erases half the images at `1.0`). The box
    follows Zhong et al.: its area is a fraction in `scale` of the image's
    and its aspect ratio is log-uniform in `ratio` (clipped to the image).

    Args:
        factor: float in [0, 1] or Schedule: probability of erasing.
            Defaults to `1.0`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        scale: `(low, high)` area fractions in [0, 1] (a number `s` means
            `(0, s)`). Defaults to `(0.02, 0.33)`.
        fill_value: None (uniform noise in `value_range`, per pixel), a
            number, or one number per channel. Defaults to `None`.
        value_range: `(low, high)` of the pixel values. Defaults to
            `(0, 255)`.
        seed: int or None. Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        ratio: `(low, high)` box aspect ratios (width / height), positive.
            Defaults to `(0.3, 3.3)`.

    Examples:

        >>> import numpy as np
        >>> layer = RandomErasing(scale=(0.25, 0.25), ratio=(1.0, 1.0),
        ...                       fill_value=0.0, seed=0)
        >>> out = keras.ops.convert_to_numpy(layer(np.ones((1, 8, 8, 1))))
        >>> int((out == 0).sum())  # a 4x4 box
        16

    References:
        Zhong et al., Random Erasing Data Augmentation, 2020.
        https://arxiv.org/abs/1708.04896
    """

    factor = Scheduled(PROBABILITY)

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None,
                 value_range=(0, 255), seed=None, data_format=None,
                 ratio=(0.3, 3.3), **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        owner = type(self).__name__
        self.factor = factor
        if checks.is_number(scale):
            scale = (0.0, scale)  # Keras reads a number s as (0, s)
        self.scale = checks.pair(
            owner, "scale", scale, lambda a, b: 0 <= a <= b <= 1,
            "a pair (low, high) with 0 <= low <= high <= 1")
        self.ratio = checks.pair(owner, "ratio", ratio,
                                 lambda a, b: 0 < a <= b,
                                 "a pair (low, high) with 0 < low <= high")
        self.value_range = checks.value_range(owner, value_range)
        if fill_value is not None:
            values = fill_value if isinstance(fill_value, (list, tuple)) \
                else [fill_value]
            if not values or not all(checks.is_number(v) for v in values):
                raise checks.invalid(owner, "fill_value", fill_value,
                                     "None, a number or a list of numbers")
        self.fill_value = fill_value

    def draw(self, batch_size, height, width):
        u = _random.uniform((batch_size, 5), self.seed_generator)
        box_height, box_width = box_size(u[:, 0], u[:, 1], self.scale,
                                         self.ratio, height, width)
        return {
            "top": u[:, 2] * (height - box_height),
            "left": u[:, 3] * (width - box_width),
            "box_height": box_height,
            "box_width": box_width,
            "erase": u[:, 4] < self.strength("factor").value,
        }

    @property
    def draws_in_apply(self):
        return self.fill_value is None  # noise the size of the images

    @property
    def handles_bytes(self):
        return self.fill_value is not None  # copies a fixed value

    def apply_images(self, images, draw):
        height, width = images.shape[1], images.shape[2]
        mask = box_mask(draw["top"], draw["left"], draw["box_height"],
                        draw["box_width"], height, width)
        mask = mask & ops.reshape(draw["erase"], (-1, 1, 1, 1))
        if self.fill_value is None:
            low, high = self.value_range
            fill = low + (high - low) * _random.uniform(
                ops.shape(images), self.seed_generator)
        else:
            fill = ops.convert_to_tensor(self.fill_value, "float32")
            if keras.backend.standardize_dtype(images.dtype) == "uint8":
                fill = geometry.rounded_to(fill, "uint8")
        return ops.where(mask, fill, images)

    def get_config(self):
        fill = self.fill_value
        return {
            **super().get_config(),
            "scale": list(self.scale),
            "ratio": list(self.ratio),
            "fill_value": list(fill) if isinstance(fill, tuple) else fill,
            "value_range": list(self.value_range),
        }
