"""Whether TensorFlow is building a graph that XLA will compile.

Two of our choices depend on it: fusion hints that only XLA's CPU backend
needs (`_fusion`), and the random-number path (`_random`): counter hashes
fuse into one loop under XLA but cost one pass over memory per integer op
in a plain TensorFlow graph, where TensorFlow's own Philox kernel is
faster.
"""

import sys

import keras


def tracing_for_xla():
    """Whether the TensorFlow backend is tracing a graph for XLA (a
    `tf.function(jit_compile=True)`, a Keras model compiled with
    `jit_compile=True`); False under the other backends."""
    if (keras.backend.backend() != "tensorflow"
            or "tensorflow" not in sys.modules):
        return False
    import tensorflow as tf

    # Keras marks nothing itself; TensorFlow records XLA on the graph (or
    # an enclosing one, for a `tf.function` called inside another).
    from tensorflow.python.ops import control_flow_util

    return (not tf.executing_eagerly()
            and control_flow_util.GraphOrParentsInXlaContext(
                tf.compat.v1.get_default_graph()))


def tensorflow_without_xla():
    """Whether ops run on the TensorFlow backend outside XLA: eagerly, in a
    plain `tf.function` graph, or in a `tf.data` function."""
    return keras.backend.backend() == "tensorflow" and not tracing_for_xla()
