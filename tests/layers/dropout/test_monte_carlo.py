"""mc_predict: mean and spread of stochastic predictions."""

import keras
import numpy as np
import pytest

from keras_regkit import layers

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _mc_model(rate):
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(16, activation="relu"),
        layers.Dropout(rate, monte_carlo=True, seed=1),
        keras.layers.Dense(1),
    ])


def test_mc_dropout_spread_is_zero_at_rate_zero_and_grows_with_rate():
    x = np.random.default_rng(0).normal(size=(20, 6)).astype("float32")
    spreads = []
    for rate in (0.0, 0.2, 0.6):
        _, std = layers.mc_predict(_mc_model(rate), x, samples=20)
        spreads.append(float(std.mean()))
    # Zero up to float rounding between otherwise identical passes.
    assert spreads[0] == pytest.approx(0.0, abs=1e-6)
    assert 0.0 < spreads[1] < spreads[2]


def test_mc_predict_needs_two_samples():
    with pytest.raises(ValueError, match=r"argument `samples` of mc_predict: "
                       r"expected an int >= 2. Received: samples=1"):
        layers.mc_predict(_mc_model(0.1), np.ones((1, 6)), samples=1)
