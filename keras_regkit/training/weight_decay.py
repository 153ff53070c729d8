"""Decoupled weight decay with a scheduled rate, for any optimizer."""

import fnmatch

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import Scheduled
from keras_regkit.training._component import StepComponent


@keras.saving.register_keras_serializable(package="keras_regkit")
class DecoupledWeightDecay(StepComponent):
    """Weight decay applied after the optimizer's update, at any rate.

    Each decayed weight `w` moves by `-learning_rate * rate * w` (with `w`
    and the learning rate taken before the update), apart from the
    gradient: for a constant `rate` and `keras.optimizers.Adam` this is
    exactly `keras.optimizers.AdamW(weight_decay=rate)`, and it gives the
    same decoupling to SGD, RMSprop, Lion or any optimizer. Unlike the
    optimizers' `weight_decay`, `rate` may follow a schedule (read from a
    variable, so changing it never retraces), and `exclude` takes glob
    patterns of variable paths.

    Args:
        rate: float >= 0 or Schedule, the decay per unit of learning rate
            (Keras's `weight_decay`). Defaults to `0.004` (Keras's AdamW).
            May be a `Schedule` (moved by [`StrengthScheduler`][scheduled]).
        exclude: None or list of glob patterns matched against each
            variable's `path` (e.g. `"*/bias"`, `"*norm*"`); matching
            variables are not decayed. `None` excludes every variable with
            fewer than two dimensions (biases, normalization scales and
            offsets: timm's default); `[]` decays every weight. Defaults
            to `None`.

    Examples:

        >>> from keras_regkit.training import RegularizedModel
        >>> import numpy as np
        >>> inputs = keras.Input((3,))
        >>> model = RegularizedModel(
        ...     inputs,
        ...     keras.layers.Dense(1, kernel_initializer="ones")(inputs),
        ...     components=[DecoupledWeightDecay(rate=0.5)])
        >>> model.compile(keras.optimizers.SGD(0.1), "mse")
        >>> _ = model.fit(np.zeros((4, 3)), np.zeros((4, 1)), verbose=0)
        >>> kernel = keras.ops.convert_to_numpy(model.layers[-1].kernel)
        >>> round(float(kernel[0, 0]), 4)  # 1 - 0.1 * 0.5
        0.95

    References:
        Loshchilov & Hutter, Decoupled Weight Decay Regularization, 2019.
        https://arxiv.org/abs/1711.05101
    """

    rate = Scheduled(NON_NEGATIVE)
    exclusive = "weight decay (DecoupledWeightDecay)"

    def __init__(self, rate=0.004, exclude=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        if exclude is not None:
            exclude = checks.patterns(
                "DecoupledWeightDecay", "exclude", exclude,
                "None or a list of glob patterns (str)", allow_empty=True)
        self.exclude = exclude

    def decays(self, variable):
        """Whether `variable` is decayed."""
        if self.exclude is None:
            return len(variable.shape) >= 2
        return not any(fnmatch.fnmatchcase(variable.path, pattern)
                       for pattern in self.exclude)

    def check_optimizer(self, optimizer):
        """`learning_rate * rate` above 1 moves each weight past zero
        every step (its sign flips); checked with the values in force as
        `fit` starts (for schedules, the first ones)."""
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        rate = self.strength("rate").current
        learning_rate = float(keras.ops.convert_to_numpy(
            optimizer.learning_rate))
        if learning_rate * rate > 1.0:
            raise checks.invalid(
                "DecoupledWeightDecay", "rate", rate,
                f"at most 1 / learning_rate = {1.0 / learning_rate:g} (the "
                "optimizer's learning rate is "
                f"{learning_rate:g}; a larger product flips every decayed "
                "weight's sign each step)")

    def after_update(self, weights, step):
        factor = step.learning_rate * self.strength("rate").value
        return [
            -ops.cast(factor, w.dtype) * w if self.decays(v) else None
            for v, w in zip(step.variables, weights, strict=True)
        ]

    def get_config(self):
        return {**super().get_config(), "exclude": self.exclude}
