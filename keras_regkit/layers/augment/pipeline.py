"""`Augment`: a pipeline of augmentation layers, geometric runs fused."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _registry
from keras_regkit._fusion import kept_apart
from keras_regkit._fusion import kept_apart_under_tensorflow
from keras_regkit.layers.augment import bounding_boxes
from keras_regkit.layers.augment import geometry
from keras_regkit.layers.augment._base import BaseAugmentation
from keras_regkit.layers.augment._base import mask_fill_value
from keras_regkit.layers.augment._base import move_boxes


def fusion_runs(layers):
    """Splits `layers` into runs `Augment` resamples once each.

    A run is consecutive layers that fuse (`fuses_with`) with the
    resampling settings the run has fixed so far, or a single layer that
    fuses with nothing. Returns a list of `(layers, settings)`.
    """
    runs, current, settings = [], [], None
    for layer in layers:
        if current and layer.fuses_with(settings):
            current.append(layer)
            settings = settings or layer.fusion_settings()
            continue
        if current:
            runs.append((current, settings))
            current, settings = [], None
        if layer.fuses_with(None):
            current, settings = [layer], layer.fusion_settings()
        else:
            runs.append(([layer], None))
    if current:
        runs.append((current, settings))
    return runs


def _layer_from_config(config):
    """A layer from its config; a short class name means our layer (a
    config Keras wrote for one of its own layers stays Keras's)."""
    name = config.get("class_name")
    cls = None
    if not str(config.get("module", "")).startswith("keras."):
        cls = _registry.resolve(name, BaseAugmentation)
    custom = {name: cls} if cls is not None else None
    return keras.saving.deserialize_keras_object(config,
                                                 custom_objects=custom)


def _is_keras_image_layer(layer):
    """A Keras image preprocessing layer with the draw/transform split
    (`get_random_transformation`, `transform_images`, ...)."""
    return (isinstance(layer, keras.layers.Layer)
            and not isinstance(layer, BaseAugmentation)
            and all(hasattr(layer, name) for name in (
                "get_random_transformation", "transform_images",
                "transform_labels", "transform_segmentation_masks")))


def _our_namesake(layer):
    """Keras's image layer replaced by ours of the same name (the same
    arguments, built from its config): ours fuse and compile under XLA,
    where Keras's would quietly take XLA away from the whole model."""
    if not type(layer).__module__.startswith("keras."):
        return layer
    name = type(layer).__name__
    cls = _registry.resolve(name, BaseAugmentation)
    if cls is None:
        return layer
    try:
        return cls.from_config(layer.get_config())
    except (TypeError, ValueError) as error:
        reason = str(error).strip().splitlines()[-1]
        raise ValueError(
            f"Augment replaces keras.layers.{name} by "
            f"keras_regkit.layers.{name} (which fuses and compiles under "
            "XLA), but could not carry this one's settings over "
            f"({reason}). Pass keras_regkit.layers.{name}(...) with the "
            "arguments you gave Keras's.") from None


# Keras layers that change pixel values only (no geometry, no
# randomness): applied to the images of an `Augment`, all else unchanged.
_VALUE_LAYERS = (keras.layers.Rescaling, keras.layers.Normalization)


class _KerasLayerStep(BaseAugmentation):
    """A Keras layer as one step of `Augment` (not fused): holds it,
    builds it, and moves images between our channels-last layout and the
    layer's."""

    def __init__(self, layer, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.layer = layer

    def build(self, input_shape):
        super().build(input_shape)
        if not self.layer.built:
            self.layer.build(self._images_shape(input_shape))

    def _keras_layout(self, images):
        if self.data_format == "channels_first":
            return ops.transpose(images, (0, 3, 1, 2))
        return images

    def _our_layout(self, images):
        if self.data_format == "channels_first":
            return ops.transpose(images, (0, 2, 3, 1))
        return images


class ValueStep(_KerasLayerStep):
    """`keras.layers.Rescaling` or `Normalization` as a step of `Augment`:
    it maps the images' values (labels, boxes and masks unchanged), in
    training and at inference alike, as in a `Sequential`."""

    def _apply(self, images):
        return self._our_layout(ops.cast(
            self.layer(self._keras_layout(images)), "float32"))

    def apply_images(self, images, draw):
        return self._apply(images)

    def inference_images(self, images):
        return self._apply(images)


class KerasStep(_KerasLayerStep):
    """A Keras image layer as one step of `Augment` (not fused).

    Its own `get_random_transformation` draws once per batch (from a batch
    of zeros of the right shape: Keras's layers draw from the shape), and
    `transform_images` / `transform_labels` /
    `transform_bounding_boxes` / `transform_segmentation_masks` replay it,
    in the Keras layer's layout and value range (ours: the images' own).
    Boxes need the Keras layer's `bounding_box_format`.
    """

    draws_in_apply = True  # a Keras layer draws when it is called

    def __init__(self, layer, **kwargs):
        super().__init__(layer, data_format=layer.data_format, **kwargs)
        self.channels = None
        # Keras's layers that XLA cannot compile (RandomRotation, ...) say
        # so; Augment passes it on, so jit_compile=True falls back.
        self.supports_jit = getattr(layer, "supports_jit", True)

    def build(self, input_shape):
        super().build(input_shape)
        shape = self._images_shape(input_shape)
        self.channels = shape[-1 if self.data_format == "channels_last"
                              else len(shape) - 3]

    def output_size(self, height, width):
        shape = (None, height, width, self.channels or 3)
        if self.data_format == "channels_first":
            shape = (None, self.channels or 3, height, width)
        out = self.layer.compute_output_shape(shape)
        h_axis, w_axis = self._spatial_axes(4)
        return out[h_axis], out[w_axis]

    def draw(self, batch_size, height, width):
        zeros = self._keras_layout(ops.zeros(
            (batch_size, height, width, self.channels), "float32"))
        return self.layer.get_random_transformation(zeros, training=True)

    def apply_images(self, images, draw):
        return self._our_layout(self.layer.transform_images(
            self._keras_layout(images), draw, training=True))

    def apply_labels(self, labels, draw):
        return self.layer.transform_labels(labels, draw, training=True)

    def apply_segmentation_masks(self, masks, draw):
        return self._our_layout(self.layer.transform_segmentation_masks(
            self._keras_layout(masks), draw, training=True))

    def apply_bounding_boxes(self, boxes, draw, height, width):
        fmt = getattr(self.layer, "bounding_box_format", None)
        if not fmt:
            raise ValueError(
                f"Augment got bounding boxes, but its Keras layer "
                f"{self.layer.name} has no `bounding_box_format`; give it "
                "one (any: Augment converts) to move boxes through it.")
        moved = dict(boxes)
        moved["boxes"] = bounding_boxes.from_xyxy(boxes["boxes"], fmt,
                                                  height, width)
        moved = self.layer.transform_bounding_boxes(moved, draw,
                                                    training=True)
        out_height, out_width = self.output_size(height, width)
        moved = dict(moved)
        moved["boxes"] = bounding_boxes.to_xyxy(moved["boxes"], fmt,
                                                out_height, out_width)
        return moved

    def inference_images(self, images):
        return self._our_layout(self.layer(self._keras_layout(images),
                                           training=False))


@keras.saving.register_keras_serializable(package="keras_regkit")
class Augment(BaseAugmentation):
    """Applies augmentation layers in order, resampling geometric runs once.

    Consecutive geometric layers (`RandomFlip`, `RandomRotation`,
    `RandomZoom`, `RandomTranslation`, `RandomShear`, `RandomAffine`,
    `RandomCrop`, `RandomResizedCrop`) are composed into one affine matrix
    per image and resampled once, so a stack of them costs about one layer,
    and the image is interpolated once instead of once per layer (sharper).
    Layers with different `fill_mode` / `interpolation` / `fill_value` start
    a new run; flips and crops, whose maps stay inside the image, join any
    run and take its settings. Each layer keeps its own seed and strengths
    (schedules work as in the layer alone). The result equals applying the
    layers one by one up to interpolation and border effects: points that
    one layer moves outside the image are filled only once, at the end.
    Like every layer, `draw` takes all the randomness (each layer's) and
    `apply_images` / `apply_labels` replay it, so Keras's
    `get_random_transformation` followed by `transform_images` and
    `transform_labels` transform images and labels alike.

    Args:
        layers: list of keras_regkit augmentation layers, all with the same
            `data_format`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            the layers' (or `keras.config.image_data_format()`).

    Examples:

        >>> import numpy as np
        >>> from keras_regkit.layers import RandomFlip
        >>> from keras_regkit.layers import RandomRotation, RandomZoom
        >>> augment = Augment([RandomFlip("horizontal", seed=1),
        ...                    RandomRotation(0.05, seed=2),
        ...                    RandomZoom(0.1, seed=3)])
        >>> tuple(augment(np.ones((2, 16, 16, 3), "float32")).shape)
        (2, 16, 16, 3)
    """

    def __init__(self, layers, data_format=None, **kwargs):
        if isinstance(layers, dict) or not isinstance(layers, (list, tuple)):
            raise checks.invalid("Augment", "layers", layers,
                                 "a list of augmentation layers",
                                 error=TypeError)
        layers = [_layer_from_config(layer) if isinstance(layer, dict)
                  else layer for layer in layers]
        layers = [_our_namesake(layer) for layer in layers]
        layers = [ValueStep(layer, data_format=data_format)
                  if isinstance(layer, _VALUE_LAYERS) else layer
                  for layer in layers]
        layers = [KerasStep(layer) if _is_keras_image_layer(layer) else layer
                  for layer in layers]
        for layer in layers:
            if not isinstance(layer, BaseAugmentation):
                raise TypeError(
                    "Augment takes keras_regkit augmentation layers, "
                    "Keras's image preprocessing layers (RandomSharpness, "
                    "Solarization, Resizing, ...) and its value layers "
                    f"(Rescaling, Normalization). Received: {layer!r}"
                )
        if data_format is None and layers:
            data_format = layers[0].data_format
        super().__init__(data_format=data_format, **kwargs)
        for layer in layers:
            if layer.data_format != self.data_format:
                raise ValueError(
                    "All layers in Augment must share one data_format; "
                    f"{layer.name} has {layer.data_format!r}, the pipeline "
                    f"{self.data_format!r}."
                )
        self.layers = list(layers)
        self.supports_jit = all(layer.supports_jit for layer in self.layers)

    def build(self, input_shape):
        super().build(input_shape)
        shape = self._images_shape(input_shape)
        for layer in self.layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    @property
    def draws_in_apply(self):
        return any(layer.draws_in_apply for layer in self.layers)

    @property
    def handles_bytes(self):
        return bool(self.layers) and all(layer.handles_bytes
                                         for layer in self.layers)

    def output_size(self, height, width):
        for layer in self.layers:
            height, width = layer.output_size(height, width)
        return height, width

    @property
    def boxes_per_box(self):
        count = 1
        for layer in self.layers:
            count *= getattr(layer, "boxes_per_box", 1)
        return count

    def draw(self, batch_size, height, width):
        """Every layer's draw, in order (`"0"`, `"1"`, ...), each for the
        image size that reaches it; `apply_*` replay them."""
        draws = {}
        for index, layer in enumerate(self.layers):
            draws[str(index)] = layer.draw(batch_size, height, width)
            height, width = layer.output_size(height, width)
        return draws

    def _steps(self, draw, height, width):
        """The pipeline as applied to an image of `height` x `width`: a
        `(layer, layer_draw, None, None)` for a layer applied alone, or a
        `(None, matrices, settings, output_size)` for a fused run of
        geometric layers (their maps composed: resampled once)."""
        index = 0
        for run, settings in fusion_runs(self.layers):
            draws = [draw[str(i)] for i in range(index, index + len(run))]
            index += len(run)
            if len(run) == 1:
                yield run[0], draws[0], None, None
                height, width = run[0].output_size(height, width)
                continue
            matrix = None
            for layer, layer_draw in zip(run, draws, strict=True):
                step = layer.matrices(layer_draw, height, width)
                matrix = step if matrix is None else geometry.compose(matrix,
                                                                      step)
                height, width = layer.output_size(height, width)
            settings = {**(settings or run[0].resampling),
                        "projective": any(layer.projective for layer in run),
                        "axis_aligned": all(layer.axis_aligned
                                            for layer in run)}
            yield None, matrix, settings, (height, width)

    def _before_step(self, values, number, layer):
        """`values` as step `number` (`layer`, or None for a fused run)
        takes them: kept apart from a resampling's gathers, which XLA
        would otherwise fill by recomputing the step before for every
        value they read (see `kept_apart_under_tensorflow`), and from a
        layer that `needs_input_apart` (hue)."""
        if number and layer is not None and layer.needs_input_apart:
            return kept_apart(values, self.seed_generator.state)
        if number and (layer is None or layer.fuses_with(None)):
            return kept_apart_under_tensorflow(
                values, self.seed_generator.state)
        return values

    def apply_images(self, images, draw):
        for number, (layer, step, settings, size) in enumerate(self._steps(
                draw, images.shape[1], images.shape[2])):
            images = self._before_step(images, number, layer)
            if layer is not None:
                images = layer.apply_images(images, step)
            else:
                images = geometry.affine_transform(
                    images, step, output_size=size, **settings)
        return images

    def apply_bounding_boxes(self, boxes, draw, height, width):
        for layer, step, _, size in self._steps(draw, height, width):
            if layer is not None:
                boxes = layer.apply_bounding_boxes(boxes, step, height, width)
                height, width = layer.output_size(height, width)
            else:
                boxes = move_boxes(boxes, step, size)
                height, width = size
        return boxes

    def apply_segmentation_masks(self, masks, draw):
        for number, (layer, step, settings, size) in enumerate(self._steps(
                draw, masks.shape[1], masks.shape[2])):
            masks = self._before_step(masks, number, layer)
            if layer is not None:
                masks = layer.apply_segmentation_masks(masks, step)
            else:
                masks = geometry.resample_nearest(
                    masks, step, size, settings["fill_mode"],
                    mask_fill_value(masks.dtype),
                    projective=settings["projective"],
                    axis_aligned=settings["axis_aligned"])
        return masks

    def apply_labels(self, labels, draw):
        for index, layer in enumerate(self.layers):
            labels = layer.apply_labels(labels, draw[str(index)])
        return labels

    def inference_images(self, images):
        for layer in self.layers:
            images = layer.inference_images(images)
        return images

    def _check_supports_boxes_and_masks(self):
        for layer in self.layers:
            layer._check_supports_boxes_and_masks()

    def inference_bounding_boxes(self, boxes, height, width):
        for layer in self.layers:
            boxes = layer.inference_bounding_boxes(boxes, height, width)
            height, width = layer.output_size(height, width)
        return boxes

    def inference_segmentation_masks(self, masks):
        for layer in self.layers:
            masks = layer.inference_segmentation_masks(masks)
        return masks

    def get_config(self):
        config = super().get_config()
        config.pop("seed")
        return {
            **config,
            "layers": [keras.saving.serialize_keras_object(
                layer.layer if isinstance(layer, _KerasLayerStep) else layer)
                for layer in self.layers],
        }
