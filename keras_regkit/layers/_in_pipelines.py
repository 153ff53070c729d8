"""Layers that also run in `tf.data` and Grain pipelines, under any
backend."""

from keras_regkit._compat import grain as grain_compat
from keras_regkit._compat import tensorflow as tf_compat
from keras_regkit._compat import tf_data
from keras_regkit.strengths import collect_strengths


class RunsInPipelines:
    """Mixed into a Keras layer class (before it) so that the layer runs in
    a `tf.data` or Grain map as in a model.

    Under JAX or torch, the backend computes the batch as the pipeline's
    graph runs (see `_compat.tf_data`); under TensorFlow the layer's ops go
    into the graph. In Grain (`map`, or `random_map` for draws fixed by
    the record's index) it runs on the CPU and returns NumPy arrays (see
    `_compat.grain`). Batches made in a pipeline are counted for a layer
    whose strengths follow a schedule, so that `StrengthScheduler` moves
    them there too.
    """

    def __call__(self, inputs, *args, **kwargs):
        if tf_data.in_foreign_graph(inputs):
            return tf_data.call_in_graph(self, inputs, args, kwargs,
                                         self._scheduled())
        if grain_compat.in_pipeline(inputs):
            return grain_compat.call(self, super().__call__, inputs, args,
                                     kwargs, self._scheduled())
        if not (tf_data.in_dataset_function() and self._scheduled()):
            return super().__call__(inputs, *args, **kwargs)
        return tf_compat.after(tf_data.count_pipeline_use(self),
                               super().__call__(inputs, *args, **kwargs))

    def _scheduled(self):
        """Whether a strength of this layer (or of a layer it holds)
        follows a schedule."""
        return any(not s.is_constant
                   for s in collect_strengths(self).values())
