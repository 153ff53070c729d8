"""Keeping XLA's CPU compiler from recomputing work inside gathers.

XLA:CPU fuses a gather with the element-wise work that computes its
indices and runs that work inside the gather's scalar loop, once per
gathered element. For a resampling, whose index arithmetic (matrix map,
rounding, folding by the fill mode) is heavier than the gather, that makes
a nearest-neighbour mask resample cost as much as a bilinear image one.
`computed_once` ends the fusion there with an exact no-op that XLA:CPU does
not fuse into a gather, so the indices are computed by a vectorized loop
and the gather only reads them: under TensorFlow a reduction
(`sum(stack([t, 0]))`), under JAX, whose newer compiler fuses that
reduction too, a reduce-window (`cumsum` of `[0, t]`; `cumsum` is slower
under TensorFlow's). `optimization_barrier` would say this more
directly, but XLA:CPU removes barriers before fusion.

`RandomElasticTransform` computes its small blurred displacement grid
once the same way (the blur was rerun for every pixel read).

The same fusion reruns a whole augmentation layer inside the next one's
gathers; `kept_apart` ends it at each layer's output and before the
resampling of `RandAugment`'s and `AugMix`'s chains, and
`kept_apart_under_tensorflow` between the steps of one `Augment`.

Only where it pays: TensorFlow inside an XLA compilation with no GPU or
TPU visible (graphs TensorFlow runs itself fuse nothing), and JAX tracing
for its CPU backend. GPU compilers fuse gathers well (not measured here);
torch runs ops one by one. What each measure gained is on the benchmarks
page ("Measurements behind the design").
"""

import keras
from keras import ops

from keras_regkit._compat import jax as jax_compat
from keras_regkit._compat import tensorflow as tf_compat


def computed_once(tensor):
    """Returns `tensor` (values unchanged: `t + 0`); when XLA compiles it
    for a CPU (TensorFlow or JAX), it is computed once, vectorized, before
    what uses it.

    Examples:

        >>> keras.ops.convert_to_numpy(computed_once(keras.ops.arange(3)))
        array([0, 1, 2], dtype=int32)
    """
    if keras.backend.standardize_dtype(tensor.dtype) == "bool" and (
            tf_compat.xla_on_cpu() or jax_compat.tracing_for_cpu(tensor)):
        return ops.cast(computed_once(ops.cast(tensor, "uint8")), "bool")
    if tf_compat.xla_on_cpu():
        # Over the leading axis: XLA:CPU vectorizes it along the elements.
        return ops.sum(ops.stack([tensor, ops.zeros_like(tensor)]), axis=0)
    if jax_compat.tracing_for_cpu(tensor):
        return ops.cumsum(ops.stack([ops.zeros_like(tensor), tensor]),
                          axis=0)[1]
    return tensor


def kept_apart(tensor, token):
    """Returns `tensor` (values unchanged); when XLA compiles it for a CPU
    (TensorFlow or JAX), it is computed in full before what uses it instead
    of being recomputed inside each consumer.

    XLA:CPU fuses a cheap producer into a gather and reruns it for every
    value gathered, so one augmentation layer's work ran again inside the
    next layer's resampling (several times slower). Here the tensor passes
    through a conditional on `token` (any runtime tensor, such as a seed
    state), which XLA fuses nothing across. Under TensorFlow both branches
    return the tensor, at no measurable cost. JAX drops a conditional whose
    branches both return their operand, so there the other branch adds
    zero; it runs only for a seed state of all zeros (seed 0's first draw).
    One `Augment` alone measured the same with and without it.

    Examples:

        >>> keras.ops.convert_to_numpy(kept_apart(keras.ops.arange(3), 1))
        array([0, 1, 2], dtype=int32)
    """
    if tf_compat.xla_on_cpu():
        def otherwise():
            return tensor
    elif jax_compat.tracing_for_cpu(tensor):
        def otherwise():
            return ops.add(tensor, ops.zeros((), tensor.dtype))
    else:
        return tensor
    return ops.cond(ops.any(ops.not_equal(token, 0)), lambda: tensor,
                    otherwise)


def kept_apart_under_tensorflow(tensor, token):
    """`kept_apart` under TensorFlow's XLA for a CPU only: for one cheap
    step (a colour layer) that the next step inside one `Augment`
    resamples.

    Under TensorFlow a contrast before a rotation and a zoom in one
    `Augment` was recomputed inside the gathers (slower than the same
    layers apart). JAX's compiler is faster with such a step fused into its
    gathers than reading back its float32 result, so there, as everywhere
    else, it is `tensor` itself. (A long chain of
    colour operations, `RandAugment`'s and `AugMix`'s, is faster apart on
    both: they use `kept_apart`.)

    Examples:

        >>> keras.ops.convert_to_numpy(
        ...     kept_apart_under_tensorflow(keras.ops.arange(3), 1))
        array([0, 1, 2], dtype=int32)
    """
    return kept_apart(tensor, token) if tf_compat.xla_on_cpu() else tensor
