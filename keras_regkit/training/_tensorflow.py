"""The train step's TensorFlow executor: tape gradients, `tf.distribute`.

Keras compiles `train_step` with `tf.function` (and XLA with
`jit_compile=True`); under a `tf.distribute` strategy it runs once per
replica, each on its share of the batch, with the loss already divided by
the replica count.
"""

from keras_regkit.training._step import run_in_place


def _replicas():
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


class Executor:
    """What `Step` asks of this backend."""

    @staticmethod
    def value_and_grad(fn, args):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(args)
            value, aux = fn(args)
        gradients = tape.gradient(
            value, args, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return (value, aux), gradients

    @staticmethod
    def compiled(fn):
        """`fn` as one TensorFlow graph (an evaluation's attack)."""
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)

    @staticmethod
    def global_sum(gradients):
        import tensorflow as tf

        if _replicas() == 1:
            return gradients
        return tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, gradients)

    @staticmethod
    def unscaled(loss):
        return loss * _replicas()


def train_step(model, data):
    step, gradients, loss, y_pred, batch = run_in_place(
        model, Executor, data)
    gradients = step.for_optimizer(gradients)
    replicas = _replicas()
    if replicas > 1:
        # The optimizer sums across replicas again.
        gradients = [g / replicas for g in gradients]
    model.optimizer.apply_gradients(zip(gradients,
                                        model.trainable_variables, strict=True))
    if step.corrections is not None:
        for variable, change in zip(model.trainable_variables,
                                    step.corrections, strict=True):
            if change is not None:
                variable.assign_add(change)
    return model._record(Executor.unscaled(loss), batch, y_pred, step.logs,
                         step.finite)
