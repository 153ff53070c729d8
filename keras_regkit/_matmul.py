"""Matrix products exact to float32 whatever the device's default precision.

GPUs run float32 matmuls in TF32 by default (TensorFlow, JAX) and TPUs in
bfloat16: about 3 significant digits. `exact_matmul` keeps float32:
- JAX: the product at `precision="highest"` (the one place that asks);
- elsewhere, where the backend may round (TensorFlow with a GPU or TPU
  visible and TF32 on), the bfloat16 three-way split: each operand is the
  sum of three bfloat16-exact pieces, and the six products that matter are
  exact in any reduced precision, summed in float32 (what XLA's "highest"
  does on TPUs);
- otherwise (CPUs; torch, whose float32 matmuls are full precision unless
  the user enables TF32), a plain `ops.matmul`.
"""

import keras
from keras import ops

from keras_regkit._compat import jax as jax_compat
from keras_regkit._compat import tensorflow as tf_compat


def exact_matmul(a, b):
    """`a @ b` for float32 2D tensors, exact to float32 on any device.

    Examples:

        >>> a = keras.ops.ones((2, 3))
        >>> keras.ops.convert_to_numpy(exact_matmul(a, keras.ops.ones((3, 2))))
        array([[3., 3.],
               [3., 3.]], dtype=float32)
    """
    if keras.backend.backend() == "jax":
        return jax_compat.matmul_highest(a, b)
    if tf_compat.tf32_may_round():
        return split_matmul(a, b)
    return ops.matmul(a, b)


def _pieces(x):
    """Three bfloat16-exact float32 tensors summing to `x` (to ~2**-24)."""
    high = ops.cast(ops.cast(x, "bfloat16"), "float32")
    rest = x - high
    middle = ops.cast(ops.cast(rest, "bfloat16"), "float32")
    low = ops.cast(ops.cast(rest - middle, "bfloat16"), "float32")
    return high, middle, low


def split_matmul(a, b):
    """`a @ b` from bfloat16-exact pieces: exact to float32 even where the
    device rounds matmul inputs to bfloat16 or TF32."""
    a0, a1, a2 = _pieces(a)
    b0, b1, b2 = _pieces(b)
    # Smallest terms first; the products below 2**-24 relative are dropped.
    return (ops.matmul(a2, b0) + ops.matmul(a0, b2) + ops.matmul(a1, b1)
            + ops.matmul(a1, b0) + ops.matmul(a0, b1) + ops.matmul(a0, b0))
