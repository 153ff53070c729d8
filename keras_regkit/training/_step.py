"""One regularizing train step, written once for every backend.

`Step.run(data)` computes the gradients to apply (and the loss, the
predictions and the components' logs) as pure functions of the model's
variable values: it runs inside a `keras.StatelessScope` that maps every
variable of the model, its optimizer and its metrics, so the same code
serves TensorFlow and torch (which then write the new values back) and JAX
(which returns them as the new state). What differs per backend is how to
take a gradient and how to sum across replicas: the executor (`_tensorflow`,
`_jax`, `_torch`) passed in.
"""

from typing import Any
from typing import NamedTuple

import keras
from keras import ops


class StepBatch(NamedTuple):
    """A batch as the components see it.

    `label_mixing` is None or `(weight, order)`: the loss is
    `weight * loss(y) + (1 - weight) * loss(y[order])` per example; or
    `(weight, order, label_smoothing)`: the loss of the mixed, smoothed
    one-hot labels (one-hot targets: the model's loss must take them).
    """

    x: Any
    y: Any
    sample_weight: Any
    label_mixing: Any = None

    def repeated(self, times):
        """The batch `times` times over, one copy after another (label
        mixing's partners index their own copy)."""
        size = ops.shape(keras.tree.flatten(self.x)[0])[0]

        def repeat(value):
            return keras.tree.map_structure(
                lambda v: ops.concatenate([v] * times, axis=0), value)

        mixing = self.label_mixing
        if mixing is not None:
            weight, order, *rest = mixing
            order = ops.concatenate(
                [order + ops.cast(k * size, order.dtype)
                 for k in range(times)], 0)
            mixing = (repeat(weight), order, *rest)
        return StepBatch(repeat(self.x), repeat(self.y),
                         None if self.sample_weight is None
                         else repeat(self.sample_weight), mixing)


def _unique(variables):
    seen, out = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            out.append(variable)
    return out


def state_variables(model):
    """Every variable a step reads or writes, each once."""
    optimizer = list(model.optimizer.variables) if model.optimizer else []
    return _unique(list(model.trainable_variables)
                   + list(model.non_trainable_variables) + optimizer
                   + list(model.metrics_variables))


class Step:
    """The backend-neutral train step and what components may ask of it.

    Args:
        model: the regularized model (has `step_components` and `_loss`).
        executor: the backend's `value_and_grad`, `global_sum`, `unscaled`.
        scope: the active `keras.StatelessScope` mapping every state
            variable to its value at the start of the step.
    """

    def __init__(self, model, executor, scope):
        self.model = model
        self.executor = executor
        self._scope = scope
        self.variables = list(model.trainable_variables)
        self._state = state_variables(model)
        self._held = _unique(list(model.non_trainable_variables)
                             + list(model.metrics_variables))
        self.logs = {}
        self._squares = None
        self._scale, self._skips = _loss_scale(model.optimizer)
        self.finite = None

    # What components use.

    @property
    def weights(self):
        """The trainable variables' current values (tensors)."""
        return [self._current(v) for v in self.variables]

    @property
    def learning_rate(self):
        """The optimizer's learning rate for this step, as a tensor (a
        schedule's value at the current iteration)."""
        return ops.convert_to_tensor(self.model.optimizer.learning_rate)

    @property
    def iterations(self):
        """The optimizer's step count, as a tensor."""
        return self._current(self.model.optimizer.iterations)

    def log(self, name, value):
        """Logs `value` (a scalar tensor) under `name` for this step."""
        self.logs[name] = value

    def loss_and_gradients(self, weights, batch):
        """`(loss, gradients)` with `weights` in place of the trainable
        variables; layer state changes of this pass are discarded."""
        (loss, _), gradients = self._value_and_grad(
            lambda w: self._loss(w, batch), weights)
        return loss, gradients

    def input_gradient(self, batch):
        """`(loss, d loss / d batch.x)` at the current weights; layer state
        changes of this pass are discarded."""
        weights = self.weights
        (loss, _), gradient = self._value_and_grad(
            lambda x: self._loss(weights, batch._replace(x=x)), batch.x)
        return loss, gradient

    def predictions(self, x):
        """The model's training-mode predictions for `x` at the current
        weights; layer state changes of this pass are discarded."""
        mapping = [(v, self._current(v)) for v in self._state]
        with keras.StatelessScope(state_mapping=mapping):
            return self.model(x, training=True)

    def input_gradient_of(self, objective, x):
        """`(objective, d objective / d x)` for a scalar function of the
        predictions, `objective(predictions(x))`, at the current weights
        (an adversary's own loss, such as TRADES's divergence)."""
        (value, _), gradient = self._value_and_grad(
            lambda v: (objective(self.predictions(v)), None), x)
        return value, gradient

    def global_sum(self, gradients):
        """The gradients summed across replicas (the whole batch's)."""
        return self.executor.global_sum(gradients)

    def unscaled(self, loss):
        """The loss before Keras divided it by the replica count."""
        return self.executor.unscaled(loss)

    def squares(self, gradients):
        """Each gradient's sum of squares, computed once per list."""
        if self._squares is None or self._squares[0] is not gradients:
            self._squares = (gradients,
                             [ops.sum(ops.square(g)) for g in gradients])
        return self._squares[1]

    def remember_squares(self, gradients, squares):
        self._squares = (gradients, squares)

    # The step itself.

    def _value_and_grad(self, fn, args):
        """The executor's `value_and_grad` of `fn`'s loss, scaled by the
        optimizer's loss scale (mixed precision) for the backward pass:
        the loss and gradients returned are unscaled, so every component
        reads true values (as Keras's `clipnorm` inside a
        `LossScaleOptimizer` does)."""
        scale = self._scale
        if scale is None:
            return self.executor.value_and_grad(fn, args)

        def scaled(value):
            loss, aux = fn(value)
            return loss * ops.cast(scale, loss.dtype), aux

        (loss, aux), gradients = self.executor.value_and_grad(scaled, args)
        gradients = keras.tree.map_structure(
            lambda g: g / ops.cast(scale, g.dtype), gradients)
        return (loss / ops.cast(scale, loss.dtype), aux), gradients

    def for_optimizer(self, gradients):
        """The (unscaled) gradients as the optimizer expects them: scaled
        again by its loss scale, which it divides by; a step whose
        backward pass overflowed is handed over as non-finite, so a
        `LossScaleOptimizer` skips it and lowers its scale, whatever the
        components made of the overflow."""
        if self._scale is None:
            return gradients
        factor = self._scale
        if self._skips:
            factor = ops.where(self.finite, factor, float("nan"))
        return [g * ops.cast(factor, g.dtype) for g in gradients]

    def _current(self, variable):
        value = self._scope.get_current_value(variable)
        return variable.value if value is None else value

    def _loss(self, weights, batch):
        """The loss at `weights` and the state the pass would leave."""
        overrides = {id(v): w
                     for v, w in zip(self.variables, weights, strict=True)}
        mapping = [(v, overrides.get(id(v), self._current(v)))
                   for v in self._state]
        with keras.StatelessScope(state_mapping=mapping,
                                  collect_losses=True) as scope:
            y_pred = self.model(batch.x, training=True)
            loss = self.model._loss(batch.x, batch.y, y_pred,
                                    batch.sample_weight, batch.label_mixing)
            outer, self.logs = self.logs, {}
            for component in self._components:
                loss = loss + component.loss_term(y_pred, batch, self)
            # Logs of loss terms leave the gradient's trace as its outputs.
            term_logs, self.logs = self.logs, outer
        held = [scope.get_current_value(v) for v in self._held]
        return loss, (y_pred, held, term_logs)

    @property
    def _components(self):
        return sorted(self.model.step_components, key=lambda c: c.order)

    def run(self, data):
        """Returns `(gradients, loss, y_pred, batch)`; logs in `self.logs`,
        what to add to the weights after the update in `self.corrections`
        (None, or one tensor or None per trainable variable).

        Variables changed by the step (layer state of the training pass,
        seeds, strengths' readers' seeds) are assigned in the scope.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        components = self._components
        if any(c.float_inputs for c in components) and "int" in str(
                getattr(x, "dtype", "")):
            x = ops.cast(x, "float32")  # uint8 images can be mixed/perturbed
        batch = StepBatch(x, y, sample_weight)
        for component in components:
            batch = component.transform_batch(batch, self)

        (loss, (y_pred, held, term_logs)), gradients = (
            self._value_and_grad(lambda w: self._loss(w, batch),
                                 self.weights))
        self.logs.update(term_logs)
        for variable, value in zip(self._held, held, strict=True):
            if value is not None:
                variable.assign(value)

        for component in components:
            gradients = component.extra_gradient(gradients, batch, loss,
                                                 self)
        gradients = self.global_sum(gradients)
        if self._skips:
            self.finite = ops.all(ops.stack(
                [ops.all(ops.isfinite(g)) for g in gradients]))
        for component in components:
            gradients = component.transform_gradients(gradients, self)
        self.corrections = None
        weights = self.weights
        for component in components:
            change = component.after_update(weights, self)
            if change is not None:
                self.corrections = change if self.corrections is None else [
                    b if a is None else a if b is None else a + b
                    for a, b in zip(self.corrections, change, strict=True)]
        if self.corrections is not None and self._skips:
            # A skipped step changes no weight.
            self.corrections = [
                None if c is None else ops.where(self.finite, c, 0.0)
                for c in self.corrections]
        return gradients, loss, y_pred, batch


def _loss_scale(optimizer):
    """`(scale, skips)`: the factor `optimizer` divides gradients by (its
    dynamic loss scale under `mixed_float16`, or `loss_scale_factor`), as
    a float32 tensor, or None; and whether it skips non-finite steps (a
    `LossScaleOptimizer`)."""
    if optimizer is None:
        return None, False
    scale = optimizer.scale_loss(1.0)
    if isinstance(scale, int | float) and scale == 1:
        return None, False
    skips = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    return ops.cast(scale, "float32"), skips


class OneProgramExecutor:
    """Replica handling for backends where one program sees the whole batch
    (JAX, also under `keras.distribution`; torch): nothing to sum or
    rescale. Executors add `value_and_grad`."""

    @staticmethod
    def global_sum(gradients):
        return gradients

    @staticmethod
    def unscaled(loss):
        return loss


def run_in_place(model, executor, data):
    """`Step.run` for backends whose variables are updated in place
    (TensorFlow, torch): the step's state changes are assigned after it.

    Returns `(step, gradients, loss, y_pred, batch)`.
    """
    variables = state_variables(model)
    with keras.StatelessScope(
            state_mapping=[(v, v.value) for v in variables]) as scope:
        start = [scope.get_current_value(v) for v in variables]
        step = Step(model, executor, scope)
        gradients, loss, y_pred, batch = step.run(data)
    for variable, before in zip(variables, start, strict=True):
        value = scope.get_current_value(variable)
        if value is not before:
            variable.assign(value)
    return step, gradients, loss, y_pred, batch
