"""Shared plumbing of the stochastic layers: scheduled rate, seed, MC mode."""

import keras
import numpy as np

from keras_regkit import _checks as checks
from keras_regkit.strengths import RATE
from keras_regkit.strengths import HasStrengths
from keras_regkit.strengths import Scheduled


def check_rate(owner, rate, alternative="a Schedule"):
    """Keras's check and wording for a plain `rate`, plus what we allow.

    Keras's own unit tests match its sentence, so drop-in layers keep it.
    `rate` must be below 1: at 1 every unit is dropped and the rescaling
    `1 / (1 - rate)` is undefined.
    """
    if checks.is_number(rate) and not 0 <= rate < 1:
        raise ValueError(
            "Invalid value received for argument `rate`. Expected a "
            f"float value between 0 and 1 (1 excluded) or {alternative}, "
            f"for {owner}. Received: rate={rate}"
        )


def check_function_args(owner, rate, seed):
    """The function forms' `rate` and `seed`, checked as the layers check
    theirs: a number in [0, 1) (NumPy's too) or a scalar tensor (the
    layer's strength variable, unchecked data in a compiled step), and a
    `SeedGenerator` or int. Returns `rate`."""
    if isinstance(rate, np.ndarray) and rate.ndim == 0:
        rate = rate.item()
    check_rate(owner, rate, alternative="a scalar tensor")
    checks.seed_source(owner, seed)
    return checks.scalar(owner, "rate", rate, lambda r: True,
                         "a float in [0, 1) or a scalar tensor")


class Stochastic(HasStrengths):
    """The plumbing every dropout-like layer shares, `DropConnect` included.

    A scheduled `rate` (a float, or a `Schedule` whose value lives in a
    strength variable), exactly one `seed_generator`, and the
    `monte_carlo` switch. Mixed into a Keras layer class; the layer calls
    `init_stochastic` in `__init__`, asks `is_active(training)` in `call`
    and merges `stochastic_config()` into `get_config`.
    """

    rate = Scheduled(RATE)

    def init_stochastic(self, rate, seed, monte_carlo):
        owner = type(self).__name__
        check_rate(owner, rate)
        checks.boolean(owner, "monte_carlo", monte_carlo)
        checks.seed(owner, seed)
        self.rate = rate
        self.seed = seed
        self.monte_carlo = monte_carlo
        # Created even at rate 0: a schedule may raise the rate later.
        self.seed_generator = keras.random.SeedGenerator(seed)

    def is_active(self, training):
        """Whether `call` drops: training (or MC mode), and a rate that is
        not a plain 0 (which can never change)."""
        return bool(training or self.monte_carlo) and not (
            self.strength("rate").is_off)

    def stochastic_config(self):
        return {**self.declared_config(), "seed": self.seed,
                "monte_carlo": self.monte_carlo}


class StochasticLayer(Stochastic, keras.layers.Layer):
    """Base of keras_regkit's dropout-like layers.

    Subclasses implement `drop(inputs, rate)` with a pure function.

    Args:
        rate: float in [0, 1) or `Schedule`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        seed: int or None, seed of the layer's `SeedGenerator`.
        monte_carlo: bool, stay active at inference (MC dropout). Defaults to
            `False`.
    """

    def __init__(self, rate, seed=None, monte_carlo=False, **kwargs):
        super().__init__(**kwargs)
        self.init_stochastic(rate, seed, monte_carlo)
        self.supports_masking = True

    def mark_built_if_stateless(self):
        """Marks the layer built at construction, as Keras does for layers
        whose `build` is not overridden (they create no shape-dependent
        state); a subclass that overrides `build` is built on first call."""
        if type(self).build is keras.layers.Layer.build:
            self.built = True

    def drop(self, inputs, rate):
        raise NotImplementedError

    def call(self, inputs, training=False):
        if not self.is_active(training):
            return inputs
        return self.drop(inputs, self.strength("rate").value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), **self.stochastic_config()}
