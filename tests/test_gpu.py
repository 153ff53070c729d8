"""The GPU tier: the same answers on a GPU as on the CPU.

Run by `tools/gpu_check.sh` on a machine with a GPU (JAX backend); skipped
elsewhere (see `conftest.py`). GPUs run float32 matmuls in TF32 by default,
so these compare with float64 references on bigger inputs than the CPU
tests, where a fraction of a pixel shows.
"""

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit import regularizers
from keras_regkit.layers.augment import geometry

pytestmark = pytest.mark.gpu


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _on_cpu(fn):
    """`fn()` computed on the CPU (JAX), to compare with the GPU."""
    if keras.backend.backend() != "jax":
        pytest.skip("device placement is compared on JAX")
    import jax

    with jax.default_device(jax.devices("cpu")[0]):
        return fn()


def test_affine_coordinates_are_float32_exact_on_the_gpu():
    from tests.layers.augment.test_geometry import _scipy_affine

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 224, 224, 3)).astype("float32")
    t = keras.ops.convert_to_tensor
    angle = t(rng.uniform(-0.6, 0.6, 4).astype("float32"))
    zoom = t(rng.uniform(0.8, 1.25, 4).astype("float32"))
    shift = t(rng.uniform(-20, 20, 4).astype("float32"))
    matrices = geometry.compose(
        geometry.compose(geometry.rotation(angle, 224, 224),
                         geometry.zoom(zoom, zoom, 224, 224)),
        geometry.translation(shift, -shift))
    out = _np(geometry.affine_transform(t(x), matrices, fill_mode="reflect"))
    matrices = _np(matrices).astype("float64")
    for i in range(4):
        expected = _scipy_affine(x[i].astype("float64"), matrices[i],
                                 "reflect", order=1)
        # float32 coordinates of a 224-pixel image: ~1e-5 pixel, so 0-255
        # values agree to ~3e-3; TF32 coordinates would be off by ~0.1 pixel.
        np.testing.assert_allclose(out[i], expected, atol=2e-2)


def test_orthogonal_penalty_is_float32_exact_on_the_gpu():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(512, 256)).astype("float32")
    unit = w.astype("float64")
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    gram = unit @ unit.T
    expected = 0.5 * np.abs(gram - np.diag(np.diag(gram))).sum() / (
        512 * 511 / 2)
    got = float(_np(regularizers.OrthogonalRegularizer(1.0)(
        keras.ops.convert_to_tensor(w))))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("make", [
    lambda: layers.Dropout(0.3, seed=3),
    lambda: layers.SpatialDropout2D(0.3, seed=3),
    lambda: layers.DropBlock2D(0.1, block_size=5, seed=3),
    lambda: layers.Augment([layers.RandomFlip(seed=1),
                            layers.RandomRotation(0.1, seed=2),
                            layers.RandomZoom(0.1, seed=3)]),
])
def test_random_layers_draw_the_same_on_gpu_and_cpu(make):
    x = np.random.default_rng(2).uniform(0, 1, (8, 32, 32, 4)).astype(
        "float32")
    on_gpu = _np(make()(x, training=True))
    on_cpu = _on_cpu(lambda: _np(make()(x, training=True)))
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-4)


def test_stochastic_residual_compiles_and_trains_on_the_gpu():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(256, 16)).astype("float32")
    y = x[:, :1] * x[:, 1:2]
    inputs = keras.Input((16,))
    h = keras.layers.Dense(32)(inputs)
    for index in range(2):
        h = layers.StochasticResidual(keras.Sequential([
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(32)]), rate=0.3, seed=index)(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile("adam", "mse", jit_compile=True)
    losses = model.fit(x, y, batch_size=64, epochs=5,
                       verbose=0).history["loss"]
    assert losses[-1] < losses[0]
