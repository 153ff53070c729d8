"""DropConnect: kernel entries dropped, the wrapped layer trained and saved."""

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit import schedules
from tests.contract import check_layer_contract
from tests.helpers import XLA

pytestmark = pytest.mark.backends

LINEAR = schedules.Linear(0.0, 0.5, duration=3)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_drop_connect_contract(tmp_path):
    layer = check_layer_contract(
        layers.DropConnect,
        {"layer": keras.layers.Dense(6), "rate": LINEAR, "seed": 0},
        (4, 6), expected_strength_variables=1, identity_at_inference=False,
        tmp_path=tmp_path,
    )
    assert isinstance(layer.layer, keras.layers.Dense)


def test_drop_connect_drops_kernel_entries_not_activations():
    dense = keras.layers.Dense(200, use_bias=False, kernel_initializer="ones")
    layer = layers.DropConnect(dense, rate=0.5, seed=3)
    x = np.eye(50, dtype="float32")  # row i reads kernel row i
    y = _np(layer(x, training=True))
    # y[i] is kernel row i after dropping: entries are 0 or 2, about half 0.
    assert set(np.unique(y)) == {0.0, 2.0}
    assert (y == 0).mean() == pytest.approx(0.5, abs=0.03)
    # The kernel itself is untouched and inference uses all of it.
    np.testing.assert_array_equal(_np(dense.kernel), 1.0)
    np.testing.assert_array_equal(_np(layer(x, training=False)), 1.0)
    # Activations are not dropped: a sample that reads two kernel rows gets
    # their (independently dropped) sum, not a 0/2-valued mask of it.
    two = _np(layer(np.ones((1, 50), "float32") / 25.0, training=True))
    assert len(np.unique(two)) > 2


def test_drop_connect_trains_the_wrapped_kernel(tmp_path):
    inputs = keras.Input((5,))
    wrapped = layers.DropConnect(keras.layers.Dense(3, name="inner"),
                                 rate=0.3, seed=0)
    model = keras.Model(inputs, wrapped(inputs))
    model.compile("sgd", "mse", jit_compile=XLA)
    before = _np(wrapped.layer.kernel).copy()
    model.fit(np.ones((16, 5)), np.ones((16, 3)), epochs=2, verbose=0)
    assert not np.allclose(before, _np(wrapped.layer.kernel))
    path = str(tmp_path / "dc.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(loaded.layers[1].layer.kernel),
                               _np(wrapped.layer.kernel))


def test_drop_connect_needs_a_layer():
    with pytest.raises(TypeError, match=r"argument `layer` of DropConnect: "
                       r"expected a Keras layer with a kernel"):
        layers.DropConnect("dense")


def test_drop_connect_needs_a_kernel():
    wrapper = layers.DropConnect(keras.layers.ReLU(), rate=0.1)
    with pytest.raises(ValueError, match=r"DropConnect needs a layer with a "
                       r"`kernel` weight"):
        wrapper(keras.KerasTensor((None, 3)))
