"""The plumbing every dropout-like layer shares: contract, rate, seed, MC
mode, schedules."""

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import schedules
from tests.contract import check_layer_contract
from tests.helpers import XLA
from tests.helpers import TraceCounter

pytestmark = pytest.mark.backends


LINEAR = schedules.Linear(0.0, 0.5, duration=3)


def _np(x):
    return keras.ops.convert_to_numpy(x)


CASES = [
    (layers.Dropout, {"rate": 0.3, "seed": 1}, (4, 6)),
    (layers.Dropout, {"rate": LINEAR, "noise_shape": (None, 1)}, (4, 6)),
    (layers.SpatialDropout1D, {"rate": 0.3}, (2, 5, 3)),
    (layers.SpatialDropout2D, {"rate": LINEAR}, (2, 4, 4, 3)),
    (layers.SpatialDropout3D, {"rate": 0.2}, (2, 3, 3, 3, 2)),
    (layers.GaussianDropout, {"rate": LINEAR, "seed": 3}, (4, 6)),
    (layers.DropPath, {"rate": 0.2}, (4, 6)),
    (layers.DropBlock2D, {"rate": LINEAR, "block_size": 3}, (2, 8, 8, 3)),
    (layers.DropBlock2D, {"rate": 0.1, "block_size": 2,
                          "data_format": "channels_first"}, (2, 3, 8, 8)),
]


@pytest.mark.parametrize(
    "cls, kwargs, shape", CASES,
    ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)],
)
def test_contract(cls, kwargs, shape, tmp_path):
    scheduled = not isinstance(kwargs["rate"], float)
    check_layer_contract(
        cls, kwargs, shape, expected_strength_variables=int(scheduled),
        tmp_path=tmp_path,
    )


def test_rate_zero_is_exact_identity_even_when_scheduled():
    x = np.random.default_rng(0).normal(size=(8, 9)).astype("float32")
    for layer in (layers.Dropout(schedules.Linear(0.0, 0.5, 3)),
                  layers.GaussianDropout(schedules.Constant(0.0)),
                  layers.DropPath(schedules.Constant(0.0)),
                  layers.DropBlock2D(schedules.Constant(0.0), block_size=2)):
        inputs = x.reshape(2, 6, 6, 1) if isinstance(
            layer, layers.DropBlock2D) else x
        np.testing.assert_array_equal(_np(layer(inputs, training=True)), inputs)


def test_same_seed_same_mask():
    x = np.ones((6, 40), "float32")
    a = _np(layers.Dropout(0.5, seed=11)(x, training=True))
    b = _np(layers.Dropout(0.5, seed=11)(x, training=True))
    c = _np(layers.Dropout(0.5, seed=12)(x, training=True))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_mc_mode_is_active_at_inference_only_when_asked():
    x = np.ones((4, 100), "float32")
    plain = layers.Dropout(0.5, seed=0)
    mc = layers.Dropout(0.5, seed=0, monte_carlo=True)
    np.testing.assert_array_equal(_np(plain(x)), x)
    assert (_np(mc(x)) == 0).any()


def test_scheduled_rate_changes_without_retrace():
    x = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    inputs = keras.Input((8,))
    hidden = TraceCounter(name="trace_counter")(inputs)
    dropped = layers.Dropout(schedules.Piecewise([1, 2], [0.0, 0.5, 0.9]),
                             name="drop", seed=0)(hidden)
    model = keras.Model(inputs, dropped)
    model.compile("sgd", "mse", jit_compile=XLA)
    counter = model.get_layer("trace_counter")
    zeros = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: zeros.append(counter.traces))
    history = model.fit(x, x, batch_size=32, epochs=3, verbose=0,
                        callbacks=[callbacks.StrengthScheduler(), probe])
    assert history.history["regkit/drop/rate"] == [0.0, 0.5, 0.9]
    # Loss (mse of x against dropped x) grows with the rate: the compiled
    # step read the new value...
    losses = history.history["loss"]
    assert losses[0] == pytest.approx(0.0, abs=1e-7)
    assert 0 < losses[1] < losses[2]
    # ...without tracing again.
    if XLA:
        assert zeros == [zeros[0]] * 3


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_rate_out_of_range(rate):
    with pytest.raises(
        ValueError,
        match=r"Invalid value received for argument `rate`. Expected a float "
        r"value between 0 and 1 \(1 excluded\) or a Schedule, for Dropout. "
        rf"Received: rate={rate}",
    ):
        layers.Dropout(rate)


def test_scheduled_rate_out_of_range():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `rate` of DropPath: expected a "
        r"float in \[0, 1\) or a Schedule that stays in that range",
    ):
        layers.DropPath(schedules.Linear(0.0, 1.0, 5))


def test_rate_wrong_type():
    with pytest.raises(TypeError, match=r"Invalid type for argument `rate` of "
                       r"GaussianDropout"):
        layers.GaussianDropout("0.1")


def test_monte_carlo_must_be_bool():
    with pytest.raises(TypeError, match=r"Invalid type for argument "
                       r"`monte_carlo` of Dropout: expected a bool"):
        layers.Dropout(0.1, monte_carlo=1)


def test_seed_must_be_int():
    with pytest.raises(TypeError, match=r"Invalid type for argument `seed` of "
                       r"DropPath: expected an int or None. Received: "
                       r"seed='1'"):
        layers.DropPath(0.1, seed="1")
