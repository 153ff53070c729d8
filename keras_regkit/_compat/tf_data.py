"""Running inside `tf.data`: seeds and batch counts in a TensorFlow
pipeline, and our layers in a pipeline when Keras computes with JAX or
torch.

Keras's own preprocessing layers switch to TensorFlow ops there (through a
private `DynamicBackend`). Ours are `keras.ops` code for the configured
backend, so inside `Dataset.map` (a TensorFlow graph being traced) they run
through `tf.numpy_function`: each batch goes to the backend, on the CPU,
through the layer's call (its seed generators advancing as they do in a
model, its scheduled strengths read at that moment), and comes back as
TensorFlow tensors. Under JAX the call is compiled (`jax.jit` of the
layer's `stateless_call`, once per input signature); torch runs it
eagerly. The output's structure, dtypes and static shapes are found once,
while tracing, by calling a copy of the layer (rebuilt from its config) on
zeros.

Ragged boxes become dense rows padded with -1 first, as the layers return
them under TensorFlow.

Under TensorFlow itself the layers are graph ops in the map function, and
`next_seed` takes each call's seed draw whole, so that calls run in
parallel do not read the same seed state.
"""

import sys
import threading
import weakref

import keras
import numpy as np

from keras_regkit._compat import keras_layers

# One batch at a time: seed states advance in order when `map` runs calls
# in parallel (`num_parallel_calls`).
_LOCK = threading.Lock()

# Sizes tried for dimensions the graph leaves unknown (the batch axis of
# `Dataset.batch`, ragged box counts): output dimensions that follow them are
# left unknown, the others are static.
_TRIAL_SIZES = (4, 5)

# Per seed generator drawn from in a TensorFlow map function: the counter
# its draws take there (an int64 scalar, counted atomically).
_COUNTERS = weakref.WeakKeyDictionary()

# Per layer with a scheduled strength called in a `tf.data` pipeline: how
# many batches it has made there (a Python int under JAX and torch, a
# TensorFlow variable the graph increments under TensorFlow).
# `StrengthScheduler` moves the layers whose pipelines run during its fit,
# and no others (a pipeline built and left behind is not its business).
_PIPELINE_USES = weakref.WeakKeyDictionary()


def in_foreign_graph(inputs):
    """Whether `inputs` are symbolic TensorFlow tensors (a `tf.data` map or
    a `tf.function` being traced) while Keras's backend is not TensorFlow.
    """
    if (keras.backend.backend() == "tensorflow"
            or "tensorflow" not in sys.modules):
        return False
    import tensorflow as tf

    if tf.executing_eagerly():
        return False
    return any(isinstance(leaf, (tf.Tensor, tf.RaggedTensor))
               for leaf in tf.nest.flatten(inputs))


def densify(value):
    """Ragged boxes or labels (`tf.data`) as dense rows padded with -1, as
    Keras's layers return them; anything else unchanged."""
    if hasattr(value, "to_tensor"):  # tf.RaggedTensor
        return value.to_tensor(default_value=-1)
    return value


def count_pipeline_use(layer):
    """Under TensorFlow, in a `tf.data` function (`in_dataset_function`):
    makes the graph count the batches `layer` makes there. Returns the
    counting op to run with the layer's call (`tensorflow.after`)."""
    import tensorflow as tf

    counter = _PIPELINE_USES.get(layer)
    if counter is None:
        with tf.init_scope():
            counter = tf.Variable(0, dtype="int64", trainable=False,
                                  name=f"{layer.name}_pipeline_batches")
        _PIPELINE_USES[layer] = counter
    return counter.assign_add(1)


def count_host_use(layer):
    """Counts a batch `layer` made on the host in a pipeline (under JAX or
    torch in `tf.data`, in Grain), for `pipeline_uses`."""
    _PIPELINE_USES[layer] = _PIPELINE_USES.get(layer, 0) + 1


def pipeline_uses():
    """`{layer: batches made in tf.data pipelines so far}` for the live
    layers with a scheduled strength."""
    return {layer: int(count if isinstance(count, int) else count.numpy())
            for layer, count in list(_PIPELINE_USES.items())}


def next_seed(generator):
    """`generator.next()`, with no two calls of a TensorFlow `tf.data`
    function given the same seed.

    Keras's `SeedGenerator.next` reads the state and then writes it back
    advanced; when `Dataset.map` runs calls in parallel
    (`num_parallel_calls`), two calls can read the same state and draw the
    same numbers (Keras's own layers do: 14 of 400 draws repeated with 16
    parallel calls on 2 cores). In a `tf.data` function the counter half of
    the seed is therefore taken from a counter of the generator's own that
    one op reads and increments at once (`ResourceCountUpTo`), started at
    the state's counter; the state is advanced as `next()` advances it.
    Calls taken one at a time get what `next()` gives, in the same order.
    Everywhere else (eager, `tf.function`, XLA, other backends) it is
    `generator.next()`.

    Examples:

        >>> generator = keras.random.SeedGenerator(3)
        >>> [int(v) for v in next_seed(generator)]
        [3, 0]
    """
    if not in_dataset_function():
        return generator.next()
    import tensorflow as tf

    state = generator.state.value
    counter = _COUNTERS.get(generator)
    if counter is None:
        with tf.init_scope():
            counter = tf.Variable(state[1], trainable=False,
                                  name=f"{generator.name}_draws")
        _COUNTERS[generator] = counter
    drawn = tf.raw_ops.ResourceCountUpTo(resource=counter.handle,
                                         limit=2**62, T=counter.dtype)
    advanced = state.assign_add(tf.constant([0, 1], state.dtype),
                                read_value=False)
    with tf.control_dependencies([advanced]):
        return tf.stack([state[0], tf.cast(drawn, state.dtype)])


def in_dataset_function():
    """Whether TensorFlow ops are being added to a `tf.data` function (its
    graphs are named `Dataset_map_...`, `Dataset_filter_...`)."""
    if (keras.backend.backend() != "tensorflow"
            or "tensorflow" not in sys.modules):
        return False
    import tensorflow as tf

    if tf.executing_eagerly():
        return False
    return tf.compat.v1.get_default_graph().name.startswith("Dataset_")


def call_in_graph(layer, inputs, args, kwargs, scheduled):
    """`layer(inputs, *args, **kwargs)` for symbolic TensorFlow `inputs`,
    computed by Keras's backend on the CPU as the graph runs; the batches
    made are counted (`pipeline_uses`) when the layer is `scheduled`.
    Tensors among `kwargs` (an audio layer's `lengths`) travel with the
    inputs."""
    import tensorflow as tf

    tensors = {key: value for key, value in kwargs.items()
               if tf.is_tensor(value)}
    kwargs = {key: value for key, value in kwargs.items()
              if key not in tensors}
    inputs = tf.nest.map_structure(densify, inputs)
    flat_inputs = tf.nest.flatten((inputs, tensors))
    structure, dtypes, shapes = _output_signature(layer, inputs, args,
                                                  kwargs, tensors)

    if scheduled:
        _PIPELINE_USES.setdefault(layer, 0)

    def run(*arrays):
        if scheduled:
            count_host_use(layer)
        data, arrays_of = tf.nest.pack_sequence_as((inputs, tensors),
                                                   list(arrays))
        with _LOCK, keras.device("cpu"):
            outputs = _call(layer, data, args, kwargs, arrays_of)
        return [keras.ops.convert_to_numpy(value)
                for value in tf.nest.flatten(outputs)]

    outputs = tf.numpy_function(
        run, flat_inputs, dtypes, stateful=True,
        name=f"{layer.name}_on_{keras.backend.backend()}")
    for value, shape in zip(outputs, shapes, strict=True):
        value.set_shape(shape)
    return tf.nest.pack_sequence_as(structure, outputs)


def _call(layer, data, args, kwargs, tensors):
    """`layer(data, *args, **kwargs, **tensors)`, compiled under JAX once
    built (`tensors` are traced arguments, the rest fixed)."""
    if keras.backend.backend() != "jax" or not layer.built:
        return layer(data, *args, **kwargs, **tensors)
    return keras_layers.call_on_state(layer, data, args, kwargs, tensors)


def shuffled_batches(x, y, batch_size, seed):
    """`(x, y)` in shuffled batches, one pass per epoch as `fit(x, y)` makes
    them, repeated, as a `tf.data.Dataset`."""
    import tensorflow as tf

    return (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .repeat()
        .prefetch(2)
    )


def _output_signature(layer, inputs, args, kwargs, tensors):
    """(structure, TensorFlow dtypes, static shapes) of the layer's output
    on `inputs`, from a copy of the layer called on zeros (`tensors`, the
    keyword arguments that are tensors, too)."""
    import tensorflow as tf

    for value in tf.nest.flatten((inputs, tensors)):
        if value.shape.rank is None:
            raise ValueError(
                f"{type(layer).__name__} in a tf.data pipeline under the "
                f"{keras.backend.backend()} backend needs inputs of known "
                f"rank. Received: a tensor of unknown shape ({value.name})"
            )
    copy = type(layer).from_config(layer.get_config())
    trials = []
    for size in _TRIAL_SIZES:
        zeros, zero_tensors = tf.nest.map_structure(
            lambda value, size=size: np.zeros(
                [size if d is None else d for d in value.shape],
                value.dtype.as_numpy_dtype),
            (inputs, tensors))
        with keras.device("cpu"):
            trials.append(copy(zeros, *args, **kwargs, **zero_tensors))
    first, second = (tf.nest.flatten(trial) for trial in trials)
    dtypes = [tf.as_dtype(keras.ops.convert_to_numpy(value).dtype)
              for value in first]
    shapes = [[a if a == b else None
               for a, b in zip(x.shape, y.shape, strict=True)]
              for x, y in zip(first, second, strict=True)]
    return trials[0], dtypes, shapes
