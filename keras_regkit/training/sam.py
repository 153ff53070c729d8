"""Sharpness-aware minimization (SAM) and adaptive SAM (ASAM)."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit.strengths import Bounds
from keras_regkit.strengths import Scheduled
from keras_regkit.training._component import StepComponent

# The neighbourhood radius, in weight units: published values lie in
# [0.01, 2] (SAM about 0.05, ASAM about 2); past 100 the ascent step alone
# overflows or wipes out any network's weights.
RHO = Bounds(0.0, 100.0)


def sam_perturbation(gradients, weights, rho, adaptive=False, eps=1e-12):
    """SAM's ascent step `e(w)`.

    Plain SAM: `rho * g / ||g||`. Adaptive SAM: `rho * w^2 g / ||w g||`
    (each coordinate scaled by its weight, so the neighbourhood is
    scale-invariant).

    Examples:

        >>> g = [keras.ops.convert_to_tensor([3.0, 4.0])]
        >>> w = [keras.ops.convert_to_tensor([1.0, 1.0])]
        >>> [round(float(v), 3) for v in sam_perturbation(g, w, 0.5)[0]]
        [0.3, 0.4]
    """
    rho = checks.scalar("sam_perturbation", "rho", rho, lambda v: v in RHO,
                        RHO.describe() + " or a scalar tensor")
    checks.boolean("sam_perturbation", "adaptive", adaptive)
    checks.number("sam_perturbation", "eps", eps, lambda v: v > 0,
                  "a float > 0")
    if adaptive:
        scaled = [ops.abs(w) * g
                  for g, w in zip(gradients, weights, strict=True)]
    else:
        scaled = list(gradients)
    norm = ops.sqrt(sum(ops.sum(ops.square(s)) for s in scaled))
    factor = rho / (norm + eps)
    if adaptive:
        return [factor * ops.abs(w) * s
                for s, w in zip(scaled, weights, strict=True)]
    return [factor * s for s in scaled]


@keras.saving.register_keras_serializable(package="keras_regkit")
class SAM(StepComponent):
    """Sharpness-aware minimization: descend from the worst nearby point.

    Each step computes the gradient `g` at the weights `w`, moves to
    `w + e` with `e = rho * g / ||g||` (adaptive: scaled by `|w|`), and
    applies the gradient taken there. Cost: two forward and two backward
    passes per step, so a step takes about twice as long (see
    `benchmarks/train_step.py`); memory holds one extra copy of the
    gradients. The step logs `sam_sharpness`, the loss at `w + e` minus
    the loss at `w`. Layer state updated in the second pass (batch-norm
    statistics, seeds) is discarded, so dropout masks are the same in both
    passes.

    Args:
        rho: float > 0 or Schedule, the neighbourhood radius. Defaults to
            `0.05` (`2.0` is typical with `adaptive=True`). May be a `Schedule`
            (moved by [`StrengthScheduler`][scheduled]).
        adaptive: bool, ASAM's scale-invariant neighbourhood. Defaults to
            `False`.

    Examples:

        >>> SAM(rho=0.1).get_config()["rho"]
        0.1

    References:
        Foret et al., Sharpness-Aware Minimization for Efficiently Improving
        Generalization, 2021. https://arxiv.org/abs/2010.01412
        Kwon et al., ASAM: Adaptive Sharpness-Aware Minimization, 2021.
        https://arxiv.org/abs/2102.11600
    """

    logs = ("sam_sharpness",)
    exclusive = "SAM"

    rho = Scheduled(RHO)

    def __init__(self, rho=0.05, adaptive=False, **kwargs):
        super().__init__(**kwargs)
        checks.optional_positive("SAM", "rho", rho)
        self.adaptive = checks.boolean("SAM", "adaptive", adaptive)
        self.rho = rho

    def perturbation(self, gradients, weights):
        return sam_perturbation(gradients, weights, self.strength("rho").value,
                                self.adaptive)

    def extra_gradient(self, gradients, batch, loss, step):
        weights = step.weights
        # The ascent follows the whole batch's gradient, as on one device.
        perturbation = self.perturbation(step.global_sum(gradients), weights)
        shifted = [w + e for w, e in zip(weights, perturbation, strict=True)]
        shifted_loss, gradients = step.loss_and_gradients(shifted, batch)
        step.log("sam_sharpness", step.unscaled(shifted_loss - loss))
        return gradients

    def get_config(self):
        return {**super().get_config(), "adaptive": self.adaptive}
