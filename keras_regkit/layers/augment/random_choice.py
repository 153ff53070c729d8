"""`RandomApply` and `RandomChoice`: per-image random use of other layers.

Both run every candidate layer on the whole batch and pick, per image, the
result its draw chose: no data-dependent branch, so XLA compiles it (the
price is computing each candidate for the batch). Labels, bounding boxes
and segmentation masks are picked with the same choice.

Reference: Keras issue 20727 (switching between MixUp and CutMix).
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.augment import bounding_boxes
from keras_regkit.layers.augment._base import BaseAugmentation
from keras_regkit.layers.augment.pipeline import _layer_from_config
from keras_regkit.strengths import PROBABILITY
from keras_regkit.strengths import Scheduled


def _pick(choice, candidates):
    """Per image, `candidates[choice[i]][i]` (tensors with a batch axis)."""
    picked = candidates[0]
    for index, candidate in enumerate(candidates[1:], start=1):
        chosen = ops.reshape(choice == index,
                             (-1,) + (1,) * (len(candidate.shape) - 1))
        picked = ops.where(chosen, candidate, picked)
    return picked


class _Selection(BaseAugmentation):
    """Shared by RandomApply and RandomChoice: candidate layers (None for
    the input unchanged) and a per-image choice among them."""

    def _init_layers(self, layers):
        owner = type(self).__name__
        layers = [_layer_from_config(layer) if isinstance(layer, dict)
                  else layer for layer in layers]
        for layer in layers:
            if not isinstance(layer, BaseAugmentation):
                raise TypeError(
                    f"{owner} takes keras_regkit augmentation layers "
                    f"(keras_regkit.layers.Random*, MixUp, ...). Received: "
                    f"{layer!r}")
            if layer.data_format != self.data_format:
                raise ValueError(
                    f"{owner}: {layer.name} has data_format "
                    f"{layer.data_format!r}, the layer {self.data_format!r}.")
        return layers

    def candidates(self):
        raise NotImplementedError

    def choose(self, batch_size):
        raise NotImplementedError

    def build(self, input_shape):
        super().build(input_shape)
        shape = self._images_shape(input_shape)
        h_axis, w_axis = self._spatial_axes(len(shape))
        for layer in self.candidates():
            if layer is None:
                continue
            layer.build(shape)
            size = layer.output_size(shape[h_axis], shape[w_axis])
            if size != (shape[h_axis], shape[w_axis]):
                raise ValueError(
                    f"{type(self).__name__} needs layers that keep the image "
                    f"size (the images of a batch are picked among their "
                    f"outputs); {layer.name} maps "
                    f"{shape[h_axis]}x{shape[w_axis]} to "
                    f"{size[0]}x{size[1]}.")

    @property
    def boxes_per_box(self):
        return max(1 if layer is None else layer.boxes_per_box
                   for layer in self.candidates())

    def _check_supports_boxes_and_masks(self):
        for layer in self.candidates():
            if layer is not None:
                layer._check_supports_boxes_and_masks()

    def draw(self, batch_size, height, width):
        draws = {"choice": self.choose(batch_size)}
        for index, layer in enumerate(self.candidates()):
            if layer is not None:
                draws[str(index)] = layer.draw(batch_size, height, width)
        return draws

    def _each(self, value, method, draw, *args):
        return [value if layer is None
                else getattr(layer, method)(value, draw[str(index)], *args)
                for index, layer in enumerate(self.candidates())]

    def apply_images(self, images, draw):
        return _pick(draw["choice"], self._each(images, "apply_images", draw))

    def apply_segmentation_masks(self, masks, draw):
        return _pick(draw["choice"],
                     self._each(masks, "apply_segmentation_masks", draw))

    def apply_labels(self, labels, draw):
        layers = self.candidates()
        mixing = [layer for layer in layers
                  if layer is not None and layer.mixes_labels]
        # Mixed labels are one-hot: the images no mixing layer chose get
        # their labels in that form too.
        plain = mixing[0].unchanged_labels(labels) if mixing else labels
        outputs = [layer.apply_labels(labels, draw[str(index)])
                   if layer is not None and layer.mixes_labels else plain
                   for index, layer in enumerate(layers)]
        return _pick(draw["choice"], outputs)

    def apply_bounding_boxes(self, boxes, draw, height, width):
        outputs = self._each(boxes, "apply_bounding_boxes", draw, height,
                             width)
        count = max(output["boxes"].shape[1] for output in outputs)
        outputs = [bounding_boxes.pad(output, count) for output in outputs]
        return {key: _pick(draw["choice"], [o[key] for o in outputs])
                for key in outputs[0]}

    def _layers_config(self, layers):
        return [keras.saving.serialize_keras_object(layer)
                for layer in layers]


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomApply(_Selection):
    """Applies a layer to each image with probability `rate`.

    The layer runs on the whole batch; each image keeps its result with
    probability `rate`, else stays as it was (labels, boxes and masks
    alike). XLA-friendly; `rate` may be a schedule.

    Args:
        layer: a keras_regkit augmentation layer that keeps the image size.
        rate: float in [0, 1] or `Schedule`, the chance for each image.
            Defaults to `0.5`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        seed: int or None. Defaults to `None`.
        data_format: as the layer's. Defaults to the layer's.

    Examples:

        >>> import numpy as np
        >>> from keras_regkit.layers import RandomRotation
        >>> layer = RandomApply(RandomRotation(0.1, seed=1), rate=0.3, seed=0)
        >>> tuple(layer(np.ones((4, 8, 8, 3), "float32")).shape)
        (4, 8, 8, 3)
    """

    rate = Scheduled(PROBABILITY)

    def __init__(self, layer, rate=0.5, seed=None, data_format=None,
                 **kwargs):
        if isinstance(layer, (list, tuple)):
            raise checks.invalid("RandomApply", "layer", layer,
                                 "one augmentation layer (for several, "
                                 "use Augment or RandomChoice)",
                                 error=TypeError, show=type)
        super().__init__(data_format=data_format or getattr(
            layer, "data_format", None), seed=seed, **kwargs)
        (self.layer,) = self._init_layers([layer])
        self.rate = rate

    def candidates(self):
        return [None, self.layer]

    def choose(self, batch_size):
        u = _random.uniform((batch_size,), self.seed_generator)
        return ops.cast(u < self.strength("rate").value, "int32")

    def get_config(self):
        return {**super().get_config(),
                "layer": self._layers_config([self.layer])[0]}


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomChoice(_Selection):
    """Applies one of several layers to each image, chosen at random.

    E.g. `RandomChoice([MixUp(...), CutMix(...)])`, as timm switches
    between them. Every layer runs on the whole batch; each image keeps
    the result of its own draw (labels, boxes and masks alike; boxes are
    padded with label -1 to the most any layer returns). XLA-friendly.

    Args:
        layers: list of keras_regkit augmentation layers that keep the
            image size.
        weights: None (equal chances) or one non-negative number per
            layer, normalized. Defaults to `None`.
        seed: int or None. Defaults to `None`.
        data_format: as the layers'. Defaults to the first layer's.

    Examples:

        >>> import numpy as np
        >>> from keras_regkit.layers import CutMix, MixUp
        >>> layer = RandomChoice([MixUp(num_classes=3), CutMix(num_classes=3)],
        ...                      seed=0)
        >>> out = layer({"images": np.random.rand(4, 8, 8, 3),
        ...              "labels": np.array([0, 1, 2, 0])})
        >>> tuple(out["labels"].shape)
        (4, 3)
    """

    def __init__(self, layers, weights=None, seed=None, data_format=None,
                 **kwargs):
        if isinstance(layers, dict) or not isinstance(layers, (list, tuple)) \
                or not layers:
            raise checks.invalid("RandomChoice", "layers", layers,
                                 "a non-empty list of augmentation layers",
                                 error=TypeError)
        first = layers[0]
        super().__init__(data_format=data_format or (
            first.get("config", {}).get("data_format")
            if isinstance(first, dict) else getattr(first, "data_format",
                                                    None)),
            seed=seed, **kwargs)
        self.layers = self._init_layers(layers)
        if weights is not None:
            valid = (isinstance(weights, (list, tuple))
                     and len(weights) == len(self.layers)
                     and all(checks.is_number(w) and w >= 0
                             for w in weights)
                     and sum(weights) > 0)
            if not valid:
                raise checks.invalid(
                    "RandomChoice", "weights", weights,
                    f"None or {len(self.layers)} non-negative numbers "
                    "(one per layer) with a positive sum")
            weights = [float(w) for w in weights]
        self.choice_weights = weights

    def candidates(self):
        return self.layers

    def choose(self, batch_size):
        weights = self.choice_weights or [1.0] * len(self.layers)
        total = sum(weights)
        u = _random.uniform((batch_size,), self.seed_generator) * total
        choice = ops.zeros((batch_size,), "int32")
        edge = 0.0
        for weight in weights[:-1]:
            edge += weight
            choice = choice + ops.cast(u >= edge, "int32")
        return choice

    def get_config(self):
        return {**super().get_config(), "weights": self.choice_weights,
                "layers": self._layers_config(self.layers)}
