"""DropPath and drop_path_rates."""

import keras
import numpy as np
import pytest

from keras_regkit import layers

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_drop_path_drops_per_sample():
    x = np.ones((2000, 3, 4), "float32")
    y = _np(layers.DropPath(0.25, seed=5)(x, training=True))
    per_sample = y.reshape(2000, -1)
    # Every sample is either all kept (scaled) or all dropped.
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))
    assert (per_sample[:, 0] == 0).mean() == pytest.approx(0.25, abs=0.03)
    assert y.mean() == pytest.approx(1.0, abs=0.05)
    unscaled = _np(layers.DropPath(0.25, scale_by_keep=False, seed=5)(
        x, training=True))
    assert set(np.unique(unscaled)) == {0.0, 1.0}


def test_drop_path_rates_spread_linearly():
    assert layers.drop_path_rates(0.2, 5) == pytest.approx(
        [0.0, 0.05, 0.1, 0.15, 0.2])
    assert layers.drop_path_rates(0.1, 1) == [0.1]


def test_scale_by_keep_must_be_bool():
    with pytest.raises(TypeError, match=r"argument `scale_by_keep` of "
                       r"DropPath: expected a bool"):
        layers.DropPath(0.1, scale_by_keep="yes")


def test_drop_path_rates_bad_max_rate():
    with pytest.raises(ValueError, match=r"argument `max_rate` of "
                       r"drop_path_rates: expected a float in \[0, 1\)"):
        layers.drop_path_rates(1.2, 4)


def test_drop_path_rates_bad_depth():
    with pytest.raises(ValueError, match=r"argument `depth` of "
                       r"drop_path_rates: expected an int >= 1"):
        layers.drop_path_rates(0.1, 0)
