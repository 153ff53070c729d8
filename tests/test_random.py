"""The counter-based mask generator: uniform, independent-looking, seeded."""

import keras
import numpy as np
import pytest

from keras_regkit import _random

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_uniform_is_uniform():
    u = _np(_random.uniform((200_000,), keras.random.SeedGenerator(0)))
    assert u.dtype == np.float32
    assert u.min() >= 0.0 and u.max() < 1.0
    counts, _ = np.histogram(u, bins=50, range=(0, 1))
    expected = len(u) / 50
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 90  # 49 degrees of freedom: p ~ 3e-4 at 90
    assert u.mean() == pytest.approx(0.5, abs=0.003)
    assert u.var() == pytest.approx(1 / 12, abs=0.002)


def test_neighbours_and_calls_are_uncorrelated():
    generator = keras.random.SeedGenerator(3)
    a = _np(_random.uniform((100_000,), generator))
    b = _np(_random.uniform((100_000,), generator))
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01
    # Successive calls also do not repeat each other shifted by a few places.
    for shift in range(1, 5):
        assert not np.array_equal(a[shift:], b[:-shift])


def test_seeded_reproducible_and_seed_sensitive():
    def draw(seed):
        return _np(_random.uniform((64,), keras.random.SeedGenerator(seed)))

    np.testing.assert_array_equal(draw(1), draw(1))
    assert not np.array_equal(draw(1), draw(2))
    np.testing.assert_array_equal(_np(_random.uniform((8,), 5)),
                                  _np(_random.uniform((8,), 5)))


def test_normal_moments():
    z = _np(_random.normal((200_000,), keras.random.SeedGenerator(4)))
    assert np.all(np.isfinite(z))
    assert z.mean() == pytest.approx(0.0, abs=0.01)
    assert z.std() == pytest.approx(1.0, abs=0.01)
    assert np.mean(np.abs(z) > 1.96) == pytest.approx(0.05, abs=0.003)


def _fmix32_numpy(x):
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x85EBCA6B)
    x = x ^ (x >> np.uint32(13))
    x = x * np.uint32(0xC2B2AE35)
    return x ^ (x >> np.uint32(16))


def test_bits_are_the_same_on_every_backend():
    """A numpy uint32 reference: torch computes Keras's uint32 in int64,
    where products overflow 32 bits unless wrapped."""
    with np.errstate(over="ignore"):
        seed = np.uint32(7)
        first = _fmix32_numpy(seed ^ np.uint32(0x3C6EF372))
        second = _fmix32_numpy(np.uint32(0) * np.uint32(0x9E3779B9) + first)
        counter = np.arange(1000, dtype=np.uint32)
        bits = _fmix32_numpy(counter * np.uint32(0x9E3779B9) + second)
        expected = _fmix32_numpy(bits ^ first)
    np.testing.assert_array_equal(
        _np(_random.random_bits((1000,), 7)).astype(np.uint32), expected)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_masks_and_noise_inside_and_outside_xla(jit_compile):
    """TensorFlow draws dropout masks and Gaussian noise from its Philox
    kernel outside XLA and from the hash under it: same distributions,
    seeded, fresh every call, a tensor rate that never retraces."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the two paths exist on TensorFlow only")
    import tensorflow as tf

    generator = keras.random.SeedGenerator(5)
    traces = []

    @tf.function(jit_compile=jit_compile)
    def draw(keep_prob):
        traces.append(1)
        return (_random.keep_mask((300, 700), keep_prob, generator),
                _random.normal((300, 700), generator))

    for keep_prob in (0.7, 0.25):
        mask, noise = (_np(t) for t in draw(tf.constant(keep_prob)))
        assert mask.dtype == bool and mask.shape == (300, 700)
        assert mask.mean() == pytest.approx(keep_prob, abs=0.005)
        rows = mask.astype("float32")
        assert abs(np.corrcoef(rows[:, :-1].ravel(),
                               rows[:, 1:].ravel())[0, 1]) < 0.01
        assert noise.mean() == pytest.approx(0.0, abs=0.01)
        assert noise.std() == pytest.approx(1.0, abs=0.01)
    assert len(traces) == 1
    again = _np(draw(tf.constant(0.25))[0])
    assert not np.array_equal(again, mask)
    assert _np(draw(tf.constant(1.0))[0]).all()
    seeded = tf.function(lambda: _random.keep_mask((64,), 0.5, 9),
                         jit_compile=jit_compile)
    np.testing.assert_array_equal(_np(seeded()), _np(seeded()))

