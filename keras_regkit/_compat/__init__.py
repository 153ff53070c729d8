"""The one boundary for backend code and Keras internals.

Everything in keras_regkit is `keras.ops` code on Keras's public API,
except what lives here (and the train step's per-backend executors,
`training/_tensorflow.py`, `_jax.py`, `_torch.py`). Each module is one
concern; each entry that uses a private Keras name says what Keras does
and since which version, so that widening the supported Keras range means
reading this package only. `tests/test_layering.py` fails when a module
outside it imports `keras.src`, `tensorflow`, `jax` or `torch`, or touches
a private attribute of a Keras object.

- `keras_backend`: Keras's backend state that has no public query.
- `keras_layers`: a model's layer tree, attaching a sublayer to a built
  model, a layer called on its state (seed states included).
- `keras_callbacks`: the private hooks of Keras's `BackupAndRestore` and
  `EarlyStopping` under names of ours.
- `tensorflow`: TensorFlow outside XLA (Philox draws, augmentation compiled
  as a function of its own), XLA on a CPU, TF32.
- `tf_data`: running inside `tf.data` functions (seed counters, batch
  counters, other backends' layers through `tf.numpy_function`).
- `grain`: running inside Grain pipelines (a Grain caller found on the
  stack, seeds from `random_map`'s generator, worker processes).
- `jax`: JAX tracing, full-precision matmul, `jax.jit`.
- `torch`: torch's global random generators.

Nothing here imports from the rest of keras_regkit.
"""
