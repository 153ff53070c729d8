"""Dropout, SpatialDropout and GaussianDropout: what they drop."""

import keras
import numpy as np
import pytest

from keras_regkit import layers

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropped_fraction_and_mean(rate):
    x = np.ones((200, 500), "float32")
    y = _np(layers.Dropout(rate, seed=7)(x, training=True))
    assert (y == 0).mean() == pytest.approx(rate, abs=0.01)
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    kept = np.unique(y[y != 0])
    np.testing.assert_allclose(kept, 1 / (1 - rate), rtol=1e-6)


def test_spatial_dropout_drops_whole_channels():
    x = np.ones((50, 6, 6, 8), "float32")
    y = _np(layers.SpatialDropout2D(0.5, seed=1)(x, training=True))
    per_channel = y.reshape(50, 36, 8)
    assert np.all(per_channel.min(axis=1) == per_channel.max(axis=1))
    assert (per_channel[:, 0, :] == 0).mean() == pytest.approx(0.5, abs=0.08)


def test_gaussian_dropout_variance():
    rate = 0.3
    y = _np(layers.GaussianDropout(rate, seed=2)(
        np.ones((400, 500), "float32"), training=True))
    assert y.mean() == pytest.approx(1.0, abs=0.01)
    assert y.var() == pytest.approx(rate / (1 - rate), rel=0.03)


def test_noise_shape_keras_message():
    with pytest.raises(ValueError, match=r"Expected a tuple or list of "
                       r"integers. Received: noise_shape=bad"):
        layers.Dropout(0.1, noise_shape="bad")


def test_unknown_data_format():
    with pytest.raises(ValueError, match=r"argument `data_format` of "
                       r"SpatialDropout2D: expected \"channels_last\" or "
                       r"\"channels_first\". Received: data_format='nhwc'"):
        layers.SpatialDropout2D(0.1, data_format="nhwc")
