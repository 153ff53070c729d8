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
