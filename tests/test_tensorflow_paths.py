"""TensorFlow outside XLA: augmentation layers run their deterministic
half as a function XLA compiles by itself, in `tf.function` graphs and
`tf.data` maps, with the results of the plain path."""

import keras
import numpy as np
import pytest

from keras_regkit import layers

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="TensorFlow's graph paths")


def _xla_functions(concrete):
    """Names of the functions called from `concrete`'s graph that XLA must
    compile."""
    library = concrete.graph.as_graph_def().library
    return [f.signature.name for f in library.function
            if f.attr["_XlaMustCompile"].b]


def _images(seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (4, 12, 10, 3)
                                               ).astype("float32")


def test_graph_and_tf_data_run_apply_compiled_with_the_plain_results():
    import tensorflow as tf

    x = _images()
    stack = layers.Augment([layers.RandomFlip("horizontal", probability=1.0),
                            layers.RandomBrightness((0.1, 0.1))])
    expected = np.clip(x[:, :, ::-1] + 25.5, 0, 255)
    graph = tf.function(lambda b: stack(b, training=True))
    concrete = graph.get_concrete_function(tf.TensorSpec((None, 12, 10, 3)))
    assert _xla_functions(concrete)  # the plain graph calls an XLA function
    np.testing.assert_allclose(graph(x).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(stack(x, training=True), expected, rtol=1e-6)
    dataset = tf.data.Dataset.from_tensors(x).repeat(2).map(
        lambda b: stack(b, training=True))
    for batch in dataset:
        np.testing.assert_allclose(batch.numpy(), expected, rtol=1e-6)
    # Under XLA the whole graph is compiled: no function of its own.
    xla = tf.function(lambda b: stack(b, training=True), jit_compile=True)
    np.testing.assert_allclose(xla(x).numpy(), expected, rtol=1e-6)


def test_random_layers_draw_afresh_per_call_and_per_batch():
    import tensorflow as tf

    layer = layers.RandomRotation(0.2, seed=3)
    graph = tf.function(lambda b: layer(b, training=True))
    x = _images()
    first, second = graph(x).numpy(), graph(x).numpy()
    assert not np.allclose(first, second)
    batches = [b.numpy() for b in tf.data.Dataset.from_tensors(x).repeat(
        2).map(lambda b: layer(b, training=True))]
    assert not np.allclose(batches[0], batches[1])


def test_a_layer_that_draws_in_apply_runs_in_the_plain_graph():
    import tensorflow as tf

    erase = layers.RandomErasing(factor=1.0, scale=(0.5, 0.5), seed=1)
    graph = tf.function(lambda b: erase(b, training=True))
    concrete = graph.get_concrete_function(tf.TensorSpec((4, 12, 10, 3)))
    assert not _xla_functions(concrete)
    out = graph(_images()).numpy()
    assert (out != _images()).mean() > 0.3  # noise fills half of each image
    assert out.min() >= 0 and out.max() <= 255


def test_a_graph_model_fits_with_compiled_augmentation_under_mixed_float16():
    """`jit_compile=False` (the advice for depthwise CNNs on a CPU) with
    the augmentation compiled on its own, under a mixed policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = keras.Sequential([
            keras.Input((12, 10, 3)),
            layers.Augment([layers.RandomFlip(seed=1),
                            layers.RandomRotation(0.1, seed=2),
                            layers.RandomContrast(0.2, seed=3)]),
            keras.layers.Conv2D(4, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, dtype="float32")])
        model.compile("adam", "mse", jit_compile=False)
        history = model.fit(_images(), np.zeros((4, 2), "float32"),
                            epochs=2, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        assert model.layers[0].compute_dtype == "float16"
    finally:
        keras.config.set_dtype_policy(previous)
