"""StochasticResidual: stochastic depth that runs the branch on kept rows."""

import os

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit import schedules
from keras_regkit.layers.dropout.stochastic_residual import kept_count
from tests.helpers import XLA

pytestmark = pytest.mark.backends

RNG = np.random.default_rng(0)


def _np(x):
    return keras.ops.convert_to_numpy(x)


@keras.saving.register_keras_serializable(package="regkit_tests")
class RowRecorder(keras.layers.Layer):
    """Doubles its input and records the batch sizes it is called with."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batch_sizes = []

    def call(self, x):
        self.batch_sizes.append(x.shape[0])
        return 2.0 * x


def test_branch_runs_only_on_the_kept_rows_which_are_rescaled():
    recorder = RowRecorder()
    block = layers.StochasticResidual(recorder, rate=0.3, seed=3)
    x = RNG.normal(size=(10, 5)).astype("float32")
    y = _np(block(x, training=True))
    assert recorder.batch_sizes[-1] == kept_count(0.3, 10) == 7
    computed = ~np.all(np.isclose(y, x), axis=1)
    assert computed.sum() == 7
    np.testing.assert_allclose(y[computed], x[computed] * (1 + 2 * 10 / 7),
                               rtol=1e-6)
    np.testing.assert_array_equal(y[~computed], x[~computed])
    # Inference: every row, no rescaling.
    np.testing.assert_allclose(_np(block(x, training=False)), 3 * x,
                               rtol=1e-6)
    assert recorder.batch_sizes[-1] == 10
    # A new draw each call.
    again = ~np.all(np.isclose(_np(block(x, training=True)), x), axis=1)
    assert again.sum() == 7
    unscaled = _np(layers.StochasticResidual(RowRecorder(), 0.5, seed=1,
                                             scale_by_keep=False)(
        np.ones((4, 2), "float32"), training=True))
    assert sorted(unscaled[:, 0].tolist()) == [1.0, 1.0, 3.0, 3.0]


def test_expected_output_equals_masking_drop_path():
    branch = keras.layers.Dense(
        3, kernel_initializer=keras.initializers.GlorotUniform(1))
    x = RNG.normal(size=(8, 3)).astype("float32")
    exact = x + _np(branch(x))
    # 2000 copies of each row in one batch of 16000: each copy is computed
    # with probability 0.75 (12000 kept), so a row's mean over its copies
    # estimates its expected output with a standard error of
    # |b| * sqrt(0.25 / 0.75 / 2000) ~ 0.013 |b|.
    copies = np.tile(x, (2000, 1))
    skipped = _np(layers.StochasticResidual(branch, rate=0.25, seed=11)(
        copies, training=True)).reshape(2000, 8, 3)
    masked = (copies + _np(layers.DropPath(0.25, seed=11)(
        branch(copies), training=True))).reshape(2000, 8, 3)
    tolerance = 0.07 * np.abs(exact - x) + 1e-3
    assert np.all(np.abs(skipped.mean(axis=0) - exact) < tolerance)
    assert np.all(np.abs(masked.mean(axis=0) - exact) < tolerance)
    # Every row is computed about as often.
    kept = ~np.all(np.isclose(skipped, x), axis=2)
    assert kept.sum() == 12000
    np.testing.assert_allclose(kept.mean(axis=0), 0.75, atol=0.04)


def _input_gradient(block, x):
    """d sum(block(x, training=True)) / dx on the current backend."""
    if keras.backend.backend() == "jax":
        import jax

        trainable = [v.value for v in block.trainable_variables]
        non_trainable = [v.value for v in block.non_trainable_variables]

        def total(inputs):
            out, _ = block.stateless_call(trainable, non_trainable, inputs,
                                          training=True)
            return out.sum()

        return np.asarray(jax.grad(total)(x))
    if keras.backend.backend() == "torch":
        import torch

        value = torch.tensor(x, requires_grad=True)
        (grad,) = torch.autograd.grad(block(value, training=True).sum(),
                                      [value])
        return grad.detach().cpu().numpy()
    import tensorflow as tf

    value = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(value)
        total = tf.reduce_sum(block(value, training=True))
    return tape.gradient(total, value).numpy()


def test_gradients_reach_the_branch_only_from_kept_rows():
    branch = keras.layers.Dense(4, use_bias=False, kernel_initializer="ones")
    block = layers.StochasticResidual(branch, rate=0.5, seed=4)
    x = RNG.normal(size=(6, 4)).astype("float32")
    block(x)
    grad = _input_gradient(block, x)
    through_branch = 1.0 + 2.0 * _np(branch.kernel).sum(axis=1)
    rows_kept = ~np.all(np.isclose(grad, 1.0), axis=1)
    assert rows_kept.sum() == 3
    np.testing.assert_allclose(grad[~rows_kept], 1.0)
    np.testing.assert_allclose(grad[rows_kept],
                               np.tile(through_branch, (3, 1)), rtol=1e-5)


def _residual_model(make_block):
    inputs = keras.Input((8,))
    x = keras.layers.Dense(16, activation="relu")(inputs)
    for index in range(3):
        branch = keras.Sequential([
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(16),
        ], name=f"branch_{index}")
        x = make_block(branch, index)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def test_residual_stack_fits_compiled_and_reloads_in_safe_mode(tmp_path):
    keras.utils.set_random_seed(0)
    x = RNG.normal(size=(96, 8)).astype("float32")
    y = x[:, :1] - x[:, 1:2]
    model = _residual_model(lambda branch, index: layers.StochasticResidual(
        branch, rate=0.25, seed=index))
    model.compile("adam", "mse", jit_compile=XLA)
    # 96 = 3 batches of 32: the kept size is static.
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    assert model.jit_compile is XLA
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    path = os.fspath(tmp_path / "residual.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.layers[2], layers.StochasticResidual)
    assert loaded.layers[2].rate == 0.25
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    # A last, smaller batch works too.
    model.fit(x[:80], y[:80], batch_size=32, epochs=1, verbose=0)


def test_rate_zero_is_a_plain_residual_block():
    branch = keras.layers.Dense(
        3, kernel_initializer=keras.initializers.GlorotUniform(1))
    x = RNG.normal(size=(5, 3)).astype("float32")
    y = layers.StochasticResidual(branch, rate=0.0)(x, training=True)
    np.testing.assert_allclose(_np(y), x + _np(branch(x)), rtol=1e-6)


def test_kept_count_rounds_and_keeps_at_least_one():
    assert kept_count(0.3, 10) == 7
    assert kept_count(0.99, 4) == 1
    assert kept_count(0.0, 4) == 4


def test_scheduled_rate_is_refused():
    with pytest.raises(ValueError, match=r"argument `rate` of "
                       r"StochasticResidual: expected a float in \[0, 1\) "
                       r"\(it sets how many samples run the branch; for a "
                       r"scheduled rate use DropPath\)"):
        layers.StochasticResidual(keras.layers.Dense(2),
                                  rate=schedules.Constant(0.1))


def test_rate_one_is_refused():
    with pytest.raises(ValueError, match=r"Received: rate=1"):
        layers.StochasticResidual(keras.layers.Dense(2), rate=1)


def test_layer_must_be_a_keras_layer():
    with pytest.raises(TypeError, match=r"argument `layer` of "
                       r"StochasticResidual: expected a Keras layer"):
        layers.StochasticResidual(lambda x: x, rate=0.1)


def test_branch_must_keep_the_shape():
    block = layers.StochasticResidual(keras.layers.Dense(2), rate=0.1)
    with pytest.raises(ValueError, match=r"StochasticResidual needs a branch "
                       r"whose output has its input's shape"):
        block(keras.KerasTensor((None, 3)))
