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


@pytest.mark.backends
def test_stochastic_depth_takes_keras_cv_call_form(tmp_path):
    """`StochasticDepth(rate)([shortcut, residual])`, as keras-cv's layer is
    called (it failed: `'list' object has no attribute 'shape'`): per
    sample the shortcut alone or plus the rescaled residual; the shortcut
    plus the residual at inference; through fit and a .keras file."""
    shortcut = keras.Input((3,))
    residual = keras.layers.Dense(3, kernel_initializer="ones",
                                  use_bias=False)(shortcut)
    outputs = layers.StochasticDepth(0.5, seed=1)([shortcut, residual])
    model = keras.Model(shortcut, outputs)
    x = np.ones((64, 3), "float32")
    trained = keras.ops.convert_to_numpy(model(x, training=True))
    assert set(np.unique(trained).tolist()) == {1.0, 7.0}  # 1, 1 + 3 / 0.5
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), 4.0)
    model.compile("sgd", "mse")
    model.fit(x, x, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]).__name__ == "StochasticDepth"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)))
    with pytest.raises(ValueError, match=r"\[shortcut, residual\]"):
        layers.StochasticDepth()([shortcut, residual, residual])
