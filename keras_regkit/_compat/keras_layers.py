"""A model's layer tree, a sublayer attached to a built model, and a layer
called as a function of its state (the seed states it draws from
included)."""

import keras
import numpy as np

from keras_regkit._compat import jax as jax_compat
from keras_regkit._compat import tensorflow as tf_compat

# Where a layer keeps its compiled calls (per call arguments) under JAX and
# TensorFlow; set past Keras's attribute tracking, which would wrap it.
JITTED = "_regkit_jitted_calls"


def flatten_layers(model):
    """`model` and every layer inside it, nested models' included, parents
    before children.

    Keras 3.0+: `Layer._flatten_layers(include_self, recursive)` walks the
    tracked sublayers (of any layer, not only of models; `model.layers` is
    one level deep). Objects without it (not Keras layers) are walked
    through `layers`.
    """
    if hasattr(model, "_flatten_layers"):
        return list(model._flatten_layers(include_self=True, recursive=True))
    layers = [model]
    for layer in getattr(model, "layers", []):
        layers.extend(flatten_layers(layer))
    return layers


def attach_sublayer(model, attribute, layer):
    """Makes `layer` a tracked sublayer of the built `model`, so that its
    variables are part of the model's state (`model.variables`, JAX's
    `fit` state), set as `attribute`.

    Keras 3.0+: setting a layer attribute tracks it through the layer's
    `_tracker`, which a built model locks. A Functional model accepts it.
    A Sequential model's `_flatten_layers` walks its `_layers` list, not
    its attributes, so there the layer hangs from the first layer in that
    list, its tracker unlocked for that one attribute.

    Raises:
        ValueError, AttributeError, IndexError: the model accepts no new
            sublayer (a built subclassed model).
    """
    setattr(model, attribute, layer)
    if any(found is layer for found in flatten_layers(model)):
        return
    first = model._layers[0]
    locked = first._tracker.locked
    first._tracker.unlock()
    try:
        setattr(first, attribute, layer)
    finally:
        if locked:
            first._tracker.lock()


def seed_states(layer):
    """The state variables of the `SeedGenerator`s `layer` and its
    sublayers draw from.

    Keras 3.0+: a layer lists the seed generators set as its attributes in
    `_seed_generators`.
    """
    return [generator.state for found in flatten_layers(layer)
            for generator in getattr(found, "_seed_generators", [])]


def call_on_state(layer, data, args, kwargs, tensors, seeds=None):
    """`layer(data, *args, **kwargs, **tensors)` through `stateless_call`,
    compiled under JAX (`jax.jit`) and TensorFlow (`tf.function`, a graph
    without XLA), once per `args`, `kwargs` and names of `tensors` (which
    are traced); eager under torch. The layer must be built.

    With `seeds=None` the layer's variables are read and what the call
    changed (its seed states) is written back, so the caller serializes
    calls. Otherwise `seeds` holds a value for each of `seed_states(layer)`,
    used for this call alone: nothing is written, and calls may run at
    once in threads.
    """
    key = (repr(args), repr(sorted(kwargs.items())), tuple(sorted(tensors)))

    def stateless(trainable, non_trainable, inputs, tensors):
        return layer.stateless_call(trainable, non_trainable, inputs, *args,
                                    **kwargs, **tensors)

    compile_with = {"jax": jax_compat.jit,
                    "tensorflow": tf_compat.function}.get(
                        keras.backend.backend())
    if compile_with is not None:
        if not hasattr(layer, JITTED):
            object.__setattr__(layer, JITTED, {})
        jitted = getattr(layer, JITTED)
        if key not in jitted:
            jitted[key] = compile_with(stateless)
        stateless = jitted[key]
    variables = layer.non_trainable_variables
    before = [variable.value for variable in variables]
    if seeds is not None:
        replaced = {id(state): seed
                    for state, seed in zip(seed_states(layer), seeds,
                                           strict=True)}
        before = [replaced.get(id(variable), value)
                  for variable, value in zip(variables, before, strict=True)]
    outputs, after = stateless(
        [variable.value for variable in layer.trainable_variables], before,
        data, tensors)
    if seeds is None:
        # Only what the call changed (seed states): a strength written by a
        # scheduler meanwhile must not be overwritten with the value read.
        for variable, old, new in zip(variables, before, after, strict=True):
            if not np.array_equal(old, new):
                variable.assign(new)
    return outputs
