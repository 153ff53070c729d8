"""`Augment`: a pipeline of augmentation layers, geometric runs fused."""

import keras

from keras_regkit.layers.augment import geometry
from keras_regkit.layers.augment._base import BaseAugmentation


def _short_names():
    """Our augmentation classes by bare name, so a short config such as
    `{"class_name": "RandomRotation", "config": {...}}` means ours."""
    from keras_regkit.layers import augment

    return {name: getattr(augment, name) for name in augment.__all__
            if isinstance(getattr(augment, name), type)}


def _fusion_runs(layers):
    """Splits `layers` into runs: consecutive geometric layers with the same
    resampling settings (crops, whose boxes lie inside the image, join any
    run), and single non-geometric layers."""
    runs, current, settings = [], [], None
    for layer in layers:
        flexible = layer.changes_size
        if layer.is_geometric and (
            not current or flexible or settings is None
            or layer.resampling == settings
        ):
            current.append(layer)
            if not flexible and settings is None:
                settings = layer.resampling
            continue
        if current:
            runs.append((current, settings))
        current, settings = [], None
        if layer.is_geometric:
            current = [layer]
            settings = None if layer.changes_size else layer.resampling
        else:
            runs.append(([layer], None))
    if current:
        runs.append((current, settings))
    return runs


@keras.saving.register_keras_serializable(package="keras_regkit")
class Augment(BaseAugmentation):
    """Applies augmentation layers in order, resampling geometric runs once.

    Consecutive geometric layers (`RandomFlip`, `RandomRotation`,
    `RandomZoom`, `RandomTranslation`, `RandomShear`, `RandomAffine`,
    `RandomCrop`, `RandomResizedCrop`) are composed into one affine matrix
    per image and resampled once, so a stack of them costs about one layer,
    and the image is interpolated once instead of once per layer (sharper).
    Layers with different `fill_mode` / `interpolation` / `fill_value` start
    a new run. Each layer keeps its own seed and strengths (schedules work
    as in the layer alone). The result equals applying the layers one by one
    up to interpolation and border effects: points that one layer moves
    outside the image are filled only once, at the end.

    Args:
        layers: list of keras_regkit augmentation layers, all with the same
            `data_format`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            the layers' (or `keras.config.image_data_format()`).

    Example:

    >>> import numpy as np
    >>> from keras_regkit.layers import RandomFlip, RandomRotation, RandomZoom
    >>> augment = Augment([RandomFlip("horizontal", seed=1),
    ...                    RandomRotation(0.05, seed=2),
    ...                    RandomZoom(0.1, seed=3)])
    >>> tuple(augment(np.ones((2, 16, 16, 3), "float32")).shape)
    (2, 16, 16, 3)
    """

    def __init__(self, layers, data_format=None, **kwargs):
        if isinstance(layers, dict) or not isinstance(layers, (list, tuple)):
            raise TypeError(
                "Invalid type for argument `layers` of Augment: expected a "
                f"list of augmentation layers. Received: layers={layers!r}"
            )
        layers = [
            keras.saving.deserialize_keras_object(
                layer, custom_objects=_short_names())
            if isinstance(layer, dict) else layer
            for layer in layers
        ]
        for layer in layers:
            if not isinstance(layer, BaseAugmentation):
                raise TypeError(
                    "Augment takes keras_regkit augmentation layers only "
                    f"(keras_regkit.layers.Random*, MixUp, ...). Received: "
                    f"{layer!r}"
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
        self.changes_size = any(layer.changes_size for layer in layers)

    def build(self, input_shape):
        super().build(input_shape)
        shape = self._images_shape(input_shape)
        for layer in self.layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def output_size(self, height, width):
        for layer in self.layers:
            height, width = layer.output_size(height, width)
        return height, width

    def _apply_run(self, run, settings, images, labels):
        if len(run) == 1:
            layer = run[0]
            draw = layer.draw(keras.ops.shape(images)[0], images.shape[1],
                              images.shape[2])
            images = layer.apply_images(images, draw)
            if labels is not None:
                labels = layer.apply_labels(labels, draw)
            return images, labels
        batch_size = keras.ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        matrix = None
        for layer in run:
            draw = layer.draw(batch_size, height, width)
            step = layer.matrices(draw, height, width)
            matrix = step if matrix is None else geometry.compose(matrix,
                                                                  step)
            height, width = layer.output_size(height, width)
        settings = settings or run[0].resampling
        images = geometry.affine_transform(
            images, matrix, output_size=(height, width), **settings)
        return images, labels

    def apply_images(self, images, draw):
        images, _ = self.apply_images_and_labels(images, None)
        return images

    def apply_images_and_labels(self, images, labels):
        for run, settings in _fusion_runs(self.layers):
            images, labels = self._apply_run(run, settings, images, labels)
        return images, labels

    def inference_images(self, images):
        for layer in self.layers:
            images = layer.inference_images(images)
        return images

    def call(self, inputs, training=True):
        if not isinstance(inputs, dict) or "labels" not in inputs:
            return super().call(inputs, training=training)
        images, restore = self._to_canonical(inputs["images"])
        labels = inputs["labels"]
        if training:
            images, labels = self.apply_images_and_labels(images, labels)
        else:
            images = self.inference_images(images)
        return {**inputs, "images": restore(images), "labels": labels}

    def get_config(self):
        config = super().get_config()
        config.pop("seed")
        return {
            **config,
            "layers": [keras.saving.serialize_keras_object(layer)
                       for layer in self.layers],
        }
