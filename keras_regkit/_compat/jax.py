"""What keras_regkit asks of JAX directly."""

import sys

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


def spans_processes(value):
    """Whether `value` (a tensor or Keras variable) is a JAX array split
    over devices of several processes (not whole in this one)."""
    if isinstance(value, keras.Variable):
        value = value.value
    if keras.backend.backend() != "jax":
        return False
    import jax

    return (isinstance(value, jax.Array) and not value.is_fully_addressable
            and not value.is_fully_replicated)


def process_index():
    """This process's index in a multi-process JAX run
    (`keras.distribution.initialize`); 0 in one process and under the
    other backends."""
    if keras.backend.backend() != "jax" or "jax" not in sys.modules:
        return 0
    import jax

    return jax.process_index()


def sync_processes(name):
    """Returns once every process of a multi-process JAX run has called
    `sync_processes(name)` (`multihost_utils.sync_global_devices`); at once
    in one process and under the other backends."""
    if keras.backend.backend() != "jax" or "jax" not in sys.modules:
        return
    import jax

    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


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
    if spans_processes(value):
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(value,
                                                            tiled=True))
    return keras.ops.convert_to_numpy(value)
