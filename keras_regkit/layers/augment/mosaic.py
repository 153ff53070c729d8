"""Mosaic: four images, scaled, meet at a random centre in one image."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.augment import bounding_boxes
from keras_regkit.layers.augment import geometry
from keras_regkit.layers.augment._base import mask_fill_value
from keras_regkit.layers.augment._mixing import MixingAugmentation
from keras_regkit.layers.augment._mixing import one_hot_labels
from keras_regkit.layers.augment._mixing import partners

#: The tiles in order: (right of the centre, below the centre).
_TILES = ((False, False), (True, False), (False, True), (True, True))


@keras.saving.register_keras_serializable(package="keras_regkit")
class Mosaic(MixingAugmentation):
    """Mosaic (YOLOv4): each output joins four images around a random
    centre; boxes, masks and labels come along.

    Each image is the top-left tile of its mosaic; three partner images
    (random permutations of the batch) take the top-right, bottom-left and
    bottom-right tiles. Every tile shows its image scaled by `scale`, with
    the image's corner that faces the centre on the centre point (so the
    four images meet there, as in YOLO); where a tile reaches past its
    scaled image, `fill_value` shows. The whole mosaic is one gather per
    pixel (from the image of its tile), compiled by XLA.

    Boxes: each image's boxes scaled and moved with it, clipped to its
    tile (label -1 where nothing is left), all four sets side by side
    (`(B, 4N, 4)`). Masks: moved likewise with nearest sampling; outside
    every image they hold `mask_fill_value` (no class id). Labels, given a
    dict with `"labels"`, are mixed by the area each image shows.

    Args:
        scale: float in (0, 1], the size of each image in its tile relative
            to the output. Defaults to `0.5` (four images fill the output
            when the centre is in the middle).
        center_range: `(low, high)` in [0, 1], the range of the centre's
            position as a fraction of the height and of the width (drawn
            per image). Defaults to `(0.25, 0.75)`.
        fill_value: float, the value where no image shows. Defaults to
            `0.0`.
        interpolation: `"bilinear"` or `"nearest"`. Defaults to
            `"bilinear"`.
        num_classes: int or None; lets integer labels be one-hot encoded
            and mixed. Defaults to `None`.
        label_smoothing: float in [0, 1), as in `MixUp`. Defaults to `0.0`.
        seed: int or None. Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.

    Examples:

        >>> import numpy as np
        >>> boxes = {"boxes": np.array([[[0.0, 0, 32, 32]]] * 4),
        ...          "labels": np.arange(4)[:, None]}
        >>> batch = {"images": np.random.rand(4, 32, 32, 3) * 255,
        ...          "bounding_boxes": boxes}
        >>> out = Mosaic(bounding_box_format="xyxy", seed=0)(batch)
        >>> tuple(out["bounding_boxes"]["boxes"].shape)  # four images' boxes
        (4, 4, 4)

    References:
        Bochkovskiy et al., YOLOv4: Optimal Speed and Accuracy of Object
        Detection, 2020. https://arxiv.org/abs/2004.10934
    """

    boxes_per_box = 4

    def __init__(self, scale=0.5, center_range=(0.25, 0.75), fill_value=0.0,
                 interpolation="bilinear", num_classes=None,
                 label_smoothing=0.0, seed=None, data_format=None,
                 **kwargs):
        super().__init__(num_classes=num_classes, data_format=data_format,
                         seed=seed, label_smoothing=label_smoothing,
                         **kwargs)
        owner = type(self).__name__
        self.scale = checks.number(owner, "scale", scale,
                                   lambda v: 0 < v <= 1, "a float in (0, 1]")
        self.center_range = checks.pair(
            owner, "center_range", center_range,
            lambda lo, hi: 0 <= lo <= hi <= 1,
            "a pair (low, high) with 0 <= low <= high <= 1")
        self.fill_value = checks.real(owner, "fill_value", fill_value)
        self.interpolation = checks.choice(owner, "interpolation",
                                           interpolation,
                                           geometry.INTERPOLATIONS)

    def draw(self, batch_size, height, width):
        u = _random.uniform((2, batch_size), self.seed_generator)
        low, high = self.center_range
        # Whole pixels, so that every pixel belongs to one tile.
        centre_x = ops.round((low + (high - low) * u[0]) * width)
        centre_y = ops.round((low + (high - low) * u[1]) * height)
        order = ops.stack([ops.arange(batch_size, dtype="int32")] + [
            ops.cast(partners(batch_size, self.seed_generator), "int32")
            for _ in range(3)], axis=1)
        draw = {"centre_x": centre_x, "centre_y": centre_y, "order": order}
        areas = self._shown_areas(draw, height, width)
        draw["label_weights"] = areas / ops.maximum(
            ops.sum(areas, axis=1, keepdims=True), 1.0)
        return draw

    def _tiles(self, draw, height, width):
        """Per tile: (left, top, right, bottom) of the tile and the scaled
        image's top-left corner (x, y), each `(B,)`."""
        cx, cy = draw["centre_x"], draw["centre_y"]
        shown_w, shown_h = self.scale * width, self.scale * height
        tiles = []
        for right, below in _TILES:
            edges = (cx if right else ops.zeros_like(cx),
                     cy if below else ops.zeros_like(cy),
                     ops.full_like(cx, width) if right else cx,
                     ops.full_like(cy, height) if below else cy)
            corner = (cx if right else cx - shown_w,
                      cy if below else cy - shown_h)
            tiles.append((edges, corner))
        return tiles

    def _sources(self, draw, height, width):
        """Each output pixel's image and source `(x, y)`, `(B, H * W)`."""
        ys, xs = ops.meshgrid(ops.arange(height, dtype="float32"),
                              ops.arange(width, dtype="float32"),
                              indexing="ij")
        xs, ys = ops.reshape(xs, (1, -1)), ops.reshape(ys, (1, -1))
        right = xs >= draw["centre_x"][:, None]
        below = ys >= draw["centre_y"][:, None]
        tile = ops.cast(right, "int32") + 2 * ops.cast(below, "int32")
        source = ops.take_along_axis(draw["order"], tile, axis=1)
        tiles = self._tiles(draw, height, width)
        left_x, top_y = tiles[0][1]
        right_x, bottom_y = tiles[3][1]
        corner_x = ops.where(right, right_x[:, None], left_x[:, None])
        corner_y = ops.where(below, bottom_y[:, None], top_y[:, None])
        # Pixel centres: (x + 0.5 - corner) / scale - 0.5, as a resize.
        x = (xs + 0.5 - corner_x) / self.scale - 0.5
        y = (ys + 0.5 - corner_y) / self.scale - 0.5
        return source, x, y

    def apply_images(self, images, draw):
        height, width = images.shape[1], images.shape[2]
        if images.shape[0] == 0:
            return images
        source, x, y = self._sources(draw, height, width)
        return geometry.sample(images, x, y, (height, width),
                               self.interpolation, "constant",
                               self.fill_value, source=source)

    def apply_segmentation_masks(self, masks, draw):
        height, width = masks.shape[1], masks.shape[2]
        if masks.shape[0] == 0:
            return masks
        source, x, y = self._sources(draw, height, width)
        return geometry.sample(masks, x, y, (height, width), "nearest",
                               "constant", mask_fill_value(masks.dtype),
                               source=source)

    def _shown_areas(self, draw, height, width):
        """`(B, 4)` pixels each image shows (its tile within the scaled
        image)."""
        areas = []
        for (left, top, right, bottom), (x, y) in self._tiles(draw, height,
                                                              width):
            w = (ops.minimum(right, x + self.scale * width)
                 - ops.maximum(left, x))
            h = (ops.minimum(bottom, y + self.scale * height)
                 - ops.maximum(top, y))
            areas.append(ops.maximum(w, 0.0) * ops.maximum(h, 0.0))
        return ops.stack(areas, axis=1)

    def apply_labels(self, labels, draw):
        labels = one_hot_labels(labels, self.num_classes,
                                self.label_smoothing)
        weights = draw["label_weights"]
        mixed = 0.0
        for k in range(4):
            mixed = mixed + weights[:, k:k + 1] * ops.take(
                labels, draw["order"][:, k], axis=0)
        return mixed

    def apply_bounding_boxes(self, boxes, draw, height, width):
        """Each image's boxes scaled and moved into its tile, clipped to
        the tile; the four sets side by side."""
        moved = []
        for k, ((left, top, right, bottom), (x, y)) in enumerate(
                self._tiles(draw, height, width)):
            tile = {key: ops.take(value, draw["order"][:, k], axis=0)
                    for key, value in boxes.items()}
            x1, y1, x2, y2 = (tile["boxes"][..., i] for i in range(4))
            lo_x, lo_y = left[:, None], top[:, None]
            hi_x, hi_y = right[:, None], bottom[:, None]
            x, y = x[:, None], y[:, None]
            tile["boxes"] = ops.stack([
                ops.clip(x1 * self.scale + x, lo_x, hi_x),
                ops.clip(y1 * self.scale + y, lo_y, hi_y),
                ops.clip(x2 * self.scale + x, lo_x, hi_x),
                ops.clip(y2 * self.scale + y, lo_y, hi_y)], axis=-1)
            if "labels" in tile:
                tile["labels"] = bounding_boxes.drop_empty(tile["boxes"],
                                                           tile["labels"])
            moved.append(tile)
        return {key: ops.concatenate([tile[key] for tile in moved], axis=1)
                for key in boxes}

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "center_range": list(self.center_range),
            "fill_value": self.fill_value,
            "interpolation": self.interpolation,
        }
