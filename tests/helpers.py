"""Small shared pieces for tests: a trace counter, a tiny model, painted
images with boxes and masks."""

import keras
import numpy as np

#: Whether `jit_compile=True` means XLA: on torch it means torch.compile,
#: which we do not promise (torch runs eagerly), so tests compile there only
#: where the backend has XLA.
XLA = keras.backend.backend() != "torch"


def compiled_by_xla(fn):
    """`fn` compiled by the backend's XLA (eager on torch)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def call_compiled(layer, images):
    """A training call of `layer` compiled by the backend's XLA (JAX: as
    a stateless call; eager on torch)."""
    if keras.backend.backend() != "jax":
        return compiled_by_xla(lambda x: layer(x, training=True))(images)
    import jax

    layer.build(images.shape)
    state = [v.value for v in layer.non_trainable_variables]
    return jax.jit(lambda s, x: layer.stateless_call(
        [], s, x, training=True)[0])(state, images)


@keras.saving.register_keras_serializable(package="regkit_tests")
class TraceCounter(keras.layers.Layer):
    """Identity layer that counts how often its `call` is traced.

    Python code in `call` only runs while a backend traces the step, so the
    count of non-symbolic calls is the number of traces (and eager calls).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.traces = 0

    def call(self, x):
        if not isinstance(x, keras.KerasTensor):
            self.traces += 1
        return x


def dense_conv_model(kernel_regularizer, seed=0):
    """A small Conv2D + Dense model whose kernels carry `kernel_regularizer`."""
    inputs = keras.Input((6, 6, 1))
    x = TraceCounter(name="trace_counter")(inputs)
    x = keras.layers.Conv2D(
        2, 3, kernel_regularizer=kernel_regularizer, name="conv"
    )(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(
        3, kernel_regularizer=kernel_regularizer, name="dense"
    )(x)
    return keras.Model(inputs, outputs)


def toy_data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 6, 1)).astype("float32")
    y = rng.normal(size=(n, 3)).astype("float32")
    return x, y


class dtype_policy:  # noqa: N801 (a context manager, named as a verb)
    """`with dtype_policy("mixed_float16"):` sets Keras's global policy and
    restores the previous one on exit (`clear_session` does not)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(self.name)

    def __exit__(self, *exc_info):
        keras.mixed_precision.set_global_policy(self.previous)


def painted_batch(count=4, size=32):
    """Images with a filled square (class 3 in the uint8 mask) and, per
    image, a ragged list of boxes: the square's, and for odd images one
    more."""
    images = np.zeros((count, size, size, 3), "float32")
    images[:, 8:20, 10:24] = 200.0
    masks = np.zeros((count, size, size, 1), "uint8")
    masks[:, 8:20, 10:24] = 3
    boxes = [[[10.0, 8.0, 24.0, 20.0]] + ([[1.0, 1.0, 5.0, 5.0]] if i % 2
                                          else []) for i in range(count)]
    labels = [[3] + ([1] if i % 2 else []) for i in range(count)]
    return images, masks, boxes, labels
