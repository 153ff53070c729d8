"""What keras_regkit asks of JAX directly."""

import keras


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
