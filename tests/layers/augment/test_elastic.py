"""RandomElasticTransform: a smooth field of Keras's size; boxes and masks
follow the pixels."""

import keras
import numpy as np
import pytest

from keras_regkit import layers
from tests.layers.augment.test_boxes_and_masks import CLASS_ID
from tests.layers.augment.test_boxes_and_masks import _batch
from tests.layers.augment.test_boxes_and_masks import _enclosing

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _displacements(layer, batch_size, size):
    layer.build((batch_size, size, size, 3))
    draw = layer.draw(batch_size, size, size)
    x, y = layer._coordinates(draw, size, size)
    grid = np.arange(size, dtype="float32")
    dx = _np(x).reshape(-1, size, size) - grid[None, None, :]
    dy = _np(y).reshape(-1, size, size) - grid[None, :, None]
    return dx, dy


def test_field_is_smooth_with_keras_amplitude_and_independent_axes():
    size = 64
    dx, dy = _displacements(layers.RandomElasticTransform(
        factor=(1.0, 1.0), scale=(1.0, 1.0), seed=0), 16, size)
    # Keras: alpha = 0.1 * 64 = 6.4 times a field of deviation 0.282.
    expected = 0.1 * size * 0.5 / np.sqrt(np.pi)
    assert 0.8 * expected < dx.std() < 1.2 * expected
    assert 0.8 * expected < dy.std() < 1.2 * expected
    # Smooth: neighbours move together; x and y fields are independent.
    neighbours = np.corrcoef(dx[:, :, :-1].ravel(), dx[:, :, 1:].ravel())
    assert neighbours[0, 1] > 0.95
    assert abs(np.corrcoef(dx.ravel(), dy.ravel())[0, 1]) < 0.2
    # Each image draws its own field.
    assert not np.allclose(dx[0], dx[1])


def test_factor_and_scale_zero_are_the_identity_and_scale_sets_strength():
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3))
    for kwargs in ({"factor": 0.0}, {"scale": 0.0}):
        out = layers.RandomElasticTransform(**kwargs, seed=1)(x)
        np.testing.assert_allclose(_np(out), x, atol=1e-3)
    weak, _ = _displacements(layers.RandomElasticTransform(
        factor=(1.0, 1.0), scale=(0.2, 0.2), seed=2), 8, 64)
    strong, _ = _displacements(layers.RandomElasticTransform(
        factor=(1.0, 1.0), scale=(0.8, 0.8), seed=2), 8, 64)
    assert 2.5 < strong.std() / weak.std() < 6.0  # amplitude ~ scale


@pytest.mark.parametrize("fill_mode", ["constant", "reflect"])
def test_boxes_and_masks_follow_the_deformed_rectangle(fill_mode):
    data = _batch(count=8, box=(12, 14, 28, 34))
    layer = layers.RandomElasticTransform(
        factor=(1.0, 1.0), scale=(0.6, 1.0), interpolation="nearest",
        fill_mode=fill_mode, bounding_box_format="xyxy", seed=3)
    out = layer(data, training=True)
    images, masks = _np(out["images"]), _np(out["segmentation_masks"])
    boxes = _np(out["bounding_boxes"]["boxes"])[:, 0]
    assert masks.dtype == np.uint8
    moved = 0
    for box, mask, image in zip(boxes, masks[..., 0], images[..., 0],
                                strict=True):
        inside = mask == CLASS_ID
        np.testing.assert_array_equal(inside, image == 200.0)
        np.testing.assert_allclose(box, _enclosing(inside), atol=1.0)
        moved += not np.array_equal(inside, data["segmentation_masks"][0,
                                                                       ..., 0]
                                    == CLASS_ID)
    assert moved == len(boxes)
    np.testing.assert_array_equal(_np(out["bounding_boxes"]["labels"]), 7)


def test_a_box_pushed_out_of_the_image_gets_label_minus_one():
    data = _batch(count=2)
    data["bounding_boxes"]["boxes"][:, 0] = [100.0, 100.0, 120.0, 120.0]
    out = layers.RandomElasticTransform(bounding_box_format="xyxy",
                                        seed=4)(data)
    np.testing.assert_array_equal(_np(out["bounding_boxes"]["labels"]), -1)


def test_bad_scale_is_named():
    with pytest.raises(ValueError, match=r"`scale` of "
                       r"RandomElasticTransform"):
        layers.RandomElasticTransform(scale=1.5)
