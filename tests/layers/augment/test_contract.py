"""Every augmentation layer: the shared contract, XLA, dtypes, layouts."""

import keras
import numpy as np
import pytest

from tests.contract import check_layer_contract
from tests.helpers import XLA
from tests.layers.augment.cases import CASES
from tests.layers.augment.cases import IDS
from tests.layers.augment.cases import every_layer
from tests.layers.augment.cases import make

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _images(shape=(4, 16, 16, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, shape).astype("float32")


@pytest.mark.parametrize(("cls", "kwargs", "size"), CASES, ids=IDS)
def test_contract(cls, kwargs, size, tmp_path):
    shape = (4, 16, 16, 3)
    out_shape = (4, *size, 3) if size else None
    # One fit and .keras round trip per layer on JAX (whose XLA compiles
    # them 3-5x as fast as TensorFlow's); on every backend, every layer is
    # compiled, saved and reloaded in the one model of the next test.
    check_layer_contract(
        cls, {**kwargs, "seed": 3}, shape, tmp_path=tmp_path,
        identity_at_inference=size is None, expected_output_shape=out_shape,
        input_range=(0, 255),
        fit_and_save=keras.backend.backend() == "jax",
    )


def test_model_with_every_layer_trains_under_xla_saves_and_reloads(
        tmp_path):
    """Worth its 10-35 s (XLA compiling all 22 layers in one step): on
    TensorFlow and torch, the one fit (under XLA on TensorFlow) and
    `.keras` round trip of each augmentation layer."""
    inputs = keras.Input((16, 16, 3))
    x = every_layer(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(
        keras.layers.Rescaling(1 / 255)(x)))
    model = keras.Model(inputs, outputs)
    assert {type(layer) for layer in model.layers} >= {
        case[0] for case in CASES}
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), jit_compile=XLA)
    assert model.jit_compile is XLA
    y = np.arange(16) % 3
    images = _images((16, 16, 16, 3))
    history = model.fit(images, y, batch_size=8, epochs=2, verbose=0)
    assert model.jit_compile is XLA
    assert np.all(np.isfinite(history.history["loss"]))
    path = str(tmp_path / "every_layer.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert [a.get_config() for a in loaded.layers] == [
        b.get_config() for b in model.layers]
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("cls", "kwargs", "size"), CASES, ids=IDS)
@pytest.mark.parametrize("dtype", ["uint8", "float16", "bfloat16",
                                   "float32"])
def test_output_dtype_and_values_stay_in_range(cls, kwargs, size, dtype):
    """Keras's rule: the compute dtype whatever the input's (uint8 in,
    float32 out); `keep_dtype=True` keeps the input's."""
    x = keras.ops.cast(_images(), dtype)
    for keep_dtype, expected in ((False, "float32"), (True, dtype)):
        out = make(cls, {**kwargs, "keep_dtype": keep_dtype})(x)
        assert keras.backend.standardize_dtype(out.dtype) == expected
        values = _np(keras.ops.cast(out, "float32"))
        assert np.all(np.isfinite(values))
        assert values.min() >= 0 and values.max() <= 255.5


@pytest.mark.parametrize(("cls", "kwargs", "size"), CASES, ids=IDS)
def test_a_rebuilt_layer_keeps_the_dtype_rule(cls, kwargs, size):
    x = keras.ops.cast(_images(), "uint8")
    plain = make(cls, kwargs)
    rebuilt = cls.from_config(plain.get_config())
    assert keras.backend.standardize_dtype(rebuilt(x).dtype) == "float32"
    kept = make(cls, {**kwargs, "keep_dtype": True})
    rebuilt = cls.from_config(kept.get_config())
    assert keras.backend.standardize_dtype(rebuilt(x).dtype) == "uint8"


@pytest.mark.parametrize(("cls", "kwargs", "size"), CASES, ids=IDS)
def test_unbatched_channels_first_and_seeding(cls, kwargs, size):
    x = _images()
    last = _np(make(cls, kwargs, seed=7)(x))
    again = _np(make(cls, kwargs, seed=7)(x))
    np.testing.assert_array_equal(last, again)
    first = _np(make(cls, kwargs, seed=7, data_format="channels_first")(
        np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_allclose(np.transpose(first, (0, 2, 3, 1)), last,
                               atol=1e-3)
    single = make(cls, kwargs, seed=7)(x[0])
    expected = x.shape[1:] if size is None else (*size, 3)
    assert tuple(single.shape) == tuple(expected)


@pytest.mark.parametrize(("cls", "kwargs", "size"), CASES, ids=IDS)
def test_inference_is_identity_or_centre_crop(cls, kwargs, size):
    x = _images()
    out = _np(make(cls, kwargs)(x, training=False))
    if size is None:
        np.testing.assert_array_equal(out, x)
    else:
        assert out.shape == (4, *size, 3)
