"""Annealed Gaussian gradient noise."""

import math

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit import schedules
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import Scheduled
from keras_regkit.training._component import StepComponent


@keras.saving.register_keras_serializable(package="keras_regkit")
class GradientNoise(StepComponent):
    """Adds Gaussian noise to the gradients, decaying over steps.

    The standard deviation at optimizer step `t` is
    `scale / (1 + t) ** decay`, the `schedules.InverseDecay` annealing
    evaluated on the device from the optimizer's step count (so it needs no
    callback and follows every step). Neelakantan et al. use `decay=0.55` and a
    variance `eta` of 0.01 to 1, i.e. `scale = sqrt(eta)`). The noise is
    added after gradients are summed across replicas, so replicas stay in
    sync.

    Args:
        scale: float >= 0 or Schedule, the standard deviation at step 0.
            Defaults to `0.01`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        decay: float >= 0, the exponent of the decay. Defaults to `0.55`.
        seed: int or None. Defaults to `None`.

    Examples:

        >>> GradientNoise(scale=0.1).decay
        0.55

    References:
        Neelakantan et al., Adding Gradient Noise Improves Learning for Very
        Deep Networks, 2015. https://arxiv.org/abs/1511.06807
    """

    scale = Scheduled(NON_NEGATIVE)

    def __init__(self, scale=0.01, decay=0.55, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.decay = checks.number("GradientNoise", "decay", decay,
                                   lambda v: v >= 0, "a float >= 0")
        self.annealing = schedules.InverseDecay(1.0, self.decay, unit="step")

    def apply(self, gradients, step):
        std = self.strength("scale").value * self.annealing.tensor_value(
            ops.cast(step, "float32"))
        sizes = [math.prod(g.shape) for g in gradients]
        noise = _random.normal((sum(sizes),), self.seed_generator)
        noisy, start = [], 0
        for gradient, size in zip(gradients, sizes, strict=True):
            piece = ops.reshape(noise[start:start + size], gradient.shape)
            noisy.append(gradient + std * ops.cast(piece, gradient.dtype))
            start += size
        return noisy

    def transform_gradients(self, gradients, step):
        return self.apply(gradients, step.iterations)

    def get_config(self):
        return {**super().get_config(), "decay": self.decay}
