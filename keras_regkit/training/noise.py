"""Annealed Gaussian gradient noise."""

import math

import keras
from keras import ops

from keras_regkit import _random
from keras_regkit._strength import NON_NEGATIVE
from keras_regkit.training._component import StepComponent


@keras.saving.register_keras_serializable(package="keras_regkit")
class GradientNoise(StepComponent):
    """Adds Gaussian noise to the gradients, decaying over steps.

    The standard deviation at optimizer step `t` is
    `scale / (1 + t) ** decay` (Neelakantan et al. use `decay=0.55` and a
    variance `eta` of 0.01 to 1, i.e. `scale = sqrt(eta)`). The noise is
    added after gradients are summed across replicas, so replicas stay in
    sync.

    Args:
        scale: float >= 0 or Schedule, the standard deviation at step 0.
            Defaults to `0.01`. May be a `Schedule`; needs
            `StrengthScheduler` in `fit(callbacks=...)` to change over
            training.
        decay: float >= 0, the exponent of the decay. Defaults to `0.55`.
        seed: int or None. Defaults to `None`.

    Example:

    >>> GradientNoise(scale=0.1).decay
    0.55

    References:
        Neelakantan et al., Adding Gradient Noise Improves Learning for Very
        Deep Networks, 2015. https://arxiv.org/abs/1511.06807
    """

    kind = "noise"

    def __init__(self, scale=0.01, decay=0.55, **kwargs):
        super().__init__(**kwargs)
        self._scale = self.strength("scale", scale, NON_NEGATIVE)
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) \
                or decay < 0:
            raise ValueError(
                "Invalid value for argument `decay` of GradientNoise: "
                f"expected a float >= 0. Received: decay={decay!r}"
            )
        self.decay = float(decay)

    def apply(self, gradients, step):
        std = self._scale.value / (1.0 + ops.cast(step, "float32")) ** (
            self.decay)
        sizes = [math.prod(g.shape) for g in gradients]
        noise = _random.normal((sum(sizes),), self.seed_generator)
        noisy, start = [], 0
        for gradient, size in zip(gradients, sizes):
            piece = ops.reshape(noise[start:start + size], gradient.shape)
            noisy.append(gradient + std * ops.cast(piece, gradient.dtype))
            start += size
        return noisy

    def get_config(self):
        return {**super().get_config(), "scale": self._scale.config(),
                "decay": self.decay}
