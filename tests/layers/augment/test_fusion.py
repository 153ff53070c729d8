"""`computed_once`: mask indices computed apart from their gather under
TensorFlow's and JAX's XLA on CPUs, with the same values."""

import keras
import numpy as np
import pytest

from keras_regkit import _fusion
from keras_regkit.layers.augment import geometry

needs_jax = pytest.mark.skipif(keras.backend.backend() != "jax",
                               reason="needs the JAX backend")


def _masks_and_matrices():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 9, (4, 24, 20, 1)).astype("uint8")
    angles = rng.uniform(-0.6, 0.6, 4).astype("float32")
    zooms = rng.uniform(0.5, 2.5, 4).astype("float32")
    matrices = geometry.compose(geometry.rotation(angles, 24, 20),
                                geometry.zoom(zooms, zooms, 24, 20))
    return masks, np.asarray(matrices)


@pytest.mark.tf
def test_only_tensorflow_xla_compilations_take_the_detour():
    import tensorflow as tf

    def probe():
        return tf.constant(_fusion._xla_on_cpu())

    assert bool(tf.function(probe, jit_compile=True)())
    assert not bool(tf.function(probe)())
    assert not _fusion._xla_on_cpu()  # eager


def _check_bit_identical_with_and_without(monkeypatch, compile_,
                                          fill_mode):
    """Masks resampled by `compile_`d code with `computed_once` and with
    it taken out: the same bits, in their own dtype."""
    masks, matrices = _masks_and_matrices()

    def resample():
        call = compile_(lambda m, a: geometry.resample_nearest(
            m, a, fill_mode=fill_mode, fill_value=255))
        return keras.ops.convert_to_numpy(call(masks, matrices))

    apart = resample()
    monkeypatch.setattr(geometry, "computed_once", lambda t: t)
    fused = resample()
    np.testing.assert_array_equal(apart, fused)
    assert apart.dtype == np.uint8
    assert (apart != 255).any() and (apart != masks).any()


@pytest.mark.tf
@pytest.mark.parametrize("fill_mode", geometry.FILL_MODES)
def test_masks_are_bit_identical_with_and_without(monkeypatch, fill_mode):
    import tensorflow as tf

    _check_bit_identical_with_and_without(
        monkeypatch, lambda fn: tf.function(fn, jit_compile=True), fill_mode)


@pytest.mark.tf
def test_the_compiled_gather_reads_precomputed_indices():
    import tensorflow as tf

    masks, matrices = _masks_and_matrices()
    call = tf.function(lambda m, a: geometry.resample_nearest(m, a),
                       jit_compile=True)
    hlo = call.experimental_get_compiler_ir(masks, matrices)(
        stage="optimized_hlo")
    entry = hlo[hlo.index("ENTRY"):]
    # The index arithmetic ends in its own reduction fusion, whose result
    # the gather's fusion takes as an operand.
    reduce_fusions = [line.split("=")[0].strip() for line in
                      entry.splitlines() if "reduce" in line and "fusion("
                      in line]
    assert reduce_fusions, entry
    root = next(line for line in entry.splitlines() if "ROOT" in line)
    assert any(name in root for name in reduce_fusions), entry


@pytest.mark.backends
@needs_jax
@pytest.mark.parametrize("fill_mode", geometry.FILL_MODES)
def test_jax_masks_are_bit_identical_with_and_without(monkeypatch,
                                                      fill_mode):
    import jax

    _check_bit_identical_with_and_without(monkeypatch, jax.jit, fill_mode)


@pytest.mark.backends
@needs_jax
def test_jax_gather_reads_indices_from_a_reduce_window():
    import jax

    masks, matrices = _masks_and_matrices()
    assert not _fusion._jax_tracing_for_cpu(keras.ops.ones(2))  # eager
    compiled = jax.jit(geometry.resample_nearest).lower(
        masks, matrices).compile().as_text()
    entry = compiled[compiled.index("ENTRY"):]
    window = next(line.split("=")[0].strip() for line in entry.splitlines()
                  if "reduce-window" in line)
    root = next(line for line in entry.splitlines() if "ROOT" in line)
    assert window in root, entry
