"""Running inside Grain pipelines (`grain.MapDataset`, `IterDataset`,
`DataLoader`).

Keras's own preprocessing layers notice a Grain pipeline (by the frames
calling them) and run there eagerly on the CPU. Ours do too, and more:

- No two calls draw the same numbers: under `map`, each call takes a seed
  of its own from the layer's generators, which advance by one, under a
  lock, and computes outside it (Grain maps with threads; Keras's layers,
  whose generators read and then write their state, give several records
  the same draw there). Under `random_map`, the generator Grain hands the
  call (seeded by the pipeline's seed and the record's index) seeds it,
  and the layer's own state is left alone: the same record gets the same
  draw whatever the threads, worker processes or restarts.
- In a worker process (`mp_prefetch`, `DataLoader(worker_count=...)`),
  which starts from a copy of the layer, `map`'s seed states are first
  mixed with the process id, so that workers do not repeat each other's
  draws (`random_map` needs nothing: its draws follow the record).
- The call is compiled, by `jax.jit` under JAX and as a `tf.function`
  under TensorFlow (`keras_layers.call_on_state`); torch runs it eagerly.
- Outputs are NumPy arrays, what Grain batches, shares between worker
  processes and hands to `fit`.
- Batches are counted for a layer with a scheduled strength
  (`tf_data.count_host_use`), so that `StrengthScheduler` moves it.
"""

import multiprocessing
import os
import sys
import threading
import weakref

import keras
import numpy as np

from keras_regkit._compat import keras_layers
from keras_regkit._compat import tf_data

# Seeds are taken one call at a time.
_LOCK = threading.Lock()

# Set while a thread runs one of our layers for Grain: the layers it calls
# (sublayers) run as in a model.
_INSIDE = threading.local()

# The layers whose seed states this worker process has made its own.
_RESEEDED = weakref.WeakSet()

# Grain's code that calls a map function: its datasets and data loader.
_GRAIN_CALLERS = (
    os.path.join("grain", "_src", "python", "dataset"),
    os.path.join("grain", "_src", "python", "data_loader"),
)


def in_pipeline(inputs):
    """Whether concrete `inputs` are being mapped by a Grain pipeline (a
    Grain frame calls us), as Keras's layers check (Keras 3.11+)."""
    if "grain" not in sys.modules or getattr(_INSIDE, "active", False):
        return False
    if any(isinstance(leaf, keras.KerasTensor)
           for leaf in keras.tree.flatten(inputs)):
        return False
    frame = sys._getframe(1)
    while frame is not None:
        if any(part in frame.f_code.co_filename for part in _GRAIN_CALLERS):
            return True
        frame = frame.f_back
    return False


def call(layer, keras_call, inputs, args, kwargs, scheduled):
    """`layer(inputs, *args, **kwargs)` in a Grain pipeline, on the CPU, as
    NumPy arrays. `keras_call` is Keras's `Layer.__call__` bound to the
    layer (it builds the layer on the first call). A NumPy `Generator`
    first in `args` (Grain's `random_map`) seeds the call."""
    rng = None
    if args and isinstance(args[0], np.random.Generator):
        rng, args = args[0], args[1:]
    tensors = {key: value for key, value in kwargs.items()
               if isinstance(value, np.ndarray)}
    kwargs = {key: value for key, value in kwargs.items()
              if key not in tensors}
    if scheduled:
        with _LOCK:
            tf_data.count_host_use(layer)
    _INSIDE.active = True
    try:
        outputs = _call(layer, keras_call, inputs, args, kwargs, tensors,
                        rng)
    finally:
        _INSIDE.active = False
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def _call(layer, keras_call, inputs, args, kwargs, tensors, rng):
    with keras.device("cpu"):
        if rng is not None:
            if not layer.built:
                _build(layer, keras_call, inputs, args, kwargs, tensors)
            seeds = [_seed_from(rng, state)
                     for state in keras_layers.seed_states(layer)]
            return keras_layers.call_on_state(
                layer, inputs, args, kwargs, tensors, seeds=seeds)
        with _LOCK:
            if (multiprocessing.parent_process() is not None
                    and layer not in _RESEEDED):
                _mix_in_process(layer)
            if not layer.built:  # the first call builds it
                return keras_call(inputs, *args, **kwargs, **tensors)
            seeds = [_take_seed(state)
                     for state in keras_layers.seed_states(layer)]
        # Computed outside the lock: calls in Grain's threads run at once.
        return keras_layers.call_on_state(layer, inputs, args, kwargs,
                                          tensors, seeds=seeds)


def _build(layer, keras_call, inputs, args, kwargs, tensors):
    """Builds `layer` by a call whose draws are undone (its seed states
    put back)."""
    with _LOCK:
        if layer.built:
            return
        states = keras_layers.seed_states(layer)
        before = [keras.ops.convert_to_numpy(state.value) for state in states]
        keras_call(inputs, *args, **kwargs, **tensors)
        for state, value in zip(states, before, strict=True):
            state.assign(value)


def _take_seed(state):
    """A fresh seed state for one call, `[seed, 0]`, made from the layer's
    state `[seed, counter]`, which advances by one."""
    value = keras.ops.convert_to_numpy(state.value)
    words = np.random.SeedSequence([int(word) % 2**32 for word in value])
    seed = int(words.generate_state(1)[0]) % (2**31 - 1)
    state.assign(value + np.array([0, 1], dtype=value.dtype))
    return keras.ops.convert_to_tensor(
        np.array([seed, 0], dtype=value.dtype))


def _seed_from(rng, state):
    """A fresh seed state, `[seed, 0]`, drawn from Grain's generator."""
    dtype = keras.backend.standardize_dtype(state.dtype)
    seed = rng.integers(0, 2**31 - 1)
    return keras.ops.convert_to_tensor(np.array([seed, 0], dtype=dtype))


def _mix_in_process(layer):
    """Makes a worker process's copy of `layer` draw other numbers than
    the other workers' copies: each seed state's seed word is mixed with
    the process id."""
    for state in keras_layers.seed_states(layer):
        value = keras.ops.convert_to_numpy(state.value).copy()
        value[0] = (int(value[0]) * 1_000_003 + os.getpid()) % (2**31 - 1)
        state.assign(value)
    _RESEEDED.add(layer)
