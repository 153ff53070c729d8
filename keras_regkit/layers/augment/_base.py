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
from keras_regkit._compat import tensorflow as tf_compat
from keras_regkit._compat import tf_data
from keras_regkit._fusion import computed_once
from keras_regkit._fusion import kept_apart
from keras_regkit.layers._in_pipelines import RunsInPipelines
from keras_regkit.layers.augment import bounding_boxes
from keras_regkit.layers.augment import geometry
from keras_regkit.strengths import HasStrengths

_INPUT_KEYS = ("images", "labels", "bounding_boxes", "segmentation_masks")


def mask_fill_value(dtype):
    """What a mask holds where the image was filled with a constant: -1
    for signed and float masks, the largest value for unsigned ones (255
    for uint8, the usual "ignore" index), so never a class id in use;
    `False` for boolean masks."""
    dtype = keras.backend.standardize_dtype(dtype)
    if dtype.startswith("uint"):
        return int(np.iinfo(dtype).max)
    if dtype == "bool":
        return False
    return -1


class BaseAugmentation(RunsInPipelines, HasStrengths,
                       keras.layers.Layer):
    """Base of keras_regkit's image augmentation layers.

    Subclasses implement `draw(batch_size, height, width)` (all randomness,
    returned as a dict of tensors) and `apply_images(images, draw)` on a
    float32 channels-last batch; label-mixing layers also implement
    `apply_labels(labels, draw)`; layers that move pixels implement
    `apply_bounding_boxes` (absolute xyxy boxes) and
    `apply_segmentation_masks` (masks in their own dtype). The base handles
    single images and batches, both data formats, Keras's dict inputs
    `{"images", "labels", "bounding_boxes", "segmentation_masks"}` (box
    formats converted at the boundary), and returns images in the layer's
    compute dtype, as Keras's layers do (float32 for uint8 input under the
    default policy), or with `keep_dtype=True` in the input's dtype
    (integers rounded and clipped to its range). With `training=False`
    the input is returned unchanged (crops override the `inference_*`
    methods). Keras's
    `get_random_transformation` / `transform_images` / `transform_labels`
    / `transform_bounding_boxes` / `transform_segmentation_masks` are
    provided on top of `draw` / `apply_*`.

    Args:
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        seed: int or None, seed of the layer's `SeedGenerator`.
        bounding_box_format: None or one of Keras's formats (`"xyxy"`,
            `"rel_xyxy"`, `"center_xywh"`, ...): needed to take boxes.
            Defaults to `None`.
        keep_dtype: bool. `False` (Keras's behaviour): images come out in
            the compute dtype (float32 by default, float16 under
            `mixed_float16`) whatever their input dtype. `True`: they keep
            the input's dtype, so uint8 stays uint8, 4x smaller than
            float32: for `tf.data` pipelines whose batches cross to the
            accelerator as bytes. Defaults to `False`.
    """

    #: Whether `apply_labels` mixes labels (they come out one-hot).
    mixes_labels = False

    #: Whether the layer moves `bounding_boxes` and `segmentation_masks`;
    #: a layer that cannot yet sets False and refuses them clearly.
    supports_boxes_and_masks = True

    #: How many output boxes each input box slot becomes (MixUp and CutMix
    #: add the partner's: 2; Mosaic 4): the box axis of the output shape.
    boxes_per_box = 1

    def __init__(self, data_format=None, seed=None, bounding_box_format=None,
                 keep_dtype=False, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.keep_dtype = checks.boolean(owner, "keep_dtype", keep_dtype)
        checks.seed(owner, seed)
        self.data_format = checks.data_format(owner, data_format)
        self.bounding_box_format = bounding_boxes.check_format(
            owner, bounding_box_format)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    # -- subclass interface -------------------------------------------------

    #: Whether `Augment` computes this layer's input in full before it
    #: (`_fusion.kept_apart`): each of its output channels reads all three
    #: input channels through heavy arithmetic (`RandomHue`), so XLA:CPU
    #: fusing the steps before into it reran them three times per pixel
    #: (brightness, contrast, saturation, hue: 7.2 -> 6.7 ms under
    #: TensorFlow, 4.6 -> 3.5 ms under JAX).
    needs_input_apart = False

    #: Whether the layer only moves or copies pixel values (resampling,
    #: flips, crops, erasing with a fixed fill): then uint8 images that
    #: leave it as uint8 (`keep_dtype=True`) are handed to `apply_images`
    #: and `inference_images` as uint8, never converted to float32 (4x the
    #: memory traffic); bilinear resampling reads them as bytes and rounds
    #: once (under JAX on a CPU, each pixel's channels as one word: about
    #: 2x faster).
    handles_bytes = False

    #: Whether `apply_images` draws random numbers of its own (beyond
    #: `draw`'s): then it is never run as a separately compiled function
    #: (`keras_regkit.tf_compat.compiled`), which cannot advance a seed.
    draws_in_apply = False

    def draw(self, batch_size, height, width):
        return {}

    def apply_images(self, images, draw):
        raise NotImplementedError

    def apply_labels(self, labels, draw):
        return labels

    def unchanged_labels(self, labels):
        """Labels of an image the layer leaves alone, in the form
        `apply_labels` returns (one-hot for the mixing layers)."""
        return labels

    def apply_bounding_boxes(self, boxes, draw, height, width):
        """`{"boxes", "labels"}` with absolute `xyxy` boxes `(B, N, 4)` on
        images of `height` x `width`, moved as `apply_images` moves the
        pixels; unchanged by default (colour, erasing)."""
        return boxes

    def apply_segmentation_masks(self, masks, draw):
        """Masks `(B, H, W, C)` in their own dtype, moved as the pixels;
        unchanged by default."""
        return masks

    def inference_images(self, images):
        return images

    def inference_bounding_boxes(self, boxes, height, width):
        """Boxes at inference: unchanged, padded (label -1) to the count
        training returns (`boxes_per_box`), so both have one shape."""
        return bounding_boxes.pad(
            boxes, boxes["boxes"].shape[1] * self.boxes_per_box)

    def inference_segmentation_masks(self, masks):
        return masks

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
                    'dict with the keys "images" and optionally "labels", '
                    '"bounding_boxes", "segmentation_masks". '
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
            result = {**input_shape, "images": tuple(shape)}
            if "segmentation_masks" in input_shape:
                masks = list(input_shape["segmentation_masks"])
                h_axis, w_axis = self._spatial_axes(len(masks))
                masks[h_axis], masks[w_axis] = height, width
                result["segmentation_masks"] = tuple(masks)
            if "bounding_boxes" in input_shape:
                result["bounding_boxes"] = {
                    key: self._box_shape(value, key == "boxes")
                    for key, value in input_shape["bounding_boxes"].items()}
            num_classes = getattr(self, "num_classes", None)
            if (self.mixes_labels and num_classes is not None
                    and input_shape.get("labels") is not None):
                result["labels"] = (input_shape["labels"][0], num_classes)
            return result
        return tuple(shape)

    def _box_shape(self, shape, coordinates):
        """The shape of `boxes` (`coordinates`) or their labels out."""
        shape = list(shape)
        axis = len(shape) - 2 if coordinates else len(shape) - 1
        if shape[axis] is not None:
            shape[axis] *= self.boxes_per_box
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
        if not self.keep_dtype or dtype.startswith("int"):
            # Keras's rule. (Signed integers are numbers rather than
            # pixels, np.arange input: they always get the compute dtype.)
            dtype = self.compute_dtype
        if not (dtype == "uint8" and self.handles_bytes):
            images = ops.cast(images, "float32")

        def restore(result):
            if self.data_format == "channels_first":
                result = ops.transpose(result, (0, 3, 1, 2))
            if unbatched:
                result = ops.squeeze(result, 0)
            if keras.backend.standardize_dtype(result.dtype) == dtype:
                return result  # uint8 kept (`handles_bytes`)
            if "int" in dtype:  # uint8/uint16 images; rounded, clipped
                return geometry.rounded_to(result, dtype)
            return ops.cast(result, dtype)

        return images, restore

    def _masks_to_canonical(self, masks):
        """(NHWC masks in their own dtype, function that undoes it)."""
        masks = ops.convert_to_tensor(masks)
        unbatched = len(masks.shape) == 3
        if unbatched:
            masks = ops.expand_dims(masks, 0)
        if self.data_format == "channels_first":
            masks = ops.transpose(masks, (0, 2, 3, 1))

        def restore(result):
            if self.data_format == "channels_first":
                result = ops.transpose(result, (0, 3, 1, 2))
            return ops.squeeze(result, 0) if unbatched else result

        return masks, restore

    def _boxes_to_canonical(self, boxes, height, width):
        """(`{"boxes", "labels"}` in absolute xyxy with a batch axis,
        function that writes them back in the layer's format and ranks)."""
        if not self.bounding_box_format:
            raise ValueError(
                "You passed an input with a 'bounding_boxes' key, but "
                f"{type(self).__name__} has no bounding box format. Pass "
                "`bounding_box_format` to the layer, e.g. "
                "`bounding_box_format='xyxy'`."
            )
        if not isinstance(boxes, dict) or "boxes" not in boxes:
            raise ValueError(
                f"{type(self).__name__}: 'bounding_boxes' must be a dict "
                'with "boxes" (and "labels"), as Keras\'s layers take them. '
                f"Received: {type(boxes).__name__}"
            )
        fmt = self.bounding_box_format
        result = {key: ops.convert_to_tensor(tf_data.densify(value))
                  for key, value in boxes.items()}
        # One image's boxes (N, 4) and labels (N,) get a batch axis.
        added = {key for key, value in result.items()
                 if len(value.shape) == (2 if key == "boxes" else 1)}
        result = {key: ops.expand_dims(value, 0) if key in added else value
                  for key, value in result.items()}
        result["boxes"] = bounding_boxes.to_xyxy(result["boxes"], fmt,
                                                 height, width)

        def restore(moved, out_height, out_width):
            moved = dict(moved)
            moved["boxes"] = bounding_boxes.from_xyxy(
                moved["boxes"], fmt, out_height, out_width)
            return {key: ops.squeeze(value, 0) if key in added else value
                    for key, value in moved.items()}

        return result, restore

    def call(self, inputs, training=True):
        data = dict(inputs) if isinstance(inputs, dict) else {
            "images": inputs}
        images, restore = self._to_canonical(data["images"])
        height, width = images.shape[1], images.shape[2]
        boxes = masks = None
        if "bounding_boxes" in data or "segmentation_masks" in data:
            self._check_supports_boxes_and_masks()
        if "bounding_boxes" in data:
            boxes, restore_boxes = self._boxes_to_canonical(
                data["bounding_boxes"], height, width)
        if "segmentation_masks" in data:
            masks, restore_masks = self._masks_to_canonical(
                data["segmentation_masks"])
        if training:
            draw = self.draw(ops.shape(images)[0], height, width)
            # A draw's hash is cheap enough for XLA:CPU to fuse into every
            # pixel's loop, where it ran once per pixel (RandomHue: 1.5x).
            draw = keras.tree.map_structure(computed_once, draw)
            images = tf_compat.compiled(self, "apply_images", images, draw)
            if data.get("labels") is not None:
                data["labels"] = self.apply_labels(data["labels"], draw)
            if boxes is not None:
                boxes = self.apply_bounding_boxes(boxes, draw, height, width)
            if masks is not None:
                masks = tf_compat.compiled(
                    self, "apply_segmentation_masks", masks, draw)
        else:
            images = self.inference_images(images)
            if boxes is not None:
                boxes = self.inference_bounding_boxes(boxes, height, width)
            if masks is not None:
                masks = self.inference_segmentation_masks(masks)
        out_height, out_width = images.shape[1], images.shape[2]
        data["images"] = restore(images)
        if boxes is not None:
            data["bounding_boxes"] = restore_boxes(boxes, out_height,
                                                   out_width)
        if masks is not None:
            data["segmentation_masks"] = restore_masks(masks)
        if training:
            data = self.end_fusion(data)
        return data if isinstance(inputs, dict) else data["images"]

    def end_fusion(self, data):
        """The layer's training output (a dict), computed in full before the
        next layer uses it: where XLA compiles for a CPU (TensorFlow's XLA,
        JAX), its compiler would otherwise rerun this layer's work inside
        the next layer's gathers, once per pixel read (`_fusion.kept_apart`).
        The images and masks
        pass unchanged everywhere else."""
        for key in ("images", "segmentation_masks"):
            if key in data:
                data[key] = kept_apart(data[key], self.seed_generator.state)
        return data

    def _check_supports_boxes_and_masks(self):
        if not self.supports_boxes_and_masks:
            raise NotImplementedError(
                f"{type(self).__name__} does not take 'bounding_boxes' or "
                "'segmentation_masks' yet; apply it to images (and labels) "
                "only, or use a layer that moves boxes and masks (the "
                "geometric, crop, colour and erasing layers)."
            )

    # -- Keras's names for the same split ------------------------------------

    def get_random_transformation(self, data, training=True, seed=None):
        """Keras's name for `draw`; takes images or a dict of them."""
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        if not self.built:
            self.build(tuple(images.shape))
        images, _ = self._to_canonical(images)
        draw = self.draw(ops.shape(images)[0], images.shape[1],
                         images.shape[2])
        return {**draw, "input_shape": (images.shape[1], images.shape[2])}

    def transform_images(self, images, transformation=None, training=True):
        """Keras's name for `apply_images`, on images in the layer's
        layout and dtype."""
        images, restore = self._to_canonical(images)
        if not training:
            return restore(self.inference_images(images))
        if transformation is None:
            return restore(images)
        return restore(self.apply_images(
            images, self.draw_from_keras(transformation)))

    def transform_labels(self, labels, transformation=None, training=True):
        """Keras's name for `apply_labels`."""
        if not training or transformation is None:
            return labels
        return self.apply_labels(labels, transformation)

    def transform_bounding_boxes(self, bounding_boxes, transformation=None,
                                 training=True):
        """Keras's name for `apply_bounding_boxes`, on boxes in the layer's
        `bounding_box_format` (batched) for images of the size `draw` saw
        (`transformation["input_shape"]`, added by
        `get_random_transformation`)."""
        if not training or transformation is None:
            return bounding_boxes
        self._check_supports_boxes_and_masks()
        height, width = self._transformed_size(transformation["input_shape"])
        boxes, restore = self._boxes_to_canonical(bounding_boxes, height,
                                                  width)
        draw = self.draw_from_keras(transformation)
        moved = self.apply_bounding_boxes(boxes, draw, height, width)
        return restore(moved, *self.output_size(height, width))

    def _transformed_size(self, input_shape):
        """(height, width) from a transformation's `input_shape`: ours is
        `(height, width)`, Keras's the images' shape in the layer's
        layout."""
        if len(input_shape) == 2:
            return tuple(input_shape)
        h_axis, w_axis = self._spatial_axes(len(input_shape))
        return input_shape[h_axis], input_shape[w_axis]

    def draw_from_keras(self, transformation):
        """Our draw from a transformation dict: ours as is; layers whose
        Keras namesake's dict differs translate its keys (Keras's own box
        tests hand-build them)."""
        return transformation

    def transform_segmentation_masks(self, segmentation_masks,
                                     transformation=None, training=True):
        """Keras's name for `apply_segmentation_masks`, on masks in the
        layer's layout."""
        self._check_supports_boxes_and_masks()
        masks, restore = self._masks_to_canonical(segmentation_masks)
        if not training:
            return restore(self.inference_segmentation_masks(masks))
        if transformation is None:
            return restore(masks)
        return restore(self.apply_segmentation_masks(
            masks, self.draw_from_keras(transformation)))

    def get_config(self):
        config = {
            **super().get_config(),
            **self.declared_config(),
            "data_format": self.data_format,
            "seed": self.seed,
        }
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        if self.keep_dtype:
            config["keep_dtype"] = True
        return config


def move_boxes(boxes, matrices, output_size):
    """`{"boxes", "labels"}` (absolute xyxy) moved by the output-to-input
    pixel maps `matrices` onto an image of `output_size`; boxes left with
    no area get the label -1."""
    moved = dict(boxes)
    moved["boxes"] = bounding_boxes.transform(boxes["boxes"], matrices,
                                              output_size)
    if "labels" in boxes:
        moved["labels"] = bounding_boxes.drop_empty(moved["boxes"],
                                                    boxes["labels"])
    return moved
