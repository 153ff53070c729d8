"""Mosaic: four scaled images meet at the centre; boxes, masks and labels
come along."""

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit.layers.augment.bounding_boxes import drop_empty
from tests.helpers import XLA

pytestmark = pytest.mark.backends

SIZE = 32


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _t(x):
    return keras.ops.convert_to_tensor(x)


def _draw(cx, cy, order):
    layer = layers.Mosaic(interpolation="nearest", fill_value=-1.0)
    layer.build((len(order), SIZE, SIZE, 1))
    draw = {"centre_x": _t(np.array(cx, "float32")),
            "centre_y": _t(np.array(cy, "float32")),
            "order": _t(np.array(order, "int32"))}
    return layer, draw


def test_tiles_show_their_images_scaled_around_the_centre():
    images = np.stack([np.full((SIZE, SIZE, 1), 10.0 * (i + 1), "float32")
                       for i in range(4)])
    order = [[0, 1, 2, 3], [1, 3, 0, 2], [2, 2, 2, 2], [3, 0, 1, 1]]
    layer, draw = _draw([16, 16, 24, 8], [16, 16, 8, 24], order)
    out = _np(layer.apply_images(_t(images), draw))[..., 0]
    for b in range(2):  # centred: each 16x16 tile is one whole image
        for k, (rows, cols) in enumerate([(slice(0, 16), slice(0, 16)),
                                          (slice(0, 16), slice(16, 32)),
                                          (slice(16, 32), slice(0, 16)),
                                          (slice(16, 32), slice(16, 32))]):
            np.testing.assert_array_equal(out[b, rows, cols],
                                          10.0 * (order[b][k] + 1))
    # Centre (24, 8): the top-left tile is 24 wide but its image 16, so
    # columns 0-7 show the fill; the bottom-right tile is 8 x 24 of an
    # image 16 x 16: its lower 8 rows are fill.
    img = out[2]
    np.testing.assert_array_equal(img[:8, :8], -1.0)
    np.testing.assert_array_equal(img[:8, 8:24], 30.0)
    np.testing.assert_array_equal(img[8:24, 24:], 30.0)
    np.testing.assert_array_equal(img[24:, 24:], -1.0)


def test_labels_are_mixed_by_the_area_each_image_shows():
    layer = layers.Mosaic(num_classes=4, seed=0)
    layer.build((4, SIZE, SIZE, 3))
    draw = layer.draw(4, SIZE, SIZE)
    weights = _np(draw["label_weights"])
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-6)
    # By hand for one draw: shown widths and heights per tile.
    cx, cy = _np(draw["centre_x"])[0], _np(draw["centre_y"])[0]
    w = [min(cx, 16), min(SIZE - cx, 16)]
    h = [min(cy, 16), min(SIZE - cy, 16)]
    areas = np.array([w[0] * h[0], w[1] * h[0], w[0] * h[1], w[1] * h[1]])
    np.testing.assert_allclose(weights[0], areas / areas.sum(), rtol=1e-6)
    labels = _np(layer.apply_labels(_t(np.arange(4)), draw))
    order = _np(draw["order"])
    expected = np.zeros((4, 4))
    for b in range(4):
        for k in range(4):
            expected[b, order[b, k]] += weights[b, k]
    np.testing.assert_allclose(labels, expected, atol=1e-6)


def test_boxes_and_masks_land_on_their_objects_in_each_tile():
    rng = np.random.default_rng(1)
    count = 6
    images = np.zeros((count, SIZE, SIZE, 1), "float32")
    masks = np.zeros((count, SIZE, SIZE, 1), "int32")
    boxes = np.zeros((count, 1, 4), "float32")
    for i in range(count):
        x1, y1 = rng.integers(0, 16, 2) * 2
        x2, y2 = x1 + rng.integers(2, 8) * 2, y1 + rng.integers(2, 8) * 2
        images[i, y1:y2, x1:x2] = 100.0 + i
        masks[i, y1:y2, x1:x2] = i + 1
        boxes[i, 0] = [x1, y1, min(x2, SIZE), min(y2, SIZE)]
    layer = layers.Mosaic(interpolation="nearest", seed=2)
    layer.build(images.shape)
    draw = layer.draw(count, SIZE, SIZE)
    out_images = _np(layer.apply_images(_t(images), draw))[..., 0]
    out_masks = _np(layer.apply_segmentation_masks(_t(masks), draw))[..., 0]
    moved = layer.apply_bounding_boxes(
        {"boxes": _t(boxes), "labels": _t(np.arange(1, count + 1)[:, None])},
        draw, SIZE, SIZE)
    out_boxes, out_labels = _np(moved["boxes"]), _np(moved["labels"])
    assert out_boxes.shape == (count, 4, 4)
    order = _np(draw["order"])
    cx, cy = _np(draw["centre_x"]), _np(draw["centre_y"])
    shown = 0
    for b in range(count):
        # Class ids copied, -1 outside every image, 0 elsewhere.
        assert set(np.unique(out_masks[b])) <= {-1, 0, *range(1, count + 1)}
        np.testing.assert_array_equal(out_masks[b] > 0,
                                      out_images[b] >= 100.0)
        for k in range(4):
            tile = np.zeros((SIZE, SIZE), bool)
            rows = slice(0, int(cy[b])) if k < 2 else slice(int(cy[b]), SIZE)
            cols = slice(0, int(cx[b])) if k % 2 == 0 else slice(int(cx[b]),
                                                                 SIZE)
            tile[rows, cols] = True
            inside = tile & (out_masks[b] == order[b, k] + 1)
            if out_labels[b, k] == -1:
                assert not inside.any()
                continue
            assert out_labels[b, k] == order[b, k] + 1
            r, c = np.nonzero(inside)
            np.testing.assert_allclose(
                out_boxes[b, k], [c.min(), r.min(), c.max() + 1, r.max() + 1],
                atol=1.0)
            shown += 1
    assert shown >= count  # most objects stay visible
    np.testing.assert_array_equal(
        _np(drop_empty(moved["boxes"], moved["labels"])), out_labels)


def test_fit_with_boxes_compiles_and_saves(tmp_path):
    layer = layers.Mosaic(bounding_box_format="rel_xyxy", seed=3)
    inputs = {"images": keras.Input((SIZE, SIZE, 3)),
              "bounding_boxes": {"boxes": keras.Input((2, 4)),
                                 "labels": keras.Input((2,), dtype="int32")}}
    out = layer(inputs)
    x = keras.layers.GlobalAveragePooling2D()(out["images"])
    box_sum = keras.layers.Flatten()(out["bounding_boxes"]["boxes"])
    model = keras.Model(inputs, keras.layers.Dense(1)(
        keras.layers.Concatenate()([x, box_sum])))
    model.compile("adam", "mse", jit_compile=XLA)
    data = {"images": np.random.rand(8, SIZE, SIZE, 3).astype("float32"),
            "bounding_boxes": {"boxes": np.tile(np.array(
                [[0.1, 0.1, 0.4, 0.5], [0.5, 0.5, 0.9, 0.9]], "float32"),
                (8, 1, 1)), "labels": np.ones((8, 2), "int32")}}
    model.fit(data, np.zeros((8, 1)), batch_size=4, verbose=0)
    revived = layers.Mosaic.from_config(layer.get_config())
    assert revived.get_config() == layer.get_config()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"scale": 0.0}, r"`scale` of Mosaic"),
    ({"center_range": (0.8, 0.2)}, r"`center_range` of Mosaic"),
    ({"interpolation": "cubic"}, r"`interpolation` of Mosaic"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.Mosaic(**kwargs)
