"""The component protocol: the hooks a train step offers its components.

A step runs, in order (see `_step.Step`):

1. `transform_batch(batch, step)` of every component: replace the inputs
   (adversarial examples) or mix inputs and labels (MixUp, CutMix);
2. the forward and backward pass, with `loss_term(y_pred, batch, step)`
   of every component added to the loss (R-Drop's consistency);
3. `extra_gradient(gradients, batch, loss, step)`: replace the gradients
   by others computed from more passes (SAM);
4. the sum across replicas;
5. `transform_gradients(gradients, step)`: change the summed gradients
   (noise, clipping);
6. the optimizer update, then `after_update(weights, step)`: what to add
   to each weight after the update, computed from the weights before it
   (decoupled weight decay).

A component holds backend-neutral `keras.ops` maths only: everything that
needs a gradient or the replicas goes through `step` (`step.input_gradient`,
`step.loss_and_gradients`, `step.global_sum`), which each backend's
executor implements once. Components log with `step.log(name, value)` the
names they declare in `logs`.
"""

import keras

from keras_regkit import _checks as checks
from keras_regkit.strengths import HasStrengths


class StepComponent(HasStrengths, keras.layers.Layer):
    """One regularizing piece of a train step (clipping, SAM, ...).

    Components are layers only so that the model tracks, saves and
    serializes them and `StrengthScheduler` finds their strengths
    (`<component>/<argument>`); they are never called on data. Subclasses
    override one or more hooks; the default hooks change nothing.
    Strengths are declared in the class body (`rho = Scheduled()`), as in
    layers. Write hooks with `keras.ops` only, and the component runs on
    every backend; register it (`keras.saving.register_keras_serializable`)
    to save models that use it.

    Examples:

        >>> class HalveGradients(StepComponent):
        ...     logs = ("halved",)
        ...     def transform_gradients(self, gradients, step):
        ...         step.log("halved", keras.ops.convert_to_tensor(1.0))
        ...         return [0.5 * g for g in gradients]
        >>> from keras_regkit.training import RegularizedModel
        >>> inputs = keras.Input((3,))
        >>> model = RegularizedModel(inputs, keras.layers.Dense(1)(inputs),
        ...                          components=[HalveGradients()])
        >>> model.compile("sgd", "mse")
        >>> import numpy as np
        >>> history = model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
        >>> history.history["halved"]
        [1.0]
    """

    #: Names of the metrics this component logs (a mean over each epoch).
    logs = ()
    #: Within one hook, components run by increasing `order` (then in the
    #: order given): mixing (0) before adversarial examples (1), noise (0)
    #: before clipping (1).
    order = 0
    #: Components of the same group cannot share a step (two label
    #: mixings, two extra-gradient passes).
    exclusive = None
    #: Whether `transform_batch` computes with the inputs (blends or
    #: perturbs them): integer inputs (uint8 images) are then made float32.
    float_inputs = False

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = checks.seed(type(self).__name__, seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def transform_batch(self, batch, step):
        """Returns the `StepBatch` to train on."""
        return batch

    def extra_gradient(self, gradients, batch, loss, step):
        """Returns the gradients to use instead of those at the weights."""
        return gradients

    def transform_gradients(self, gradients, step):
        """Returns the gradients (summed across replicas) to apply."""
        return gradients

    def loss_term(self, y_pred, batch, step):
        """Returns a scalar added to the loss (and differentiated)."""
        return 0.0

    def after_update(self, weights, step):
        """Returns None, or one tensor (or None: unchanged) per trainable
        weight to add to it after the optimizer's update; `weights` are
        the values before."""

    def check_optimizer(self, optimizer):
        """Raises a `ValueError` where the component's settings make no
        sense with `optimizer`; called as `fit` starts, before any step."""

    def call(self, inputs):
        raise TypeError(
            f"{type(self).__name__} is a train-step component: give it to "
            "RegularizedModel(..., components=[...]) or "
            "keras_regkit.training.regularize(model, [...]); it is not "
            "called on data."
        )

    def get_config(self):
        return {**super().get_config(), **self.declared_config(),
                "seed": self.seed}
