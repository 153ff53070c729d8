"""Our augmentation base: argument checks, the draw/apply split, layouts.

Keras's `BaseImagePreprocessingLayer` is private, so we keep a small base of
our own with the same split: `draw()` takes every random number a batch
needs, once; `apply_images()` / `apply_labels()` are deterministic given
that draw, so images and labels of one batch get the same transformation.
The base converts layouts and dtypes around them: subclasses always see a
float32 `(batch, height, width, channels)` tensor.
"""

import keras
import numpy as np
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit._strength import HasStrengths

_INPUT_KEYS = ("images", "labels")


class BaseAugmentation(HasStrengths, keras.layers.Layer):
    """Base of keras_regkit's image augmentation layers.

    Subclasses implement `draw(batch_size, height, width)` (all randomness,
    returned as a dict of tensors) and `apply_images(images, draw)` on a
    float32 channels-last batch; label-mixing layers also implement
    `apply_labels(labels, draw)`. The base handles single images and
    batches, both data formats, dict inputs `{"images", "labels"}` (as
    Keras's layers accept), and converts the result back to the input dtype
    (integers are rounded and clipped to the dtype's range; given a `dtype`
    policy, outputs take its compute dtype instead, as in Keras). With
    `training=False` the input is returned unchanged (crops override
    `inference_images`). Keras's `get_random_transformation` /
    `transform_images` / `transform_labels` are provided on top of
    `draw` / `apply_images` / `apply_labels`.

    Args:
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        seed: int or None, seed of the layer's `SeedGenerator`.
    """

    def __init__(self, data_format=None, seed=None, **kwargs):
        # Outputs keep the input dtype unless a dtype policy is given, in
        # which case they are cast to its compute dtype, as Keras does.
        self._cast_outputs = kwargs.get("dtype") is not None
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        owner = type(self).__name__
        checks.seed(owner, seed)
        self.data_format = checks.data_format(owner, data_format)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    # -- subclass interface -------------------------------------------------

    def draw(self, batch_size, height, width):
        return {}

    def apply_images(self, images, draw):
        raise NotImplementedError

    def apply_labels(self, labels, draw):
        return labels

    def inference_images(self, images):
        return images

    def output_size(self, height, width):
        return height, width

    # -- fusion (see `Augment`) --------------------------------------------

    def fuses_with(self, settings):
        """Whether the layer is an affine map `Augment` can compose into a
        run resampled with `settings` (a dict of resampling arguments, or
        None for a run that has fixed none yet). Only geometric layers
        fuse."""
        return False

    def fusion_settings(self):
        """The resampling settings the layer fixes for its run, or None if
        it adapts to any (crops: their boxes lie inside the image)."""
        return None

    # -- Keras layer plumbing ----------------------------------------------

    def _images_shape(self, input_shape):
        if isinstance(input_shape, dict):
            unknown = set(input_shape) - set(_INPUT_KEYS)
            if unknown or "images" not in input_shape:
                raise ValueError(
                    f"{type(self).__name__} takes a tensor of images or a "
                    'dict with the keys "images" and optionally "labels". '
                    f"Received keys: {sorted(input_shape)}"
                )
            input_shape = input_shape["images"]
        input_shape = tuple(input_shape)
        if len(input_shape) not in (3, 4):
            raise ValueError(
                "Expected the input image to be rank 3 or 4 (one image or a "
                f"batch) in {type(self).__name__}. Received: images of "
                f"shape {input_shape}"
            )
        return input_shape

    def _spatial_axes(self, rank):
        first = rank - 3
        if self.data_format == "channels_last":
            return first, first + 1
        return first + 1, first + 2

    #: Channel counts the layer handles (None: any); colour layers that
    #: need RGB say so, and other counts fail at build with our message.
    accepted_channels = None

    def build(self, input_shape):
        shape = self._images_shape(input_shape)
        h_axis, w_axis = self._spatial_axes(len(shape))
        self.check_image_size(shape[h_axis], shape[w_axis])
        channels = shape[-1 if self.data_format == "channels_last" else
                         len(shape) - 3]
        accepted = self.accepted_channels
        if accepted is not None and channels is not None and (
                channels not in accepted):
            allowed = " or ".join(
                {1: "1 (grayscale)", 3: "3 (RGB)"}[c] for c in accepted)
            raise ValueError(
                f"{type(self).__name__} expects {allowed} channels. "
                f"Received: images of shape {shape} with "
                f"data_format={self.data_format!r}"
            )
        self.built = True

    def check_image_size(self, height, width):
        """Raises for image sizes the layer cannot handle (crops)."""

    def compute_output_shape(self, input_shape):
        shape = self._images_shape(input_shape)
        h_axis, w_axis = self._spatial_axes(len(shape))
        height, width = self.output_size(shape[h_axis], shape[w_axis])
        shape = list(shape)
        shape[h_axis], shape[w_axis] = height, width
        if isinstance(input_shape, dict):
            return {**input_shape, "images": tuple(shape)}
        return tuple(shape)

    def _to_canonical(self, images):
        """(float32 NHWC batch, function that undoes the conversion)."""
        images = ops.convert_to_tensor(images)
        dtype = keras.backend.standardize_dtype(images.dtype)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
        if self.data_format == "channels_first":
            images = ops.transpose(images, (0, 2, 3, 1))
        images = ops.cast(images, "float32")
        if self._cast_outputs or dtype.startswith("int"):
            # Signed integers are numbers rather than pixels (np.arange
            # input); like Keras, give them the compute dtype.
            dtype = self.compute_dtype

        def restore(result):
            if self.data_format == "channels_first":
                result = ops.transpose(result, (0, 3, 1, 2))
            if unbatched:
                result = ops.squeeze(result, 0)
            if "int" in dtype:  # uint8/uint16 images; rounded, clipped
                info = np.iinfo(dtype)
                result = ops.clip(ops.round(result), float(info.min),
                                  float(info.max))
            return ops.cast(result, dtype)

        return images, restore

    def call(self, inputs, training=True):
        labels = None
        if isinstance(inputs, dict):
            images = inputs["images"]
            labels = inputs.get("labels")
        else:
            images = inputs
        images, restore = self._to_canonical(images)
        if training:
            shape = ops.shape(images)
            draw = self.draw(shape[0], images.shape[1], images.shape[2])
            images = self.apply_images(images, draw)
            if labels is not None:
                labels = self.apply_labels(labels, draw)
        else:
            images = self.inference_images(images)
        images = restore(images)
        if isinstance(inputs, dict):
            outputs = dict(inputs)
            outputs["images"] = images
            if labels is not None:
                outputs["labels"] = labels
            return outputs
        return images

    # -- Keras's names for the same split ------------------------------------

    def get_random_transformation(self, data, training=True, seed=None):
        """Keras's name for `draw`; takes images or a dict of them."""
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        images, _ = self._to_canonical(images)
        return self.draw(ops.shape(images)[0], images.shape[1],
                         images.shape[2])

    def transform_images(self, images, transformation=None, training=True):
        """Keras's name for `apply_images`, on images in the layer's
        layout and dtype."""
        images, restore = self._to_canonical(images)
        if not training:
            return restore(self.inference_images(images))
        if transformation is None:
            return restore(images)
        return restore(self.apply_images(images, transformation))

    def transform_labels(self, labels, transformation=None, training=True):
        """Keras's name for `apply_labels`."""
        if not training or transformation is None:
            return labels
        return self.apply_labels(labels, transformation)

    def get_config(self):
        return {
            **super().get_config(),
            **self.declared_config(),
            "data_format": self.data_format,
            "seed": self.seed,
        }
