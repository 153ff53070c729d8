"""Mixed precision as a configuration of the whole library: one model with
every dropout-family, augmentation and audio layer, every weight
regularizer, the train-step components and every callback trains under
`mixed_float16` and `mixed_bfloat16`, computes in the half type, and saves
and reloads.

The per-component step under loss scaling is checked against float32 in
`tests/training/test_mixed_precision.py`; every augmentation layer keeps
float16 and bfloat16 inputs in `tests/layers/augment/test_contract.py`.
"""

import os

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import regularizers
from keras_regkit import schedules
from keras_regkit import training
from tests.helpers import dtype_policy
from tests.layers.audio.cases import every_audio_layer
from tests.layers.augment.cases import every_layer

pytestmark = pytest.mark.backends


def _model():
    image = keras.Input((16, 16, 3), name="image")
    x = every_layer(image)
    x = keras.layers.Conv2D(4, 3, padding="same")(
        keras.layers.Rescaling(1 / 255)(x))
    x = layers.DropBlock2D(0.1, block_size=3, seed=6)(x)
    x = layers.SpatialDropout2D(0.1, seed=7)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    t = layers.TokenDropout(0.2, seed=8)(tokens)
    t = layers.EmbeddingDropout(10, 4, rate=0.1, seed=9, rows_regularizer=(
        regularizers.L2(1e-3)))(t)
    t = keras.layers.GlobalAveragePooling1D()(t)
    audio = keras.Input((800,), name="audio")
    a = every_audio_layer(audio)
    h = keras.layers.Concatenate()([x, t, a])
    h = keras.layers.Dense(8, activation="relu",
                           kernel_regularizer=regularizers.L1L2(1e-4, 1e-4))(h)
    h = layers.Dropout(schedules.Constant(0.1), seed=10, name="dropout")(h)
    h = layers.GaussianDropout(0.1, seed=11)(h)
    h = layers.StochasticResidual(keras.layers.Dense(
        8, kernel_regularizer=regularizers.OrthogonalRegularizer(1e-3)),
        rate=0.2, seed=12)(h)
    h = layers.DropPath(0.1, seed=13)(h)
    h = layers.DropConnect(keras.layers.Dense(
        8, kernel_regularizer=regularizers.GroupLasso(1e-3)), rate=0.1,
        seed=14, name="drop_connect")(h)
    outputs = keras.layers.Dense(3, kernel_regularizer=regularizers.L2(1e-4),
                                 dtype="float32")(h)
    return training.RegularizedModel(
        [image, tokens, audio], outputs, components=[
        training.GradientNoise(scale=1e-3, seed=3),
        training.GradientClipping(clipvalue=1.0, global_clipnorm=1.0),
        training.AdaptiveGradientClipping(0.05),
        training.DecoupledWeightDecay(1e-3)])


@pytest.mark.parametrize("policy", [
    "mixed_float16",
    pytest.param("mixed_bfloat16", marks=pytest.mark.skipif(
        keras.backend.backend() != "jax",
        reason="one policy per backend but JAX (cost: compiles)"))])
def test_everything_trains_saves_and_reloads_under_a_mixed_policy(
        policy, tmp_path):
    """Worth its 10-17 s a policy (one model with all 22 augmentation and
    11 dropout-family layers): the mixed-precision configuration of every
    layer, regularizer, step component and callback in one fit."""
    with dtype_policy(policy):
        model = _model()
        # XLA on JAX only: TensorFlow's compiles this model for ~60 s (the
        # step under XLA and mixed precision: tests/training).
        model.compile(keras.optimizers.SGD(0.05), keras.losses.
                      CategoricalCrossentropy(from_logits=True),
                      jit_compile=keras.backend.backend() == "jax")
    half = policy.removeprefix("mixed_")
    assert model.get_layer("drop_connect").compute_dtype == half
    assert model.get_layer("dropout").output.dtype == half
    rng = np.random.default_rng(0)
    x = {"image": rng.uniform(0, 255, (32, 16, 16, 3)).astype("float32"),
         "tokens": rng.integers(0, 10, (32, 5)).astype("int32"),
         "audio": rng.normal(size=(32, 800)).astype("float32")}
    y = keras.utils.to_categorical(np.arange(32) % 3, 3)
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.25,
                        verbose=0, callbacks=[
        callbacks.EarlyStopping(patience=3, restore_best_weights=True),
        callbacks.SWA(start_epoch=1), callbacks.StrengthScheduler(),
        callbacks.RegularizationMonitor(),
        callbacks.GapController(strengths=["dropout/rate"], max_value=0.5),
        callbacks.BackupAndRestore(os.fspath(tmp_path / "backup"))])
    assert all(np.all(np.isfinite(v)) for v in history.history.values())
    assert history.history["swa/models"][-1] == 1.0
    for weight, old in zip(model.trainable_weights, before, strict=True):
        assert weight.dtype == "float32"
        assert np.abs(keras.ops.convert_to_numpy(weight) - old).max() > 0
    path = os.fspath(tmp_path / "model.keras")
    model.save(path)
    with dtype_policy("float32"):  # the file keeps the layers' policies
        loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_layer("drop_connect").compute_dtype == half
    np.testing.assert_array_equal(loaded.predict(x, verbose=0),
                                  model.predict(x, verbose=0))
