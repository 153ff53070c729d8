"""Bounding boxes: Keras's formats, and moving boxes by the pixels' maps.

Boxes arrive as Keras's layers take them, `{"boxes": (batch, N, 4),
"labels": (batch, N)}` (padded rows carry the label -1), in one of Keras's
`bounding_box_format`s. Layers work in absolute `xyxy` pixels: a box is
the region `[x1, x2) x [y1, y2)` of continuous coordinates in which pixel
`(row, col)` covers `[col, col + 1) x [row, row + 1)`.

A geometric layer moves a box with the same 3x3 matrix as its pixels: the
four corners are mapped, the enclosing box is taken and clipped to the
output image, and a box left with no area gets the label -1 (Keras's
convention for boxes that leave the image).
"""

from keras import ops

from keras_regkit import _checks as checks
from keras_regkit.layers.augment import geometry

#: Keras 3's bounding box formats (`keras.utils.bounding_boxes`).
FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw",
           "rel_xyxy", "rel_yxyx", "rel_xywh", "rel_center_xywh")


def check_format(owner, value):
    """`bounding_box_format`: None or one of Keras's formats."""
    if value is None:
        return None
    return checks.choice(owner, "bounding_box_format", value, FORMATS)


def _split(boxes):
    return [boxes[..., i] for i in range(4)]


def to_xyxy(boxes, source, height, width):
    """Boxes in format `source` as absolute float32 `xyxy` pixels.

    Examples:

        >>> import numpy as np
        >>> boxes = np.array([[[0.25, 0.5, 0.5, 0.25]]], "float32")
        >>> ops.convert_to_numpy(to_xyxy(boxes, "rel_xywh", 8, 4)).tolist()
        [[[1.0, 4.0, 3.0, 6.0]]]
    """
    boxes = ops.cast(boxes, "float32")
    a, b, c, d = _split(boxes)
    relative = source.startswith("rel_")
    kind = source[4:] if relative else source
    if kind == "xyxy":
        x1, y1, x2, y2 = a, b, c, d
    elif kind == "yxyx":
        y1, x1, y2, x2 = a, b, c, d
    elif kind == "xywh":
        x1, y1, x2, y2 = a, b, a + c, b + d
    elif kind == "center_xywh":
        x1, y1, x2, y2 = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    else:  # center_yxhw
        x1, y1, x2, y2 = b - d / 2, a - c / 2, b + d / 2, a + c / 2
    if relative:
        x1, x2 = x1 * width, x2 * width
        y1, y2 = y1 * height, y2 * height
    return ops.stack([x1, y1, x2, y2], axis=-1)


def from_xyxy(boxes, target, height, width):
    """Absolute `xyxy` boxes written in format `target`."""
    x1, y1, x2, y2 = _split(boxes)
    if target.startswith("rel_"):
        x1, x2 = x1 / width, x2 / width
        y1, y2 = y1 / height, y2 / height
        target = target[4:]
    if target == "xyxy":
        parts = (x1, y1, x2, y2)
    elif target == "yxyx":
        parts = (y1, x1, y2, x2)
    elif target == "xywh":
        parts = (x1, y1, x2 - x1, y2 - y1)
    elif target == "center_xywh":
        parts = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
    else:  # center_yxhw
        parts = ((y1 + y2) / 2, (x1 + x2) / 2, y2 - y1, x2 - x1)
    return ops.stack(parts, axis=-1)


def transform(boxes, matrices, output_size):
    """Moves absolute `xyxy` boxes `(batch, N, 4)` by the output-to-input
    pixel maps `matrices` (what `affine_transform` takes): the corners go
    through the inverse map, the enclosing box is clipped to `output_size`
    `(height, width)`."""
    forward = geometry.invert(ops.cast(matrices, "float32"))

    def entry(row, col):
        return ops.expand_dims(forward[:, row, col], -1)  # (batch, 1)

    x1, y1, x2, y2 = _split(boxes)
    xs, ys = [], []
    # Pixel centres sit at index + 0.5 in box coordinates; projective maps
    # divide by the third coordinate (1 for affine ones).
    for x, y in ((x1, y1), (x2, y1), (x1, y2), (x2, y2)):
        px, py = x - 0.5, y - 0.5
        w = entry(2, 0) * px + entry(2, 1) * py + entry(2, 2)
        xs.append((entry(0, 0) * px + entry(0, 1) * py + entry(0, 2)) / w
                  + 0.5)
        ys.append((entry(1, 0) * px + entry(1, 1) * py + entry(1, 2)) / w
                  + 0.5)
    height, width = output_size
    moved = ops.stack([
        ops.clip(_reduce(ops.minimum, xs), 0.0, float(width)),
        ops.clip(_reduce(ops.minimum, ys), 0.0, float(height)),
        ops.clip(_reduce(ops.maximum, xs), 0.0, float(width)),
        ops.clip(_reduce(ops.maximum, ys), 0.0, float(height)),
    ], axis=-1)
    return moved


def _reduce(fn, values):
    result = values[0]
    for value in values[1:]:
        result = fn(result, value)
    return result


def drop_empty(boxes, labels):
    """Labels of boxes with no area set to -1 (Keras's convention)."""
    x1, y1, x2, y2 = _split(boxes)
    empty = (x2 <= x1) | (y2 <= y1)
    return ops.where(empty, ops.cast(-1, labels.dtype), labels)


def pad(boxes, count):
    """`{"boxes", "labels"}` padded to `count` boxes (label -1)."""
    missing = count - boxes["boxes"].shape[1]
    if missing == 0:
        return boxes
    padded = dict(boxes)
    padded["boxes"] = ops.pad(boxes["boxes"], ((0, 0), (0, missing), (0, 0)))
    if "labels" in boxes:
        padded["labels"] = ops.pad(boxes["labels"], ((0, 0), (0, missing)),
                                   constant_values=-1)
    return padded
