"""Geometric augmentations: flip, rotation, zoom, translation, shear, affine.

Each layer draws per-image parameters and turns them into one 3x3 matrix per
image; `affine_transform` resamples once. Inside `Augment`, consecutive
geometric layers multiply their matrices and resample once for the stack.
All of them compile under XLA (Keras's `ImageProjectiveTransformV3` does
not) and keep the arguments, meanings and defaults of Keras's layers of the
same name.
"""

import math

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.augment import geometry
from keras_regkit.layers.augment._base import BaseAugmentation
from keras_regkit.layers.augment._base import mask_fill_value
from keras_regkit.layers.augment._base import move_boxes
from keras_regkit.strengths import PROBABILITY
from keras_regkit.strengths import Scheduled
from keras_regkit.strengths import ScheduledRange

_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def check_resampling(owner, fill_mode, interpolation, fill_value):
    """Checks the resampling arguments; returns them as a dict."""
    checks.choice(owner, "fill_mode", fill_mode, geometry.FILL_MODES)
    checks.choice(owner, "interpolation", interpolation,
                  geometry.INTERPOLATIONS)
    checks.number(owner, "fill_value", fill_value, expected="a finite number")
    return {"interpolation": interpolation, "fill_mode": fill_mode,
            "fill_value": fill_value}


class GeometricAugmentation(BaseAugmentation):
    """Base of the layers that are one affine map per image.

    Subclasses implement `matrices(draw, height, width)`, returning
    `(batch, 3, 3)` output-to-input pixel maps. `Augment` composes the
    matrices of consecutive geometric layers and resamples once.

    Args:
        fill_mode: `"reflect"`, `"wrap"`, `"constant"` or `"nearest"`: how
            points outside the image are filled. Defaults to `"reflect"`.
        interpolation: `"bilinear"` or `"nearest"`. Defaults to
            `"bilinear"`.
        fill_value: the value outside the image with
            `fill_mode="constant"`. Defaults to `0.0`.
        data_format, seed: as in `BaseAugmentation`.
    """

    def __init__(self, fill_mode="reflect", interpolation="bilinear",
                 fill_value=0.0, data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        check_resampling(type(self).__name__, fill_mode, interpolation,
                         fill_value)
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = fill_value

    handles_bytes = True

    #: Whether `matrices` may be projective (a last row other than 0 0 1);
    #: resampling then divides by the third coordinate.
    projective = False

    #: Whether `matrices` keep rows as rows and columns as columns (no
    #: rotation, shear or perspective): then resampling computes each
    #: output row's and column's source once (`affine_transform`).
    axis_aligned = False

    #: Whether the map keeps every sampled point inside the image (flips,
    #: crops): then no fill mode or interpolation is the layer's own to
    #: agree on, and it joins any fused run, taking the run's settings.
    stays_inside = False

    def matrices(self, draw, height, width):
        raise NotImplementedError

    def fuses_with(self, settings):
        return (self.stays_inside or settings is None
                or settings == self.resampling)

    def fusion_settings(self):
        return None if self.stays_inside else self.resampling

    @property
    def resampling(self):
        """The settings `affine_transform` takes from this layer."""
        return {
            "interpolation": self.interpolation,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
        }

    def apply_images(self, images, draw):
        height, width = images.shape[1], images.shape[2]
        return geometry.affine_transform(
            images,
            self.matrices(draw, height, width),
            output_size=self.output_size(height, width),
            projective=self.projective,
            axis_aligned=self.axis_aligned,
            **self.resampling,
        )

    def apply_bounding_boxes(self, boxes, draw, height, width):
        return move_boxes(boxes, self.matrices(draw, height, width),
                          self.output_size(height, width))

    def apply_segmentation_masks(self, masks, draw):
        height, width = masks.shape[1], masks.shape[2]
        return self.resample_masks(masks, self.matrices(draw, height, width),
                                   self.output_size(height, width))

    def resample_masks(self, masks, matrices, output_size, fill_mode=None):
        """Masks moved by `matrices` with nearest sampling, the layer's
        fill mode (the content the image shows there), and outside the
        image (constant fill) `mask_fill_value`: no class id."""
        return geometry.resample_nearest(
            masks, matrices, output_size, fill_mode or self.fill_mode,
            mask_fill_value(masks.dtype), projective=self.projective,
            axis_aligned=self.axis_aligned)

    # -- inference: the identity, except for crops --------------------------

    def inference_matrices(self, batch_size, height, width):
        """The map applied at inference (crops), or None for identity."""
        return None

    def inference_images(self, images):
        height, width = images.shape[1], images.shape[2]
        matrices = self.inference_matrices(ops.shape(images)[0], height,
                                           width)
        if matrices is None:
            return images
        return geometry.affine_transform(
            images, matrices, output_size=self.output_size(height, width),
            axis_aligned=self.axis_aligned, **self.resampling)

    def inference_bounding_boxes(self, boxes, height, width):
        matrices = self.inference_matrices(ops.shape(boxes["boxes"])[0],
                                           height, width)
        if matrices is None:
            return boxes
        return move_boxes(boxes, matrices, self.output_size(height, width))

    def inference_segmentation_masks(self, masks):
        height, width = masks.shape[1], masks.shape[2]
        matrices = self.inference_matrices(ops.shape(masks)[0], height,
                                           width)
        if matrices is None:
            return masks
        return self.resample_masks(masks, matrices,
                                   self.output_size(height, width))

    def get_config(self):
        return {**super().get_config(), **self.resampling}


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomFlip(GeometricAugmentation):
    """Randomly flips images horizontally and/or vertically; XLA-friendly.

    A drop-in for `keras.layers.RandomFlip`. With
    `"horizontal_and_vertical"` the two flips are drawn independently (Keras
    draws one coin for both, so it only ever rotates by 180 degrees).

    Args:
        mode: `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"`.
            Defaults to `"horizontal_and_vertical"`.
        seed: int or None. Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        probability: float in [0, 1] or Schedule, the chance of each flip.
            Defaults to `0.5`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).

    Call arguments:
        inputs: images `(batch, height, width, channels)` or one image, or a
            dict with `"images"` (and `"labels"`, passed through).
        training: bool; `False` returns the input. Defaults to `True`.

    Examples:

        >>> import numpy as np
        >>> layer = RandomFlip("horizontal", probability=1.0)
        >>> x = np.arange(6, dtype="float32").reshape(1, 1, 3, 2)
        >>> keras.ops.convert_to_numpy(layer(x))[0, 0].tolist()
        [[4.0, 5.0], [2.0, 3.0], [0.0, 1.0]]
    """

    probability = Scheduled(PROBABILITY)
    stays_inside = True  # pixels land on pixels
    axis_aligned = True

    def __init__(self, mode="horizontal_and_vertical", seed=None,
                 data_format=None, probability=0.5, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.mode = checks.choice(type(self).__name__, "mode", mode,
                                  _FLIP_MODES)
        self.probability = probability

    def draw(self, batch_size, height, width):
        coins = _random.uniform((batch_size, 2), self.seed_generator)
        chance = self.strength("probability").value
        horizontal = coins[:, 0] < chance
        vertical = coins[:, 1] < chance
        if self.mode == "horizontal":
            vertical = ops.zeros_like(vertical)
        elif self.mode == "vertical":
            horizontal = ops.zeros_like(horizontal)
        return {"horizontal": horizontal, "vertical": vertical}

    def matrices(self, draw, height, width):
        return geometry.flip(draw["horizontal"], draw["vertical"], height,
                             width)

    def draw_from_keras(self, transformation):
        if "flips" not in transformation:
            return transformation
        flips = ops.reshape(ops.convert_to_tensor(transformation["flips"],
                                                  "bool"), (-1,))
        never = ops.zeros_like(flips)
        return {"horizontal": flips if self.mode != "vertical" else never,
                "vertical": flips if self.mode != "horizontal" else never}

    def apply_images(self, images, draw):
        # Alone, a flip is a reversal: cheaper than a resampling. Every
        # variant is taken from the input (reversing a selection makes XLA
        # on CPU 15x slower).
        horizontal = ops.reshape(draw["horizontal"], (-1, 1, 1, 1))
        vertical = ops.reshape(draw["vertical"], (-1, 1, 1, 1))
        if self.mode == "horizontal":
            return ops.where(horizontal, ops.flip(images, axis=2), images)
        if self.mode == "vertical":
            return ops.where(vertical, ops.flip(images, axis=1), images)
        upside_down = ops.flip(images, axis=1)
        return ops.where(
            vertical,
            ops.where(horizontal, ops.flip(upside_down, axis=2), upside_down),
            ops.where(horizontal, ops.flip(images, axis=2), images),
        )

    def get_config(self):
        config = super().get_config()
        for key in ("fill_mode", "interpolation", "fill_value"):
            config.pop(key)
        return {**config, "mode": self.mode}


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomRotation(GeometricAugmentation):
    """Rotates each image by a random angle about its centre; XLA-friendly.

    A drop-in for `keras.layers.RandomRotation` (same arguments, defaults
    and direction: positive angles turn counter-clockwise).

    Args:
        factor: float, pair of floats, or Schedule: the angle as a fraction
            of a full turn (`0.1` means up to 36 degrees). A float `f` draws
            from `[-f, f]`; a pair `(a, b)` from `[a, b]`. Values in
            [-1, 1]. May be a `Schedule` (or a pair of them); moved by
            [`StrengthScheduler`][scheduled].
        fill_mode: `"reflect"`, `"wrap"`, `"constant"` or `"nearest"`.
            Defaults to `"reflect"`.
        interpolation: `"bilinear"` or `"nearest"`. Defaults to
            `"bilinear"`.
        seed: int or None. Defaults to `None`.
        fill_value: value outside the image for `fill_mode="constant"`.
            Defaults to `0.0`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.

    Examples:

        >>> import numpy as np
        >>> layer = RandomRotation((0.25, 0.25))  # exactly 90 degrees
        >>> x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
        >>> keras.ops.convert_to_numpy(layer(x))[0, :, :, 0].tolist()
        [[1.0, 3.0], [0.0, 2.0]]
    """

    factor = ScheduledRange()

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation,
                         fill_value=fill_value, data_format=data_format,
                         seed=seed, **kwargs)
        self.factor = factor

    def draw(self, batch_size, height, width):
        turns = self.strength("factor").sample(
            _random.uniform((batch_size,), self.seed_generator))
        return {"angle": turns * (2.0 * math.pi)}

    def matrices(self, draw, height, width):
        return geometry.rotation(draw["angle"], height, width)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomZoom(GeometricAugmentation):
    """Zooms each image in or out about its centre; XLA-friendly.

    A drop-in for `keras.layers.RandomZoom`: a factor `f` scales the sampled
    area by `1 + f`, so positive values zoom out and negative values zoom
    in.

    Args:
        height_factor: float, pair, or Schedule in [-1, 1]: vertical zoom
            range (`0.2` draws from `[-20%, +20%]`). May be a `Schedule`
            (or a pair of them); moved by [`StrengthScheduler`][scheduled].
        width_factor: like `height_factor`, or None to keep the aspect ratio
            (the width uses the height's draw). Defaults to `None`.
        fill_mode, interpolation, seed, fill_value, data_format: as in
            `RandomRotation`.

    Examples:

        >>> import numpy as np
        >>> layer = RandomZoom((-0.5, -0.5), interpolation="nearest")
        >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        >>> tuple(layer(x).shape)
        (1, 4, 4, 1)
    """

    height_factor = ScheduledRange()
    width_factor = ScheduledRange(optional=True)
    axis_aligned = True

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation,
                         fill_value=fill_value, data_format=data_format,
                         seed=seed, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor

    def draw(self, batch_size, height, width):
        u = _random.uniform((batch_size, 2), self.seed_generator)
        zoom_y = 1.0 + self.strength("height_factor").sample(u[:, 0])
        zoom_x = zoom_y
        if self.width_factor is not None:
            zoom_x = 1.0 + self.strength("width_factor").sample(u[:, 1])
        return {"zoom_x": zoom_x, "zoom_y": zoom_y}

    def matrices(self, draw, height, width):
        return geometry.zoom(draw["zoom_x"], draw["zoom_y"], height, width)

    def draw_from_keras(self, transformation):
        if "height_zoom" not in transformation:
            return transformation

        def column(key):
            return ops.reshape(ops.cast(transformation[key], "float32"), (-1,))

        return {"zoom_x": column("width_zoom"),
                "zoom_y": column("height_zoom")}


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomTranslation(GeometricAugmentation):
    """Shifts each image by a random fraction of its size; XLA-friendly.

    A drop-in for `keras.layers.RandomTranslation`.

    Args:
        height_factor: float, pair, or Schedule in [-1, 1]: vertical shift
            as a fraction of the height (positive moves content down). May
            be a `Schedule` (or a pair of them); moved by
            [`StrengthScheduler`][scheduled].
        width_factor: the same for the horizontal shift (positive moves
            content right).
        fill_mode, interpolation, seed, fill_value, data_format: as in
            `RandomRotation`.

    Examples:

        >>> import numpy as np
        >>> layer = RandomTranslation(0.0, (0.25, 0.25), fill_mode="constant")
        >>> x = np.arange(1, 5, dtype="float32").reshape(1, 1, 4, 1)
        >>> keras.ops.convert_to_numpy(layer(x))[0, 0, :, 0].tolist()
        [0.0, 1.0, 2.0, 3.0]
    """

    height_factor = ScheduledRange()
    width_factor = ScheduledRange()
    axis_aligned = True

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation,
                         fill_value=fill_value, data_format=data_format,
                         seed=seed, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor

    def draw(self, batch_size, height, width):
        u = _random.uniform((batch_size, 2), self.seed_generator)
        return {"dy": self.strength("height_factor").sample(u[:, 0]) * height,
                "dx": self.strength("width_factor").sample(u[:, 1]) * width}

    def matrices(self, draw, height, width):
        return geometry.translation(draw["dx"], draw["dy"])

    def draw_from_keras(self, transformation):
        if "translations" not in transformation:
            return transformation
        pixels = ops.reshape(ops.cast(transformation["translations"],
                                      "float32"), (-1, 2))
        return {"dx": pixels[:, 0], "dy": pixels[:, 1]}


def _signed_magnitude(factor, uniforms, signs):
    """Keras's shear draw: a magnitude in the range, with a random sign."""
    return factor.sample(uniforms) * ops.where(signs < 0.5, -1.0, 1.0)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomShear(GeometricAugmentation):
    """Shears each image along x and/or y about its centre; XLA-friendly.

    Takes `keras.layers.RandomShear`'s arguments with their meaning: a
    magnitude drawn from the factor's range gets a random sign, and
    `x += shear_x * y`, `y += shear_y * x`. Unlike Keras, which shears about
    the top-left corner (moving the content sideways), we shear about the
    centre.

    Args:
        x_factor: float, pair, or Schedule in [0, 1]: horizontal shear
            magnitude. Defaults to `0.0`. May be a `Schedule` (or a pair of
            them); moved by [`StrengthScheduler`][scheduled].
        y_factor: the same for vertical shear. Defaults to `0.0`.
        interpolation, fill_mode, fill_value, data_format, seed: as in
            `RandomRotation`.

    Examples:

        >>> import numpy as np
        >>> layer = RandomShear(x_factor=0.3, seed=1)
        >>> tuple(layer(np.ones((2, 8, 8, 3), "float32")).shape)
        (2, 8, 8, 3)
    """

    x_factor = ScheduledRange((0.0, 1.0))
    y_factor = ScheduledRange((0.0, 1.0))

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear",
                 fill_mode="reflect", fill_value=0.0, data_format=None,
                 seed=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation,
                         fill_value=fill_value, data_format=data_format,
                         seed=seed, **kwargs)
        self.x_factor = x_factor
        self.y_factor = y_factor

    def draw(self, batch_size, height, width):
        u = _random.uniform((batch_size, 4), self.seed_generator)
        x, y = self.strength("x_factor"), self.strength("y_factor")
        return {"shear_x": _signed_magnitude(x, u[:, 0], u[:, 1]),
                "shear_y": _signed_magnitude(y, u[:, 2], u[:, 3])}

    def matrices(self, draw, height, width):
        return geometry.shear(draw["shear_x"], draw["shear_y"], height, width)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomPerspective(GeometricAugmentation):
    """Random perspective distortion (corners moved); compiles under XLA.

    A drop-in for `keras.layers.RandomPerspective`, which XLA cannot compile
    (`supports_jit=False`). Each image is distorted with a probability drawn
    from `factor`; its corners `(x, y)` move to `(x, y) * (1 + d)` with `d`
    uniform in `[-scale / 2, scale / 2]` (Keras's rule: the top-left corner
    stays). The projective 3x3 map (closed form, no solve) composes with
    the affine layers inside `Augment`, which then resamples once; boxes
    and masks follow it.

    Args:
        factor: float, pair, or Schedule in [0, 1]: the range the chance
            of distorting each image is drawn from (a float `f` gives
            `[0, f]`). Defaults to `1.0`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        scale: float in [0, 1] or Schedule: how far corners move.
            Defaults to `1.0`.
        interpolation: `"bilinear"` or `"nearest"`. Defaults to
            `"bilinear"`.
        fill_value: value of pixels from outside the image. Defaults to
            `0.0`.
        seed: int or None. Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        fill_mode: as in the other geometric layers; Keras's layer always
            fills with `fill_value`. Defaults to `"constant"`.

    Examples:

        >>> import numpy as np
        >>> layer = RandomPerspective(scale=0.3, seed=0)
        >>> tuple(layer(np.ones((2, 16, 16, 3), "float32")).shape)
        (2, 16, 16, 3)
    """

    factor = ScheduledRange((0.0, 1.0))
    scale = Scheduled(PROBABILITY)
    projective = True

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear",
                 fill_value=0.0, seed=None, data_format=None,
                 fill_mode="constant", **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation,
                         fill_value=fill_value, data_format=data_format,
                         seed=seed, **kwargs)
        self.factor = factor
        self.scale = scale

    def draw(self, batch_size, height, width):
        u = _random.uniform((batch_size, 10), self.seed_generator)
        chance = self.strength("factor").sample(u[:, 0])
        scale = ops.cast(self.strength("scale").value, "float32")
        return {"apply": u[:, 1] < chance,
                "shift": (u[:, 2:] - 0.5) * scale}

    def matrices(self, draw, height, width):
        start = ops.convert_to_tensor(
            [[0.0, 0.0], [width - 1.0, 0.0], [0.0, height - 1.0],
             [width - 1.0, height - 1.0]], "float32")
        start = ops.broadcast_to(start[None], (ops.shape(draw["shift"])[0],
                                               4, 2))
        end = start + start * ops.reshape(draw["shift"], (-1, 4, 2))
        # Output pixels sample the input where the moved corners came from.
        maps = geometry.perspective(end, start)
        # An image 1 pixel high or wide has coinciding corners and no
        # perspective (the solve would give NaN): it is left as it is.
        apply = ops.logical_and(draw["apply"],
                                ops.logical_and(height > 1, width > 1))
        return ops.where(ops.reshape(apply, (-1, 1, 1)), maps,
                         geometry.identity(ops.shape(maps)[0]))

    def draw_from_keras(self, transformation):
        if "start_points" not in transformation:
            return transformation
        start = ops.cast(transformation["start_points"], "float32")
        end = ops.cast(transformation["end_points"], "float32")
        safe = ops.where(start == 0, 1.0, start)
        shift = ops.where(start == 0, 0.0, (end - start) / safe)
        return {"apply": ops.convert_to_tensor(
                    transformation["apply_perspective"], "bool"),
                "shift": ops.reshape(shift, (-1, 8))}


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomAffine(GeometricAugmentation):
    """Rotation, zoom, translation and shear drawn together, resampled once.

    The one-layer version of `Augment([RandomRotation, RandomZoom,
    RandomTranslation, RandomShear])`; factors mean what they mean in those
    layers. The map applied is shear, then zoom, then rotation, then
    translation (all about the centre).

    Args:
        rotation_factor: as `RandomRotation`'s `factor`. Defaults to `0.0`.
        zoom_height_factor: as `RandomZoom`'s `height_factor`. Defaults to
            `0.0`.
        zoom_width_factor: as `RandomZoom`'s `width_factor` (None keeps the
            aspect ratio). Defaults to `None`.
        translation_height_factor: as `RandomTranslation`'s
            `height_factor`. Defaults to `0.0`.
        translation_width_factor: as `RandomTranslation`'s `width_factor`.
            Defaults to `0.0`.
        shear_x_factor: as `RandomShear`'s `x_factor`. Defaults to `0.0`.
        shear_y_factor: as `RandomShear`'s `y_factor`. Defaults to `0.0`.
        fill_mode, interpolation, fill_value, seed, data_format: as in
            `RandomRotation`.

    Every factor may be a `Schedule` (or a pair of them); schedules need
    `StrengthScheduler` in `fit(callbacks=...)` to change over training.

    Examples:

        >>> import numpy as np
        >>> layer = RandomAffine(rotation_factor=0.1, zoom_height_factor=0.2,
        ...                      translation_height_factor=0.1,
        ...                      translation_width_factor=0.1, seed=0)
        >>> tuple(layer(np.ones((2, 16, 16, 3), "float32")).shape)
        (2, 16, 16, 3)
    """

    rotation_factor = ScheduledRange()
    zoom_height_factor = ScheduledRange()
    zoom_width_factor = ScheduledRange(optional=True)
    translation_height_factor = ScheduledRange()
    translation_width_factor = ScheduledRange()
    shear_x_factor = ScheduledRange((0.0, 1.0))
    shear_y_factor = ScheduledRange((0.0, 1.0))

    def __init__(self, rotation_factor=0.0, zoom_height_factor=0.0,
                 zoom_width_factor=None, translation_height_factor=0.0,
                 translation_width_factor=0.0, shear_x_factor=0.0,
                 shear_y_factor=0.0, fill_mode="reflect",
                 interpolation="bilinear", fill_value=0.0, seed=None,
                 data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation,
                         fill_value=fill_value, data_format=data_format,
                         seed=seed, **kwargs)
        self.rotation_factor = rotation_factor
        self.zoom_height_factor = zoom_height_factor
        self.zoom_width_factor = zoom_width_factor
        self.translation_height_factor = translation_height_factor
        self.translation_width_factor = translation_width_factor
        self.shear_x_factor = shear_x_factor
        self.shear_y_factor = shear_y_factor

    def draw(self, batch_size, height, width):
        u = _random.uniform((batch_size, 9), self.seed_generator)
        f = {name: self.strength(name) for name in (
            "rotation_factor", "zoom_height_factor", "zoom_width_factor",
            "translation_height_factor", "translation_width_factor",
            "shear_x_factor", "shear_y_factor")}
        zoom_y = 1.0 + f["zoom_height_factor"].sample(u[:, 1])
        zoom_x = zoom_y
        if f["zoom_width_factor"] is not None:
            zoom_x = 1.0 + f["zoom_width_factor"].sample(u[:, 2])
        return {
            "angle": f["rotation_factor"].sample(u[:, 0]) * (2.0 * math.pi),
            "zoom_x": zoom_x,
            "zoom_y": zoom_y,
            "dy": f["translation_height_factor"].sample(u[:, 3]) * height,
            "dx": f["translation_width_factor"].sample(u[:, 4]) * width,
            "shear_x": _signed_magnitude(f["shear_x_factor"], u[:, 5],
                                         u[:, 6]),
            "shear_y": _signed_magnitude(f["shear_y_factor"], u[:, 7],
                                         u[:, 8]),
        }

    def matrices(self, draw, height, width):
        # Applying A then B samples through M_A @ M_B: shear first.
        matrix = geometry.shear(draw["shear_x"], draw["shear_y"], height,
                                width)
        for step in (
            geometry.zoom(draw["zoom_x"], draw["zoom_y"], height, width),
            geometry.rotation(draw["angle"], height, width),
            geometry.translation(draw["dx"], draw["dy"]),
        ):
            matrix = geometry.compose(matrix, step)
        return matrix
