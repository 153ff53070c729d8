"""The train step's JAX executor: a pure function of the state.

Keras compiles `train_step(state, data)` with `jax.jit` (and shards state
and data under `keras.distribution`, where XLA makes every gradient the
whole batch's, so no explicit sum is needed).
"""

import keras

from keras_regkit.training._step import OneProgramExecutor
from keras_regkit.training._step import Step


class Executor(OneProgramExecutor):
    """What `Step` asks of this backend."""

    @staticmethod
    def value_and_grad(fn, args):
        import jax

        return jax.value_and_grad(fn, has_aux=True)(args)

    @staticmethod
    def compiled(fn):
        """`fn` compiled by `jax.jit` (an evaluation's attack: the model's
        weights are read when it is traced, so make a new one for new
        weights)."""
        import jax

        return jax.jit(fn)


def _values_after(scope, variables, values):
    new = [scope.get_current_value(v) for v in variables]
    return [old if value is None else value
            for value, old in zip(new, values, strict=True)]


def train_step(model, state, data):
    groups = (model.trainable_variables, model.non_trainable_variables,
              model.optimizer.variables, model.metrics_variables)
    mapping = [pair for variables, values in zip(groups, state, strict=True)
               for pair in zip(variables, values, strict=True)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        step = Step(model, Executor, scope)
        gradients, loss, y_pred, batch = step.run(data)
    trainable, non_trainable, optimizer_values, metrics = (
        _values_after(scope, variables, values)
        for variables, values in zip(groups, state, strict=True))
    trainable, optimizer_values = model.optimizer.stateless_apply(
        optimizer_values, step.for_optimizer(gradients), trainable)
    if step.corrections is not None:
        trainable = [w if c is None else w + c
                     for w, c in zip(trainable, step.corrections, strict=True)]
    with keras.StatelessScope(
            state_mapping=list(zip(groups[3], metrics, strict=True))) as scope:
        logs = model._record(loss, batch, y_pred, step.logs, step.finite)
    metrics = _values_after(scope, groups[3], metrics)
    return logs, (trainable, non_trainable, optimizer_values, metrics)
