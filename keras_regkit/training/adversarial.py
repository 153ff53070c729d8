"""Adversarial training with FGSM perturbations of the inputs."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import PROBABILITY
from keras_regkit.strengths import Scheduled
from keras_regkit.training._component import StepComponent


def fgsm(inputs, input_gradient, epsilon, value_range=None):
    """`inputs + epsilon * sign(input_gradient)`, clipped to `value_range`.

    Examples:

        >>> x = keras.ops.convert_to_tensor([0.5, 0.5])
        >>> g = keras.ops.convert_to_tensor([2.0, -0.1])
        >>> [round(float(v), 3) for v in fgsm(x, g, 0.1)]
        [0.6, 0.4]
    """
    epsilon = checks.scalar("fgsm", "epsilon", epsilon, lambda v: v >= 0,
                            "a float >= 0 or a scalar tensor")
    if value_range is not None:
        value_range = checks.value_range("fgsm", value_range)
    adversarial = ops.convert_to_tensor(inputs) + epsilon * ops.sign(
        input_gradient)
    if value_range is not None:
        adversarial = ops.clip(adversarial, *value_range)
    return adversarial


@keras.saving.register_keras_serializable(package="keras_regkit")
class AdversarialTraining(StepComponent):
    """Trains on FGSM adversarial examples for a share of each batch.

    Each step takes the gradient of the loss with respect to the inputs
    (one extra forward and backward pass, its layer state discarded),
    replaces a random `share` of the batch by `x + epsilon * sign(grad)`,
    and trains on the result. The step logs `adversarial_share`.

    Args:
        epsilon: float >= 0 or Schedule, the perturbation size in input
            units. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        share: float in [0, 1] or Schedule, the fraction of examples
            replaced. Defaults to `0.5`.
        value_range: `(low, high)` the perturbed inputs are clipped to, or
            None. Defaults to `None`.
        seed: int or None. Defaults to `None`.

    Examples:

        >>> AdversarialTraining(epsilon=0.03, value_range=(0, 1)).share
        0.5

    References:
        Goodfellow et al., Explaining and Harnessing Adversarial Examples,
        2015. https://arxiv.org/abs/1412.6572
    """

    logs = ("adversarial_share",)
    order = 1  # after mixing: the adversary attacks the mixed batch
    exclusive = "adversarial"
    float_inputs = True

    epsilon = Scheduled(NON_NEGATIVE)
    share = Scheduled(PROBABILITY)

    def __init__(self, epsilon, share=0.5, value_range=None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.share = share
        if value_range is not None:
            value_range = tuple(float(v) for v in checks.value_range(
                "AdversarialTraining", value_range,
                "None or (low, high) with low < high"))
        self.value_range = value_range

    def perturb(self, inputs, input_gradient):
        """Returns the mixed batch and the 0/1 mask of perturbed rows."""
        epsilon = self.strength("epsilon").value
        adversarial = fgsm(inputs, input_gradient, epsilon,
                           self.value_range)
        batch = ops.shape(inputs)[0]
        chosen = _random.uniform((batch,), self.seed_generator) < (
            self.strength("share").value)
        mask = ops.reshape(chosen, (-1,) + (1,) * (len(inputs.shape) - 1))
        return ops.where(mask, adversarial, inputs), ops.cast(chosen,
                                                              "float32")

    def transform_batch(self, batch, step):
        _, gradient = step.input_gradient(batch)
        x, chosen = self.perturb(batch.x, gradient)
        step.log("adversarial_share", ops.mean(chosen))
        return batch._replace(x=x)

    def get_config(self):
        return {**super().get_config(),
                "value_range": (None if self.value_range is None
                                else list(self.value_range))}
