"""What keras_regkit asks of JAX directly."""

import keras
import numpy as np


def tracing_for_cpu(tensor):
    """Whether `tensor` is being traced by JAX for its CPU backend (False
    under the other backends)."""
    if keras.backend.backend() != "jax":
        return False
    import jax

    return (isinstance(tensor, jax.core.Tracer)
            and jax.default_backend() == "cpu")


def matmul_highest(a, b):
    """`a @ b` at `precision="highest"`: float32 even where the device's
    default rounds (TF32 on GPUs, bfloat16 on TPUs)."""
    import jax.numpy as jnp

    return jnp.matmul(a, b, precision="highest")


def jit(function):
    """`jax.jit(function)`."""
    import jax

    return jax.jit(function)


def host_array(value):
    """`value` (a tensor or Keras variable) as a NumPy array on this host.

    Under JAX with a `keras.distribution` over several processes, a weight
    sharded over them spans devices this process cannot read (Keras's
    `convert_to_numpy` and `get_weights` fail there): it is all-gathered
    (`jax.experimental.multihost_utils.process_allgather`), so every
    process must call this at the same point, as callbacks do. Elsewhere,
    `keras.ops.convert_to_numpy`.
    """
    if isinstance(value, keras.Variable):
        value = value.value
    if keras.backend.backend() == "jax":
        import jax

        if (isinstance(value, jax.Array) and not value.is_fully_addressable
                and not value.is_fully_replicated):
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(
                value, tiled=True))
    return keras.ops.convert_to_numpy(value)
