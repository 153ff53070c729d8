"""What keras_regkit asks of TensorFlow directly; mostly, what it does
differently outside XLA.

Under XLA (TensorFlow's `jit_compile=True`, JAX's `jit`) element-wise ops
fuse into a few loops, so random numbers come from a counter hash in plain
`keras.ops` (`keras_regkit._random`). A TensorFlow graph that XLA does not
compile (TensorFlow's default on CPU, every `tf.data` function, eager
calls) runs each op by itself: every op is a pass over memory and, in a
`tf.data` function, some 20 microseconds of overhead. There:

- random numbers come from TensorFlow's Philox kernel (one op instead of
  some forty for a hash). The numbers differ between the two paths, as
  Keras's own differ between backends; their distributions do not.
- the deterministic half of an augmentation layer (`apply_images`: a
  resampling, a colour change, a whole `Augment` stack), some forty small
  ops, runs as a function XLA compiles by itself inside the surrounding
  graph (`compiled`): a rotation in a graph or `tf.data` map takes a
  fraction of Keras's time (the namesakes table on the benchmarks page).
"""

import sys
import weakref

import keras

from keras_regkit._compat.keras_backend import in_stateless_scope

# owner -> {method name: tf.function}; weak, so that a layer's compiled
# functions go when the layer goes.
_COMPILED = weakref.WeakKeyDictionary()


def tracing_for_xla():
    """Whether the TensorFlow backend is tracing a graph for XLA (a
    `tf.function(jit_compile=True)`, a Keras model compiled with
    `jit_compile=True`); False under the other backends."""
    if (keras.backend.backend() != "tensorflow"
            or "tensorflow" not in sys.modules):
        return False
    import tensorflow as tf

    # TensorFlow records XLA on the graph (or on an enclosing one, for a
    # `tf.function` called inside another); Keras marks nothing itself.
    from tensorflow.python.ops import control_flow_util

    return (not tf.executing_eagerly()
            and control_flow_util.GraphOrParentsInXlaContext(
                tf.compat.v1.get_default_graph()))


def xla_on_cpu():
    """Whether TensorFlow is tracing a graph XLA compiles for a CPU."""
    if not tracing_for_xla():
        return False
    import tensorflow as tf

    return not any(device.device_type in ("GPU", "TPU")
                   for device in tf.config.list_logical_devices())


def tf32_may_round():
    """Whether float32 matmuls may run at reduced precision here: TensorFlow
    with TF32 enabled and a GPU or TPU visible."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    if not tf.config.experimental.tensor_float_32_execution_enabled():
        return False
    return any(device.device_type in ("GPU", "TPU")
               for device in tf.config.list_logical_devices())


def after(op, outputs):
    """`outputs` (a structure of tensors), computed after `op` runs."""
    import tensorflow as tf

    with tf.control_dependencies([op]):
        return tf.nest.map_structure(tf.identity, outputs)


def without_xla():
    """Whether ops run on the TensorFlow backend outside XLA: eagerly, in a
    plain `tf.function` graph, or in a `tf.data` function."""
    return keras.backend.backend() == "tensorflow" and not tracing_for_xla()


def in_graph_without_xla():
    """Whether TensorFlow is building a graph (a `tf.function`, a `tf.data`
    function) that XLA does not compile; False when eager, and inside a
    `keras.StatelessScope` (our train step's), whose variable values are
    tensors of the enclosing graph that a function of its own cannot
    read."""
    if not without_xla():
        return False
    import tensorflow as tf

    return not (tf.executing_eagerly() or in_stateless_scope())


def function(fn):
    """`tf.function(fn)`, retracing only for new ranks or dtypes."""
    import tensorflow as tf

    return tf.function(fn, reduce_retracing=True)


def compiled(owner, name, *args):
    """`getattr(owner, name)(*args)`, compiled by XLA as a function of its
    own when TensorFlow builds a graph outside XLA, called directly
    everywhere else (XLA already compiles it, or it runs eagerly). The
    method must compile under XLA (`owner.supports_jit`) and be pure: no
    variable writes, so no random draws (`owner.draws_in_apply` False)."""
    if (not getattr(owner, "supports_jit", True)
            or getattr(owner, "draws_in_apply", False)
            or not in_graph_without_xla()):
        return getattr(owner, name)(*args)
    import tensorflow as tf

    functions = _COMPILED.setdefault(owner, {})
    function = functions.get(name)
    if function is None:
        held = weakref.ref(owner)
        function = tf.function(
            lambda *inputs: getattr(held(), name)(*inputs),
            jit_compile=True, autograph=False)
        functions[name] = function
    return function(*args)


def _shape(shape):
    import tensorflow as tf

    return [tf.cast(dim, tf.int32) if tf.is_tensor(dim) else dim
            for dim in shape]


def _seed(words):
    import tensorflow as tf

    return tf.cast(tf.stack(words), tf.int64)


def uniform(shape, words, minval=0.0):
    """float32 Philox uniform in [minval, 1) from two uint32 seed words."""
    import tensorflow as tf

    return tf.random.stateless_uniform(_shape(shape), _seed(words),
                                       minval=minval)


def normal(shape, words):
    """float32 Philox standard normal from two uint32 seed words."""
    import tensorflow as tf

    return tf.random.stateless_normal(_shape(shape), _seed(words))


def uint16_bits(shape, words):
    """uint16 random bits of `shape`: Philox uint32 bits, each split in two
    (half the random numbers a float per element costs)."""
    import tensorflow as tf

    shape = _shape(shape)
    size = tf.reduce_prod(tf.stack(shape)) if shape else 1
    bits = tf.random.stateless_uniform(
        [(size + 1) // 2], seed=_seed(words), minval=None, maxval=None,
        dtype=tf.uint32)
    halves = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:size]
    return tf.reshape(halves, shape)


def keep_mask(shape, keep_prob, words):
    """bool mask of `shape`, True with probability `keep_prob` rounded to
    a multiple of 1/65536 (at most 7.7e-6 away), from 16-bit halves."""
    import tensorflow as tf

    # P(bits >= t) = 1 - t / 65536 for t = round((1 - keep_prob) * 65536),
    # kept below 65536 (keep_prob > 0) so that it fits 16 bits.
    drop = tf.round((1.0 - tf.cast(keep_prob, tf.float32)) * 65536.0)
    threshold = tf.cast(tf.clip_by_value(drop, 0.0, 65535.0), tf.uint16)
    return uint16_bits(shape, words) >= threshold

