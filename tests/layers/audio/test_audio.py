"""The audio layers: the shared contract, padding and lengths, each layer's
distribution, schedules without retracing, one compiled model of all."""

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import schedules
from tests.contract import check_layer_contract
from tests.helpers import XLA
from tests.helpers import TraceCounter
from tests.layers.audio.cases import CASES
from tests.layers.audio.cases import IDS
from tests.layers.audio.cases import every_audio_layer

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _spectrograms(shape=(4, 40, 16), seed=0):
    return np.random.default_rng(seed).uniform(
        0.5, 1.5, shape).astype("float32")


@pytest.mark.parametrize(("cls", "kwargs", "shape"), CASES, ids=IDS)
def test_contract(cls, kwargs, shape):
    """Config and `.keras`-format serialization round trips, symbolic and
    eager calls, identity at inference, one seed generator each (SpecAugment:
    its own and its three parts'); fit and `.keras` files: the model of
    every layer below."""
    seeds = 4 if cls is layers.SpecAugment else 1
    check_layer_contract(cls, {**kwargs, "seed": 3}, shape,
                         expected_seed_generators=seeds, fit_and_save=False)


def test_model_of_every_layer_trains_under_xla_saves_and_reloads(tmp_path):
    """Waveform layers before Keras's `MelSpectrogram`, spectrogram layers
    after it, one fit under XLA (TensorFlow, JAX), `.keras` round trip in
    safe mode."""
    inputs = keras.Input((800,))
    outputs = keras.layers.Dense(2)(every_audio_layer(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), jit_compile=XLA)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 800)).astype("float32")
    history = model.fit(x, np.arange(16) % 2, batch_size=8, epochs=2,
                        verbose=0)
    assert model.jit_compile is XLA
    assert np.all(np.isfinite(history.history["loss"]))
    path = str(tmp_path / "audio.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [a.get_config() for a in loaded.layers] == [
        b.get_config() for b in model.layers]
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("cls", "kwargs", "shape"), CASES, ids=IDS)
def test_padding_is_never_touched(cls, kwargs, shape):
    """With `lengths` (or a Keras mask), frames past an example's length
    come out as they went in."""
    x = _spectrograms(shape) if len(shape) == 3 else np.random.default_rng(
        1).normal(size=shape).astype("float32")
    lengths = np.array([shape[1], shape[1] // 2, 5, 1])
    layer = cls(**kwargs, seed=5)
    out = _np(layer(x, lengths=lengths))
    for example, length in enumerate(lengths):
        np.testing.assert_array_equal(out[example, length:],
                                      x[example, length:])
    mask = np.arange(shape[1])[None, :] < lengths[:, None]
    np.testing.assert_array_equal(
        _np(cls(**kwargs, seed=5)(x, mask=mask)), out)


def _masked_frames(out):
    return (out == 0).all(axis=2)


def test_time_masks_stay_within_width_count_and_proportion():
    x = _spectrograms((64, 40, 8))
    out = _np(layers.TimeMasking(6, num_masks=2, seed=1)(x))
    masked = _masked_frames(out).sum(axis=1)
    assert masked.max() <= 12 and masked.min() >= 0
    assert 4 < masked.mean() < 9  # two widths uniform in 0..6: 6 expected
    # Adaptive: at most 20% of each example's true length.
    lengths = np.array([40, 20, 10, 5] * 16)
    out = _np(layers.TimeMasking(None, max_proportion=0.2, seed=2)(
        x, lengths=lengths))
    masked = _masked_frames(out).sum(axis=1)
    assert (masked <= np.floor(0.2 * lengths)).all()
    assert masked[lengths == 40].max() >= 5


def test_frequency_masks_and_shared_masks():
    x = _spectrograms((32, 20, 16))
    out = _np(layers.FrequencyMasking(5, num_masks=1, seed=1)(x))
    bins = (out == 0).all(axis=1).sum(axis=1)
    assert bins.max() <= 5 and len(set(bins.tolist())) > 1
    shared = _np(layers.FrequencyMasking(5, iid_masks=False, seed=1)(x))
    zero = shared == 0
    assert (zero == zero[:1]).all()


def test_mean_fill_and_layouts_agree():
    x = _spectrograms((8, 30, 12))
    lengths = np.array([30, 10] * 4)
    out = _np(layers.TimeMasking(8, mask_value="mean", seed=4)(
        x, lengths=lengths))
    changed = out != x
    for example in range(8):
        if changed[example].any():
            valid = x[example, :lengths[example]]
            np.testing.assert_allclose(out[example][changed[example]],
                                       valid.mean(), rtol=1e-5)
    # (batch, freq, time), as MelSpectrogram gives: the same masks.
    transposed = _np(layers.TimeMasking(8, mask_value="mean", seed=4,
                                        layout="freq_time")(
        np.swapaxes(x, 1, 2), lengths=lengths))
    np.testing.assert_allclose(np.swapaxes(transposed, 1, 2), out)


def test_time_warp_keeps_the_ends_and_the_order():
    ramp = np.tile(np.arange(50.0, dtype="float32")[None, :, None],
                   (16, 1, 3))
    out = _np(layers.TimeWarp(10, seed=0)(ramp))
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-5)
    np.testing.assert_allclose(out[:, -1], 49.0, atol=1e-4)
    assert (np.diff(out[..., 0], axis=1) >= -1e-5).all()
    assert np.abs(out - ramp).max() > 1.0
    assert np.abs(out - ramp).max() <= 10.0 + 1e-4
    # An example too short for the warp is left as it is.
    short = _np(layers.TimeWarp(10, seed=0)(ramp, lengths=np.full(16, 3)))
    np.testing.assert_allclose(short, ramp, atol=1e-5)


def test_spec_augment_policies_and_overrides():
    for policy in ("LB", "LD", "SM", "SS"):
        layer = layers.SpecAugment(policy)
        assert layer.freq_masking.num_masks == (1 if policy == "LB" else 2)
    layer = layers.SpecAugment("SM", time_warp=0, freq_mask_width=0,
                               time_mask_width=0, seed=1)
    x = _spectrograms()
    np.testing.assert_allclose(_np(layer(x)), x, atol=1e-6)
    config = layers.SpecAugment("LD", time_masks=3).get_config()
    assert config["time_masks"] == 3 and config["freq_masks"] is None


def test_waveform_layers_do_what_they_say():
    rng = np.random.default_rng(0)
    tone = np.sin(np.linspace(0, 400, 4000, dtype="float32"))[None].repeat(
        64, 0)
    gained = _np(layers.RandomGain((-6.0, 6.0), seed=1)(tone))
    db = 20 * np.log10(np.abs(gained).max(axis=1) / np.abs(tone).max(
        axis=1))
    assert -6.01 <= db.min() < -3 and 3 < db.max() <= 6.01
    noisy = _np(layers.RandomNoise((5.0, 30.0), seed=2)(tone))
    snr = 10 * np.log10((tone ** 2).mean(1) / ((noisy - tone) ** 2).mean(1))
    assert 4.5 < snr.min() < 12 and 23 < snr.max() < 30.5
    x = rng.normal(size=(8, 100)).astype("float32")
    rolled = _np(layers.RandomTimeShift((0.1, 0.1), rollover=True,
                                        seed=3)(x))
    np.testing.assert_array_equal(rolled, np.roll(x, 10, axis=1))
    slow = _np(layers.RandomSpeed((-0.5, -0.5), seed=4)(
        np.arange(10.0, dtype="float32")[None]))
    np.testing.assert_allclose(slow, 0.5 * np.arange(10.0)[None])


def test_schedules_move_in_fit_without_retracing():
    """Probability 0 is the identity; `StrengthScheduler` moves a layer's
    probability and a SpecAugment part's width inside the compiled step,
    which is traced once."""
    x = _spectrograms((8, 40, 16))
    inputs = keras.Input((40, 16))
    traced = TraceCounter(name="trace_counter")(inputs)
    masked = layers.TimeMasking(
        40, probability=schedules.Piecewise([1], [0.0, 1.0]), seed=1,
        name="mask")(traced)
    augmented = layers.SpecAugment(
        "SM", time_warp=0, time_mask_width=0,
        freq_mask_width=schedules.Linear(0.0, 8.0, duration=2), seed=2,
        name="spec")(traced)
    outputs = keras.layers.Concatenate()([masked, augmented])
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse", jit_compile=XLA)
    counter = model.get_layer("trace_counter")
    traces, zeros = [], []

    def probe(epoch, logs):
        traces.append(counter.traces - epoch)  # less the probe's own calls
        out = _np(model(x, training=True))
        zeros.append(((out[..., :16] == 0).any(), (out[..., 16:] == 0).any()))

    history = model.fit(x, np.zeros((8, 40, 32)), batch_size=8, epochs=3,
                        verbose=0, callbacks=[
                            callbacks.StrengthScheduler(),
                            keras.callbacks.LambdaCallback(
                                on_epoch_end=probe)])
    assert history.history["regkit/mask/probability"] == [0.0, 1.0, 1.0]
    assert history.history["regkit/spec_freq_masking/max_width"] == [
        0.0, 4.0, 8.0]
    assert zeros[0] == (False, False) and zeros[2] == (True, True)
    if XLA:
        assert traces == [traces[0]] * 3


@pytest.mark.parametrize(("argument", "cls", "kwargs"), [
    ("layout", layers.TimeMasking, {"max_width": 2, "layout": "ntc"}),
    ("mask_value", layers.TimeMasking, {"max_width": 2, "mask_value": "x"}),
    ("max_width", layers.FrequencyMasking, {"max_width": None}),
    ("max_width", layers.TimeMasking, {"max_width": 2.5}),
    ("num_masks", layers.TimeMasking, {"max_width": 2, "num_masks": 0}),
    ("policy", layers.SpecAugment, {"policy": "XL"}),
    ("gain_db", layers.RandomGain, {"gain_db": 90}),
    ("snr_db", layers.RandomNoise, {"snr_db": (-5, 10)}),
    ("factor", layers.RandomSpeed, {"factor": 0.9}),
    ("rollover", layers.RandomTimeShift, {"rollover": 1}),
])
def test_bad_arguments_get_one_clear_error(argument, cls, kwargs):
    with pytest.raises((ValueError, TypeError), match=argument):
        cls(**kwargs)


def test_bad_shapes_get_one_clear_error():
    with pytest.raises(ValueError, match=r"\(batch, time, freq\)"):
        layers.TimeMasking(2)(np.ones((4, 8), "float32"))
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        layers.RandomGain()(np.ones((4, 8, 2, 1), "float32"))
    with pytest.raises(ValueError, match="lengths"):
        layers.RandomGain()(np.ones((4, 8), "float32"),
                            lengths=np.ones((4, 2), "int32"))


def test_in_a_tf_data_pipeline_with_lengths_and_a_schedule():
    """In `ds.map` on every backend (JAX and torch through the bridge of
    `_compat.tf_data`): lengths pass with the batch, padding stays, and
    `StrengthScheduler` moves a layer used only in the pipeline."""
    tf = pytest.importorskip("tensorflow")
    from keras_regkit import callbacks

    noise = layers.RandomNoise((0.0, 0.0), probability=schedules.Piecewise(
        [1], [0.0, 1.0]), seed=0, name="pipeline_noise")
    waves = np.random.default_rng(0).normal(size=(4, 64)).astype("float32")
    lengths = np.array([64, 32, 16, 8], "int32")
    ds = tf.data.Dataset.from_tensor_slices(
        (waves, lengths, np.zeros((4, 1), "float32"))).batch(4).map(
            lambda x, n, y: (noise(x, training=True, lengths=n), y))
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    seen = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(
            next(iter(ds))[0].numpy()))
    history = model.fit(ds, epochs=2, verbose=0, callbacks=[
        callbacks.StrengthScheduler(), probe])
    assert history.history["regkit/pipeline_noise/probability"] == [0.0, 1.0]
    np.testing.assert_array_equal(seen[0], waves)
    changed = seen[1] != waves
    assert changed[0].all() and changed[3, :8].all()
    assert not changed[3, 8:].any() and not changed[2, 16:].any()
