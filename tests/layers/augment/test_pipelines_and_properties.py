"""tf.data pipelines, and hypothesis property tests over shapes and dtypes."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_regkit import layers
from tests.helpers import XLA
from tests.layers.augment.cases import CASES
from tests.layers.augment.cases import IDS
from tests.layers.augment.cases import make

#: Under JAX and torch every layer takes one path through `tf.data`
#: (`keras_regkit/_compat/tf_data.py`: the layer's call, compiled under
#: JAX, inside `tf.numpy_function`); these layers cover each kind of
#: output it handles (images alone, images and labels, a new image size)
#: and layers holding
#: other layers. Every layer is a graph op in TensorFlow's own pipeline, so
#: all run there; on the other backends every layer also compiles in one
#: model (`test_contract.py`).
_IN_TF_DATA_ON_EVERY_BACKEND = ("RandomFlip", "RandomRotation", "RandomCrop",
                                "RandomResizedCrop", "MixUp", "RandAugment")


@pytest.mark.parametrize(("cls", "kwargs", "size"), [
    pytest.param(*case, id=name, marks=[pytest.mark.backends] if (
        name in _IN_TF_DATA_ON_EVERY_BACKEND) else [])
    for case, name in zip(CASES, IDS, strict=True)])
def test_works_in_a_tf_data_pipeline(cls, kwargs, size):
    import tensorflow as tf

    x = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3)).astype(
        "uint8")
    y = np.eye(4, dtype="float32")[np.arange(8) % 4]
    layer = make(cls, kwargs)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    if cls in (layers.MixUp, layers.CutMix):
        def augment(images, labels):
            out = layer({"images": images, "labels": labels}, training=True)
            return out["images"], out["labels"]
    else:
        def augment(images, labels):
            return layer(images, training=True), labels
    images, labels = next(iter(ds.map(augment)))
    expected = (4, *(size or (16, 16)), 3)
    assert tuple(images.shape) == expected
    # uint8 in, float32 out, as from Keras's layers.
    assert images.dtype == tf.float32
    np.testing.assert_allclose(labels.numpy().sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.tf
def test_augment_with_labels_in_tf_data_and_fit():
    import tensorflow as tf

    x = np.random.default_rng(0).uniform(0, 255, (32, 16, 16, 3)).astype(
        "float32")
    y = np.arange(32) % 4
    augment = layers.Augment([layers.RandomFlip(seed=0),
                              layers.RandomRotation(0.1, seed=1),
                              layers.CutMix(seed=2, num_classes=4)])
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).map(
        lambda a, b: tuple(augment({"images": a, "labels": b}).values()))
    model = keras.Sequential([keras.Input((16, 16, 3)),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(4)])
    model.compile("adam", keras.losses.CategoricalCrossentropy(
        from_logits=True), jit_compile=XLA)
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


_DTYPES = ["uint8", "float16", "bfloat16", "float32"]


@pytest.mark.backends
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from(CASES),
    batch=st.integers(0, 3),
    height=st.integers(12, 20),
    width=st.integers(12, 20),
    channels=st.sampled_from([1, 3, 3, 4]),
    dtype=st.sampled_from(_DTYPES),
    data_format=st.sampled_from(["channels_last", "channels_first"]),
    unbatched=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_shape_dtype_finite_and_in_range(
        case, batch, height, width, channels, dtype, data_format, unbatched,
        seed):
    # Empty batches pass through; a channel count the layer cannot handle
    # is our error when the layer is built, never a backend's shape error.
    cls, kwargs, size = case
    unbatched = unbatched and batch > 0
    rng = np.random.default_rng(seed)
    shape = (batch, height, width, channels)
    x = rng.uniform(0, 255, shape).astype("float32")
    if data_format == "channels_first":
        x = np.transpose(x, (0, 3, 1, 2))
    if unbatched:
        x = x[0]
    x = keras.ops.cast(x, dtype)
    layer = cls(**kwargs, seed=seed, data_format=data_format,
                keep_dtype=True)
    accepted = layer.accepted_channels
    if accepted is not None and channels not in accepted:
        with pytest.raises(ValueError, match=f"{cls.__name__} expects .* "
                           "channels. Received: images of shape"):
            layer(x, training=True)
        return
    out = layer(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    out_h, out_w = size or (height, width)
    if data_format == "channels_last":
        expected = (batch, out_h, out_w, channels)
    else:
        expected = (batch, channels, out_h, out_w)
    assert tuple(out.shape) == (expected[1:] if unbatched else expected)
    values = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
    assert np.all(np.isfinite(values))
    if values.size:
        assert values.min() >= -1e-3 and values.max() <= 255 + 0.5
