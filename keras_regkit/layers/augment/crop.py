"""Random crops: `RandomCrop` (Keras's drop-in) and `RandomResizedCrop`.

Both are affine maps onto a fixed output grid, so they fuse with the other
geometric layers inside `Augment`. At inference both take the largest centred
window with the output's aspect ratio and resize it, as Keras documents for
`RandomCrop`.
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.augment import geometry
from keras_regkit.layers.augment._regions import box_size
from keras_regkit.layers.augment.geometric import GeometricAugmentation


class _Crop(GeometricAugmentation):
    """Shared by the crop layers: the output size and the inference crop."""

    def __init__(self, height, width, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(fill_mode="nearest", interpolation=interpolation,
                         data_format=data_format, seed=seed, **kwargs)
        owner = type(self).__name__
        self.height = checks.integer(owner, "height", height, 1,
                                     "a positive int")
        self.width = checks.integer(owner, "width", width, 1,
                                    "a positive int")

    def output_size(self, height, width):
        return self.height, self.width

    stays_inside = True  # the box lies inside the image
    axis_aligned = True

    def center_box(self, height, width):
        """The largest centred window with the output's aspect ratio."""
        crop_height = min(height, max(1, int(width * self.height
                                             / self.width)))
        crop_width = min(width, max(1, int(height * self.width
                                           / self.height)))
        return ((height - crop_height) // 2, (width - crop_width) // 2,
                crop_height, crop_width)

    def box_matrices(self, batch_size, box):
        top, left, crop_height, crop_width = (
            ops.broadcast_to(ops.cast(v, "float32"), (batch_size,))
            for v in box
        )
        return geometry.crop_and_resize(top, left, crop_height, crop_width,
                                        self.height, self.width)

    def inference_matrices(self, batch_size, height, width):
        box = self.center_box(height, width)
        if box == (0, 0, self.height, self.width):
            return None
        return self.box_matrices(batch_size, box)

    def get_config(self):
        config = super().get_config()
        for key in ("fill_mode", "fill_value"):
            config.pop(key)
        return {**config, "height": self.height, "width": self.width}


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomCrop(_Crop):
    """Crops each image at its own random position; XLA-friendly.

    A drop-in for `keras.layers.RandomCrop`. Each image gets its own offset
    (Keras uses one offset per batch). At inference, and in training when the
    image is smaller than the crop, the largest centred window with the
    crop's aspect ratio is resized to `(height, width)`, as Keras documents.

    Args:
        height: int, output height.
        width: int, output width.
        seed: int or None. Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        interpolation: `"bilinear"` or `"nearest"`, used when resizing.
            Defaults to `"bilinear"`.
        allow_resize: bool; `False` makes an image smaller than the crop an
            error at build instead of resizing it. Defaults to `True`.

    Examples:

        >>> import numpy as np
        >>> layer = RandomCrop(4, 4, seed=0)
        >>> tuple(layer(np.ones((2, 8, 8, 3), "float32")).shape)
        (2, 4, 4, 3)
    """

    def __init__(self, height, width, seed=None, data_format=None,
                 interpolation="bilinear", allow_resize=True, **kwargs):
        super().__init__(height, width, interpolation=interpolation,
                         seed=seed, data_format=data_format, **kwargs)
        if not isinstance(allow_resize, bool):  # a ValueError, as released
            raise checks.invalid(type(self).__name__, "allow_resize",
                                 allow_resize, "a bool")
        self.allow_resize = allow_resize

    def check_image_size(self, height, width):
        if self.allow_resize or height is None or width is None:
            return
        if height < self.height or width < self.width:
            raise ValueError(
                f"RandomCrop of {self.height}x{self.width} is larger than "
                f"the {height}x{width} images it received; pass "
                "allow_resize=True to resize such images instead."
            )

    def _fits(self, height, width):
        return height >= self.height and width >= self.width

    def draw(self, batch_size, height, width):
        u = _random.uniform((batch_size, 2), self.seed_generator)
        if not self._fits(height, width):
            return {"top": u[:, 0] * 0.0, "left": u[:, 1] * 0.0}
        top = ops.floor(u[:, 0] * (height - self.height + 1))
        left = ops.floor(u[:, 1] * (width - self.width + 1))
        return {"top": top, "left": left}

    def matrices(self, draw, height, width):
        if not self._fits(height, width):
            return self.box_matrices(ops.shape(draw["top"])[0],
                                     self.center_box(height, width))
        size = ops.ones_like(draw["top"])
        return geometry.crop_and_resize(
            draw["top"], draw["left"], size * self.height,
            size * self.width, self.height, self.width)

    def apply_images(self, images, draw):
        height, width = images.shape[1], images.shape[2]
        if not self._fits(height, width):
            return self.inference_images(images)
        # Integer offsets: one exact gather, no interpolation needed.
        return geometry.affine_transform(
            images, self.matrices(draw, height, width),
            output_size=(self.height, self.width), interpolation="nearest",
            fill_mode="nearest", axis_aligned=True)

    def get_config(self):
        return {**super().get_config(), "allow_resize": self.allow_resize}


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomResizedCrop(_Crop):
    """Crops a random area and aspect ratio, resized to a fixed size.

    The Inception-style crop (torchvision's `RandomResizedCrop`): the crop's
    area is a fraction in `scale` of the image's, its aspect ratio
    (width / height) is log-uniform in `ratio`; a box that does not fit is
    shrunk to fit (torchvision retries ten times, then falls back to a
    centre crop). At inference, the centred window is resized.

    Args:
        height: int, output height.
        width: int, output width.
        scale: `(low, high)` area fractions in (0, 1]. Defaults to
            `(0.08, 1.0)`.
        ratio: `(low, high)` aspect ratios, positive. Defaults to
            `(3 / 4, 4 / 3)`.
        interpolation: `"bilinear"` or `"nearest"`. Defaults to
            `"bilinear"`.
        seed: int or None. Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.

    Examples:

        >>> import numpy as np
        >>> layer = RandomResizedCrop(8, 8, seed=0)
        >>> tuple(layer(np.ones((2, 32, 24, 3), "float32")).shape)
        (2, 8, 8, 3)

    References:
        Szegedy et al., Going deeper with convolutions, 2015.
        https://arxiv.org/abs/1409.4842
    """

    def __init__(self, height, width, scale=(0.08, 1.0),
                 ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation="bilinear",
                 seed=None, data_format=None, **kwargs):
        super().__init__(height, width, interpolation=interpolation,
                         seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.scale = checks.pair(
            owner, "scale", scale, lambda a, b: 0 < a <= b <= 1,
            "a pair (low, high) with 0 < low <= high <= 1")
        self.ratio = checks.pair(owner, "ratio", ratio,
                                 lambda a, b: 0 < a <= b,
                                 "a pair (low, high) with 0 < low <= high")

    def draw(self, batch_size, height, width):
        u = _random.uniform((batch_size, 4), self.seed_generator)
        crop_height, crop_width = box_size(u[:, 0], u[:, 1], self.scale,
                                           self.ratio, height, width)
        crop_height = ops.maximum(crop_height, 1.0)
        crop_width = ops.maximum(crop_width, 1.0)
        top = u[:, 2] * (height - crop_height)
        left = u[:, 3] * (width - crop_width)
        return {"top": top, "left": left, "crop_height": crop_height,
                "crop_width": crop_width}

    def matrices(self, draw, height, width):
        return geometry.crop_and_resize(
            draw["top"], draw["left"], draw["crop_height"],
            draw["crop_width"], self.height, self.width)

    def get_config(self):
        return {**super().get_config(), "scale": list(self.scale),
                "ratio": list(self.ratio)}
