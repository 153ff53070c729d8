"""Probabilities, ranges, colour maths, label mixing and schedules."""

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import schedules
from keras_regkit.layers.augment import colour
from keras_regkit.strengths import collect_strengths
from tests.helpers import XLA
from tests.helpers import TraceCounter
from tests.helpers import compiled_by_xla

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(
        "float32")


@pytest.mark.parametrize("probability", [0.0, 0.3, 0.5, 1.0])
def test_flip_probability(probability):
    x = np.tile(np.arange(4, dtype="float32")[None, None, :, None],
                (2000, 1, 1, 1))
    out = _np(layers.RandomFlip("horizontal", probability=probability,
                                seed=0)(x))
    flipped = out[:, 0, 0, 0] == 3.0
    assert abs(flipped.mean() - probability) < 0.04
    assert np.all((out[:, 0, 0, 0] == 0) | flipped)


def test_both_flips_are_independent():
    x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    out = _np(layers.RandomFlip(seed=0)(np.repeat(x, 4000, 0)))
    corners = out[:, 0, 0, 0]
    shares = [np.mean(corners == v) for v in range(4)]
    np.testing.assert_allclose(shares, 0.25, atol=0.03)


def test_rotation_angles_are_uniform_in_the_range():
    layer = layers.RandomRotation((-0.1, 0.2), seed=0)
    angles = _np(layer.draw(5000, 8, 8)["angle"]) / (2 * np.pi)
    assert angles.min() >= -0.1 and angles.max() <= 0.2
    np.testing.assert_allclose(np.quantile(angles, [0.25, 0.5, 0.75]),
                               [-0.025, 0.05, 0.125], atol=0.01)


def test_float_factor_is_symmetric_like_keras():
    assert layers.RandomRotation(0.2).factor == (-0.2, 0.2)
    assert layers.RandomRotation(-0.2).factor == (-0.2, 0.2)
    assert layers.RandomContrast(0.2).factor == (0.0, 0.2)
    assert layers.RandomZoom((0.3, -0.1)).height_factor == (-0.1, 0.3)


def test_shear_magnitudes_have_random_signs():
    draw = layers.RandomShear(x_factor=(0.1, 0.2), seed=0).draw(4000, 8, 8)
    shear = _np(draw["shear_x"])
    assert np.all((np.abs(shear) >= 0.1 - 1e-6) & (np.abs(shear) <= 0.2))
    assert abs(np.mean(shear > 0) - 0.5) < 0.04
    np.testing.assert_array_equal(_np(draw["shear_y"]), 0.0)


def test_erasing_probability_and_area():
    x = np.ones((3000, 20, 20, 1), "float32")
    layer = layers.RandomErasing(factor=0.4, scale=(0.1, 0.3),
                                 fill_value=0.0, seed=0)
    erased = (_np(layer(x)) == 0).mean(axis=(1, 2, 3))
    hit = erased > 0
    assert abs(hit.mean() - 0.4) < 0.04
    assert erased[hit].min() > 0.05 and erased[hit].max() < 0.36
    assert 0.17 < erased[hit].mean() < 0.23


def test_erasing_noise_fill_stays_in_value_range():
    x = np.full((8, 16, 16, 3), 0.5, "float32")
    layer = layers.RandomErasing(value_range=(0, 1), seed=0)
    out = _np(layer(x))
    assert out.min() >= 0 and out.max() <= 1 and (out != 0.5).any()


def test_brightness_contrast_saturation_hue_maths():
    x = _images((1, 4, 4, 3))
    bright = _np(layers.RandomBrightness((0.1, 0.1))(x))
    np.testing.assert_allclose(bright, np.clip(x + 25.5, 0, 255), atol=1e-4)
    # Like Keras, a pair is sorted: (0.5, 0.25) means [1 - 0.25, 1 + 0.5].
    contrast_layer = layers.RandomContrast((0.5, 0.25), seed=0)
    factors = _np(contrast_layer.draw(4000, 4, 4)["factor"])
    assert factors.min() >= 0.75 and factors.max() <= 1.5
    contrast = _np(colour.adjust_contrast(x, np.array([0.5], "float32"),
                                          (0, 255)))
    mean = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(contrast, np.clip((x - mean) * 0.5 + mean,
                                                 0, 255), atol=1e-3)
    unchanged = _np(layers.RandomSaturation((0.5, 0.5))(x))
    np.testing.assert_allclose(unchanged, x, atol=1e-3)
    gray = _np(layers.RandomGrayscale(1.0)(x))
    np.testing.assert_allclose(gray[..., 0], gray[..., 2])
    np.testing.assert_allclose(gray[..., 0], x @ np.array(
        [0.299, 0.587, 0.114]), atol=1e-3)
    full_turn = _np(colour.adjust_hue(x, np.ones(1, "float32"), (0, 255)))
    np.testing.assert_allclose(full_turn, x, atol=0.05)


@pytest.mark.parametrize("value_range", [(0, 255), (-1, 1)])
def test_hue_equals_the_hsv_round_trip(value_range):
    """`adjust_hue`'s closed form gives Keras's `rgb_to_hsv`, shift,
    `hsv_to_rgb`, on gray pixels, ties between channels and shifts up to
    half a turn either way, eager and compiled."""
    rng = np.random.default_rng(5)
    low, high = value_range
    unit = rng.uniform(0, 1, (6, 9, 8, 3)).astype("float32")
    unit[:, 0] = unit[:, 0, :, :1]  # gray rows
    unit[:, 1, :, 1] = unit[:, 1, :, 0]  # red = green
    unit[:, 2, :, 2] = unit[:, 2, :, 1]  # green = blue
    shift = np.array([-0.5, -0.31, 0.0, 0.07, 0.33, 0.5], "float32")
    hsv = _np(keras.ops.image.rgb_to_hsv(unit))
    hsv[..., 0] = np.mod(hsv[..., 0] + shift[:, None, None], 1.0)
    expected = _np(keras.ops.image.hsv_to_rgb(hsv)) * (high - low) + low
    images = unit * (high - low) + low
    for adjust in (colour.adjust_hue, compiled_by_xla(colour.adjust_hue)):
        out = _np(adjust(images, shift, value_range))
        np.testing.assert_allclose(out, expected, atol=2e-5 * (high - low))


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="reads a JAX-compiled program")
def test_grayscale_compiles_to_multiply_adds_not_a_reduction():
    """JAX's XLA on CPU ran a sum over the 3 channels pixel by pixel
    (40x slower); the luma is three multiply-adds, and the same values."""
    import jax

    x = _images((2, 8, 8, 3))
    program = jax.jit(colour.grayscale).lower(x).compile().as_text()
    entry = program[program.index("ENTRY"):]
    assert "reduce" not in program, entry
    np.testing.assert_allclose(_np(colour.grayscale(x))[..., 1],
                               x @ np.array([0.299, 0.587, 0.114]),
                               rtol=1e-6)


def test_mixup_mixes_images_and_labels_with_the_same_draw():
    x = np.arange(8, dtype="float32")[:, None, None, None] * np.ones(
        (8, 2, 2, 3), "float32")
    labels = np.arange(8) % 4
    layer = layers.MixUp(alpha=0.4, num_classes=4, seed=0)
    out = layer({"images": x, "labels": labels})
    images, mixed = _np(out["images"]), _np(out["labels"])
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-5)
    # Each image is w * own + (1 - w) * partner; the labels say the same.
    own = np.arange(8)
    weight = mixed[own, labels]
    partner_label = np.argmax(np.where(np.eye(4)[labels] > 0, -1, mixed), 1)
    for i in range(8):
        if weight[i] > 0.999:
            continue
        partner = (images[i, 0, 0, 0] - weight[i] * i) / (1 - weight[i])
        assert labels[int(round(partner))] == partner_label[i]


def test_mixup_weights_follow_beta():
    layer = layers.MixUp(alpha=0.4, seed=0)
    weights = _np(layer.draw(20000, 1, 1)["label_weight"])
    import scipy.stats

    expected = scipy.stats.beta(0.4, 0.4).ppf([0.1, 0.25, 0.5, 0.75, 0.9])
    np.testing.assert_allclose(
        np.quantile(weights, [0.1, 0.25, 0.5, 0.75, 0.9]), expected,
        atol=0.02)


def test_mixup_alpha_zero_is_identity():
    x = _images((6, 4, 4, 3))
    np.testing.assert_allclose(_np(layers.MixUp(alpha=0.0)(x)), x)


def test_cutmix_label_weight_is_the_pasted_area():
    n = 64
    x = np.arange(n, dtype="float32")[:, None, None, None] * np.ones(
        (n, 10, 10, 1), "float32")
    labels = np.eye(n, dtype="float32")
    out = layers.CutMix(seed=0)({"images": x, "labels": labels})
    images, mixed = _np(out["images"]), _np(out["labels"])
    own_share = (images == np.arange(n)[:, None, None, None]).mean(
        axis=(1, 2, 3))
    np.testing.assert_allclose(mixed[np.arange(n), np.arange(n)] + (
        own_share == 1) * 0, np.maximum(own_share, mixed.diagonal()),
        atol=1e-5)
    np.testing.assert_allclose(mixed.diagonal(), own_share, atol=1e-5)
    assert (own_share < 1).mean() > 0.5


def test_rand_augment_changes_images_and_respects_the_range():
    x = _images((64, 16, 16, 3))
    out = _np(layers.RandAugment(num_ops=2, factor=0.9, seed=0)(x))
    assert out.min() >= 0 and out.max() <= 255
    changed = np.abs(out - x).mean(axis=(1, 2, 3)) > 1e-3
    # Identity can be drawn twice (1/13 ** 2); nearly all images change.
    assert changed.mean() > 0.9
    zero = _np(layers.RandAugment(factor=(0.0, 0.0), seed=0)(x))
    # At magnitude 0 only auto-contrast and posterize (at 8 bits, a floor)
    # act; geometry is the identity.
    assert np.abs(zero - x).mean() < 2.0


def test_trivial_augment_draws_one_op_per_image():
    layer = layers.TrivialAugment(seed=0)
    draw = layer.draw(5000, 8, 8)
    index = _np(draw["index"])
    assert index.shape == (1, 5000)
    counts = np.bincount(index[0], minlength=13)
    assert counts.min() > 5000 / 13 * 0.8


def test_scheduled_factor_changes_without_retrace():
    x = _images((16, 8, 8, 3))
    inputs = keras.Input((8, 8, 3))
    traced = TraceCounter(name="trace_counter")(inputs)
    rotated = layers.RandomRotation(
        schedules.Piecewise([1, 2], [0.0, 0.1, 0.3]), seed=0,
        name="rotate")(traced)
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(rotated))
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse", jit_compile=XLA)
    assert "rotate/factor" in collect_strengths(model)
    counter = model.get_layer("trace_counter")
    traces = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: traces.append(counter.traces))
    history = model.fit(x, np.zeros((16, 1)), batch_size=16, epochs=3,
                        verbose=0,
                        callbacks=[callbacks.StrengthScheduler(), probe])
    assert history.history["regkit/rotate/factor"] == pytest.approx(
        [0.0, 0.1, 0.3])
    if XLA:
        assert traces == [traces[0]] * 3
    assert model.jit_compile is XLA
    assert float(model.get_layer("rotate").factor[1]) == pytest.approx(0.3)


def test_every_magnitude_can_be_scheduled():
    ramp = schedules.Linear(0.0, 0.5, duration=10)
    for layer in [
        layers.RandomFlip(probability=ramp),
        layers.RandomZoom(ramp, (ramp, ramp)),
        layers.RandomErasing(factor=ramp),
        layers.RandomGrayscale(factor=ramp),
        layers.MixUp(alpha=ramp),
        layers.CutMix(factor=ramp),
        layers.RandAugment(factor=ramp),
        layers.RandomAffine(rotation_factor=ramp, shear_x_factor=ramp),
    ]:
        variables = [v for v in layer.non_trainable_weights
                     if "seed_generator" not in v.path]
        assert variables, type(layer).__name__
        revived = type(layer).from_config(layer.get_config())
        assert revived.get_config() == layer.get_config()
