"""GroupLasso: group norms over rows, columns and conv filters."""

import json
import math

import keras
import numpy as np
import pytest

from keras_regkit import regularizers
from keras_regkit import schedules
from tests.helpers import XLA

pytestmark = pytest.mark.backends

RNG = np.random.default_rng(3)


def _value(reg, w):
    value = reg(keras.ops.convert_to_tensor(w))
    return float(keras.ops.convert_to_numpy(value))


@pytest.mark.parametrize("scale", [True, False])
def test_dense_rows_and_columns_match_numpy(scale):
    w = RNG.normal(size=(6, 4)).astype("float32")
    rows = np.linalg.norm(w, axis=1).sum() * (math.sqrt(4) if scale else 1)
    cols = np.linalg.norm(w, axis=0).sum() * (math.sqrt(6) if scale else 1)
    kwargs = {"factor": 0.1, "scale_by_group_size": scale}
    got_rows = _value(regularizers.GroupLasso(mode="rows", **kwargs), w)
    got_cols = _value(regularizers.GroupLasso(mode="columns", **kwargs), w)
    assert got_rows == pytest.approx(0.1 * rows, rel=1e-5)
    assert got_cols == pytest.approx(0.1 * cols, rel=1e-5)


def test_conv_filters_group_everything_but_the_last_axis():
    w = RNG.normal(size=(3, 3, 2, 5)).astype("float32")
    expected = np.linalg.norm(w.reshape(-1, 5), axis=0).sum() * math.sqrt(18)
    got = _value(regularizers.GroupLasso(1.0, mode="filters"), w)
    assert got == pytest.approx(expected, rel=1e-5)
    in_channels = np.linalg.norm(
        np.moveaxis(w, 2, 0).reshape(2, -1), axis=1
    ).sum() * math.sqrt(45)
    got_rows = _value(regularizers.GroupLasso(1.0, mode="rows"), w)
    assert got_rows == pytest.approx(in_channels, rel=1e-5)


def test_gradient_is_finite_for_an_all_zero_group():
    w = keras.Variable(np.zeros((3, 2), "float32"))
    reg = regularizers.GroupLasso(1.0)
    if keras.backend.backend() == "jax":
        import jax

        grad = jax.grad(lambda v: reg(v))(w.value)
    elif keras.backend.backend() == "torch":
        import torch

        value = w.value.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(reg(value), [value])
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = reg(w.value)
        grad = tape.gradient(loss, w.value)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(grad)))


def test_drives_whole_groups_to_zero_in_fit():
    keras.utils.set_random_seed(0)
    x = RNG.normal(size=(256, 8)).astype("float32")
    # Only the first two inputs matter.
    y = (x[:, :1] - 2 * x[:, 1:2]).astype("float32")
    reg = regularizers.GroupLasso(factor=0.05, mode="rows")
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, kernel_regularizer=reg,
                                               name="dense"),
         keras.layers.Dense(1, name="head")]
    )
    model.compile(keras.optimizers.Adam(0.03), "mse", jit_compile=XLA)
    model.fit(x, y, epochs=60, batch_size=64, verbose=0)
    row_norms = np.linalg.norm(
        keras.ops.convert_to_numpy(model.get_layer("dense").kernel), axis=1
    )
    assert row_norms[:2].min() > 0.2
    assert row_norms[2:].max() < 0.05 * row_norms[:2].min()


def test_round_trip_with_schedule():
    reg = regularizers.GroupLasso(
        schedules.Cosine(0.0, 1e-2, 10), mode="rows", scale_by_group_size=False
    )
    config = json.loads(json.dumps(regularizers.serialize(reg)))
    revived = regularizers.deserialize(config)
    assert revived.get_config() == reg.get_config()
    assert revived.mode == "rows"


def test_unknown_mode():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `mode` of GroupLasso: expected one "
        r"of \"rows\", \"columns\", \"filters\". Received: mode='units'",
    ):
        regularizers.GroupLasso(mode="units")


def test_scale_flag_must_be_bool():
    with pytest.raises(
        TypeError,
        match=r"Invalid type for argument `scale_by_group_size` of GroupLasso: "
        r"expected a bool. Received: scale_by_group_size='yes'",
    ):
        regularizers.GroupLasso(scale_by_group_size="yes")


def test_negative_factor():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `factor` of GroupLasso: expected a "
        r"float >= 0",
    ):
        regularizers.GroupLasso(-1.0)


def test_rank_one_weight():
    with pytest.raises(
        ValueError,
        match=r"GroupLasso needs a weight of rank >= 2 \(a kernel\), "
        r"got shape \(3,\)"
    ):
        regularizers.GroupLasso()(keras.ops.ones((3,)))
