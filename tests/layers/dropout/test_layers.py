"""The dropout family: contract, statistics, structure, MC mode, errors."""

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import schedules
from tests.contract import check_layer_contract
from tests.helpers import TraceCounter

pytestmark = pytest.mark.jax

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


def test_drop_connect_contract(tmp_path):
    layer = check_layer_contract(
        layers.DropConnect,
        {"layer": keras.layers.Dense(6), "rate": LINEAR, "seed": 0},
        (4, 6), expected_strength_variables=1, identity_at_inference=False,
        tmp_path=tmp_path,
    )
    assert isinstance(layer.layer, keras.layers.Dense)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropped_fraction_and_mean(rate):
    x = np.ones((200, 500), "float32")
    y = _np(layers.Dropout(rate, seed=7)(x, training=True))
    assert (y == 0).mean() == pytest.approx(rate, abs=0.01)
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    kept = np.unique(y[y != 0])
    np.testing.assert_allclose(kept, 1 / (1 - rate), rtol=1e-6)


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


def test_drop_block_masks_are_blocks_of_the_given_size():
    from scipy import ndimage

    block = 3
    x = np.ones((64, 16, 16, 1), "float32")
    y = _np(layers.DropBlock2D(0.05, block_size=block, seed=4)(
        x, training=True))
    dropped = y[..., 0] == 0
    assert dropped.any()
    sizes = []
    for image in dropped:
        labels, count = ndimage.label(image)
        for index in range(1, count + 1):
            rows, cols = np.nonzero(labels == index)
            height = rows.max() - rows.min() + 1
            width = cols.max() - cols.min() + 1
            sizes.append((height, width, len(rows)))
    # Every dropped region is at least one whole block; isolated blocks are
    # exactly block x block squares.
    assert all(h >= block and w >= block for h, w, _ in sizes)
    squares = [s for s in sizes if s[2] == block * block]
    assert squares and all(h == w == block for h, w, _ in squares)
    # The share dropped is close to the rate, and the mean is preserved.
    big = _np(layers.DropBlock2D(0.1, block_size=block, seed=9)(
        np.ones((256, 16, 16, 2), "float32"), training=True))
    assert (big == 0).mean() == pytest.approx(0.1, abs=0.02)
    assert big.mean() == pytest.approx(1.0, abs=1e-3)


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
    model.compile("sgd", "mse", jit_compile=True)
    before = _np(wrapped.layer.kernel).copy()
    model.fit(np.ones((16, 5)), np.ones((16, 3)), epochs=2, verbose=0)
    assert not np.allclose(before, _np(wrapped.layer.kernel))
    path = str(tmp_path / "dc.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(loaded.layers[1].layer.kernel),
                               _np(wrapped.layer.kernel))


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
    model.compile("sgd", "mse", jit_compile=True)
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
    assert zeros == [zeros[0]] * 3


# One test per error message.


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


def test_noise_shape_keras_message():
    with pytest.raises(ValueError, match=r"Expected a tuple or list of "
                       r"integers. Received: noise_shape=bad"):
        layers.Dropout(0.1, noise_shape="bad")


def test_unknown_data_format():
    with pytest.raises(ValueError, match=r"argument `data_format` of "
                       r"SpatialDropout2D: expected \"channels_last\" or "
                       r"\"channels_first\". Received: data_format='nhwc'"):
        layers.SpatialDropout2D(0.1, data_format="nhwc")


def test_scale_by_keep_must_be_bool():
    with pytest.raises(TypeError, match=r"argument `scale_by_keep` of "
                       r"DropPath: expected a bool"):
        layers.DropPath(0.1, scale_by_keep="yes")


def test_block_size_must_be_positive_int():
    with pytest.raises(ValueError, match=r"argument `block_size` of "
                       r"DropBlock2D: expected an int >= 1. Received: "
                       r"block_size=0"):
        layers.DropBlock2D(0.1, block_size=0)


def test_block_larger_than_input_fails_at_build():
    layer = layers.DropBlock2D(0.1, block_size=5)
    with pytest.raises(ValueError, match=r"block_size=5 is larger than the "
                       r"input's height x width 4 x 4; use a block_size <= 4"):
        layer(keras.KerasTensor((None, 4, 4, 3)))


def test_drop_block_needs_4d_input():
    with pytest.raises(ValueError, match=r"DropBlock2D expects 4D input"):
        layers.DropBlock2D(0.1, block_size=2)(keras.KerasTensor((None, 4, 4)))


def test_drop_connect_needs_a_layer():
    with pytest.raises(TypeError, match=r"argument `layer` of DropConnect: "
                       r"expected a Keras layer with a kernel"):
        layers.DropConnect("dense")


def test_drop_connect_needs_a_kernel():
    wrapper = layers.DropConnect(keras.layers.ReLU(), rate=0.1)
    with pytest.raises(ValueError, match=r"DropConnect needs a layer with a "
                       r"`kernel` weight"):
        wrapper(keras.KerasTensor((None, 3)))


def test_drop_path_rates_bad_max_rate():
    with pytest.raises(ValueError, match=r"argument `max_rate` of "
                       r"drop_path_rates: expected a float in \[0, 1\)"):
        layers.drop_path_rates(1.2, 4)


def test_drop_path_rates_bad_depth():
    with pytest.raises(ValueError, match=r"argument `depth` of "
                       r"drop_path_rates: expected an int >= 1"):
        layers.drop_path_rates(0.1, 0)


def test_mc_predict_needs_two_samples():
    with pytest.raises(ValueError, match=r"argument `samples` of mc_predict: "
                       r"expected an int >= 2. Received: samples=1"):
        layers.mc_predict(_mc_model(0.1), np.ones((1, 6)), samples=1)
