"""Gather indices computed once, vectorized, on XLA's CPU compiler.

XLA:CPU fuses a gather with the element-wise work that computes its
indices and runs that work inside the gather's scalar loop, once per
gathered element. For a resampling, whose index arithmetic (matrix map,
rounding, folding by the fill mode) is heavier than the gather, that makes
a nearest-neighbour mask resample cost as much as a bilinear image one.
`computed_once` ends the fusion there: a reduction is a fusion root XLA:CPU
does not fuse into a gather, so the indices are computed by a vectorized
loop and the gather only reads them (4-5x faster for a uint8 mask).
`optimization_barrier` would say this more directly, but XLA:CPU removes
barriers before fusion.

Only where it pays: TensorFlow inside an XLA compilation with no GPU or
TPU visible (graphs TensorFlow runs itself fuse nothing). JAX 0.10's CPU
compiler already keeps the two apart (measured: no change); GPU compilers
fuse gathers well; torch runs ops one by one.
"""

import keras
from keras import ops


def computed_once(tensor):
    """Returns `tensor` (values unchanged: `t + 0`); when TensorFlow
    compiles for a CPU with XLA, it is computed once, vectorized, before
    what uses it.

    Example:

    >>> keras.ops.convert_to_numpy(computed_once(keras.ops.arange(3)))
    array([0, 1, 2], dtype=int32)
    """
    if not _xla_on_cpu():
        return tensor
    # reduce(stack([t, 0])) == t exactly, and a reduction ends the fusion
    # (over the leading axis: XLA:CPU vectorizes it along the elements).
    return ops.sum(ops.stack([tensor, ops.zeros_like(tensor)]), axis=0)


def _xla_on_cpu():
    """Whether TensorFlow is tracing a graph XLA compiles for a CPU."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util

    if tf.executing_eagerly() or not control_flow_util \
            .GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
        return False
    return not any(device.device_type in ("GPU", "TPU")
                   for device in tf.config.list_logical_devices())
