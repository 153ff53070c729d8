"""DropBlock2D: block-shaped masks and its arguments."""

import keras
import numpy as np
import pytest

from keras_regkit import layers

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_drop_block_masks_are_blocks_of_the_given_size():
    from scipy import ndimage

    block = 3
    x = np.ones((64, 16, 16, 1), "float32")
    y = _np(layers.DropBlock2D(0.05, block_size=block, seed=4)(
        x, training=True))
    dropped = y[..., 0] == 0
    assert dropped.any()
    sizes = []
    for image in dropped:
        labels, count = ndimage.label(image)
        for index in range(1, count + 1):
            rows, cols = np.nonzero(labels == index)
            height = rows.max() - rows.min() + 1
            width = cols.max() - cols.min() + 1
            sizes.append((height, width, len(rows)))
    # Every dropped region is at least one whole block; isolated blocks are
    # exactly block x block squares.
    assert all(h >= block and w >= block for h, w, _ in sizes)
    squares = [s for s in sizes if s[2] == block * block]
    assert squares and all(h == w == block for h, w, _ in squares)
    # The share dropped is close to the rate, and the mean is preserved.
    big = _np(layers.DropBlock2D(0.1, block_size=block, seed=9)(
        np.ones((256, 16, 16, 2), "float32"), training=True))
    assert (big == 0).mean() == pytest.approx(0.1, abs=0.02)
    assert big.mean() == pytest.approx(1.0, abs=1e-3)


def test_block_size_must_be_positive_int():
    with pytest.raises(ValueError, match=r"argument `block_size` of "
                       r"DropBlock2D: expected an int >= 1. Received: "
                       r"block_size=0"):
        layers.DropBlock2D(0.1, block_size=0)


def test_block_larger_than_input_fails_at_build():
    layer = layers.DropBlock2D(0.1, block_size=5)
    with pytest.raises(ValueError, match=r"block_size=5 is larger than the "
                       r"input's height x width 4 x 4; use a block_size <= 4"):
        layer(keras.KerasTensor((None, 4, 4, 3)))


def test_drop_block_needs_4d_input():
    with pytest.raises(ValueError, match=r"DropBlock2D expects 4D input"):
        layers.DropBlock2D(0.1, block_size=2)(keras.KerasTensor((None, 4, 4)))


def _reference_blocks(centres, block):
    """The paper's mask by brute force: every centre (top-left of a block
    that fits) zeroes the block x block square below and right of it."""
    batch, valid_h, valid_w, channels = centres.shape
    dropped = np.zeros((batch, valid_h + block - 1, valid_w + block - 1,
                        channels), bool)
    for b, i, j, c in zip(*np.nonzero(centres), strict=True):
        dropped[b, i:i + block, j:j + block, c] = True
    return dropped


@pytest.mark.parametrize("block", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_blocks_equal_the_brute_force_mask_of_the_same_centres(
        block, data_format):
    from keras_regkit import _random
    from keras_regkit.layers.dropout.drop_block import drop_block_2d

    rate, height, width = 0.15, 11, 9
    x = np.ones((3, height, width, 2), "float32")
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    y = _np(drop_block_2d(x, rate, block, keras.random.SeedGenerator(6),
                          data_format))
    # The same draw, replayed from a generator with the same seed.
    valid = (height - block + 1, width - block + 1)
    gamma = rate * height * width / (block**2 * valid[0] * valid[1])
    seed_shape = ((3,) + valid + (2,) if data_format == "channels_last"
                  else (3, 2) + valid)
    centres = _np(_random.uniform(seed_shape, keras.random.SeedGenerator(6))
                  ) < gamma
    if data_format == "channels_first":
        centres = centres.transpose(0, 2, 3, 1)
        y = y.transpose(0, 2, 3, 1)
    dropped = _reference_blocks(centres, block)
    assert dropped.any() and not dropped.all()
    np.testing.assert_array_equal(y == 0, dropped)
    np.testing.assert_allclose(y[~dropped], dropped.size / (~dropped).sum(),
                               rtol=1e-6)
