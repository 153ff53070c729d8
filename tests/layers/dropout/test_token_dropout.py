"""TokenDropout replaces ids, never padding; SpatialDropout1D is locked
(variational) dropout for sequences."""

import json

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit import schedules
from tests.helpers import XLA

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_token_dropout_replaces_a_fraction_and_keeps_padding():
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 100, size=(64, 40)).astype("int32")
    ids[:, 30:] = 0  # padding
    layer = layers.TokenDropout(0.25, mask_id=1, seed=0)
    out = _np(layer(ids, training=True))
    assert out.dtype == ids.dtype
    replaced = out != ids
    assert (out[replaced] == 1).all()
    assert not replaced[:, 30:].any()
    assert replaced[:, :30].mean() == pytest.approx(0.25, abs=0.02)
    np.testing.assert_array_equal(_np(layer(ids, training=False)), ids)
    # Another call draws other positions.
    assert (_np(layer(ids, training=True)) != out).any()
    everything = layers.TokenDropout(0.5, mask_id=7, padding_id=None, seed=0)
    assert (_np(everything(ids, training=True))[:, 30:] == 7).any()


def test_token_dropout_in_a_model_compiles_saves_and_serializes(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10,), dtype="int32")
    x = layers.TokenDropout(schedules.Linear(0.0, 0.2, duration=2), seed=1,
                            name="tokens")(inputs)
    x = keras.layers.Embedding(30, 4)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile("sgd", "mse", jit_compile=XLA)
    ids = np.random.default_rng(0).integers(0, 30, (16, 10)).astype("int32")
    model.fit(ids, np.ones((16, 1)), epochs=1, verbose=0)
    path = str(tmp_path / "tokens.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_np(loaded(ids)), _np(model(ids)), rtol=1e-5)
    config = model.get_layer("tokens").get_config()
    assert layers.TokenDropout.from_config(
        json.loads(json.dumps(config))).get_config() == config
    assert model.get_layer("tokens").supports_jit is True


def test_token_dropout_errors():
    with pytest.raises(ValueError, match="`mask_id` of TokenDropout"):
        layers.TokenDropout(0.1, mask_id=-1)
    with pytest.raises(ValueError, match="`padding_id` of TokenDropout"):
        layers.TokenDropout(0.1, padding_id=1.5)
    with pytest.raises(ValueError, match="`rate`"):
        layers.TokenDropout(1.0)
    with pytest.raises(TypeError, match="integer token ids"):
        layers.TokenDropout(0.1)(np.ones((2, 3), "float32"), training=True)


def test_spatial_dropout_1d_is_locked_dropout_over_time():
    """One mask per (sequence, feature) shared by every time step:
    variational/locked dropout (Gal & Ghahramani), so no separate layer."""
    x = np.ones((16, 25, 32), "float32")
    out = _np(layers.SpatialDropout1D(0.4, seed=0)(x, training=True))
    np.testing.assert_array_equal(out, np.repeat(out[:, :1], 25, axis=1))
    assert (out[:, 0] == 0).mean() == pytest.approx(0.4, abs=0.06)
