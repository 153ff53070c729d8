"""Shared plumbing of the stochastic layers: scheduled rate, seed, MC mode."""

import numbers

import keras

from keras_regkit._strength import RATE
from keras_regkit._strength import add_strength


def check_rate(owner, rate):
    """Keras's check and wording for a plain `rate`, plus what we allow.

    Keras's own unit tests match its sentence, so drop-in layers keep it.
    `rate` must be below 1: at 1 every unit is dropped and the rescaling
    `1 / (1 - rate)` is undefined.
    """
    if isinstance(rate, numbers.Real) and not isinstance(rate, bool):
        if not 0 <= rate < 1:
            raise ValueError(
                "Invalid value received for argument `rate`. Expected a "
                f"float value between 0 and 1 (1 excluded) or a Schedule, for "
                f"{owner}. Received: rate={rate}"
            )


def check_seed(owner, seed):
    """`seed` must be an int or None (every stochastic object checks it)."""
    if seed is not None and (isinstance(seed, bool)
                             or not isinstance(seed, int)):
        raise TypeError(
            f"Invalid type for argument `seed` of {owner}: expected an int "
            f"or None. Received: seed={seed!r}"
        )


def check_stochastic_args(owner, rate, seed, monte_carlo):
    """The checks every dropout-like layer (and DropConnect) shares."""
    check_rate(owner, rate)
    if not isinstance(monte_carlo, bool):
        raise TypeError(
            f"Invalid type for argument `monte_carlo` of {owner}: expected "
            f"a bool. Received: monte_carlo={monte_carlo!r}"
        )
    check_seed(owner, seed)


def resolve_data_format(owner, data_format):
    """`data_format`, defaulting to Keras's image data format; checked."""
    if data_format is None:
        data_format = keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"Invalid value for argument `data_format` of {owner}: expected "
            '"channels_last" or "channels_first". Received: '
            f"data_format={data_format!r}"
        )
    return data_format


class StochasticLayer(keras.layers.Layer):
    """Base of keras_regkit's dropout-like layers.

    Holds the `rate` (a float, or a `Schedule` whose value lives in a strength
    variable), exactly one `seed_generator`, and the `monte_carlo` switch.
    Subclasses implement `drop(inputs, rate)` with a pure function.

    Args:
        rate: float in [0, 1) or `Schedule`. May be a `Schedule`; needs
            `StrengthScheduler` in `fit(callbacks=...)` to change over
            training.
        seed: int or None, seed of the layer's `SeedGenerator`.
        monte_carlo: bool, stay active at inference (MC dropout). Defaults to
            `False`.
    """

    def __init__(self, rate, seed=None, monte_carlo=False, **kwargs):
        super().__init__(**kwargs)
        check_stochastic_args(type(self).__name__, rate, seed, monte_carlo)
        self._rate = add_strength(self, "rate", rate, RATE)
        self.seed = seed
        self.monte_carlo = monte_carlo
        # Created even at rate 0: a schedule may raise the rate later.
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def mark_built_if_stateless(self):
        """Marks the layer built at construction, as Keras does for layers
        whose `build` is not overridden (they create no shape-dependent
        state); a subclass that overrides `build` is built on first call."""
        if type(self).build is keras.layers.Layer.build:
            self.built = True

    @property
    def rate(self):
        """The rate: the float given, or the strength variable of a schedule."""
        return self._rate.public

    def drop(self, inputs, rate):
        raise NotImplementedError

    def call(self, inputs, training=False):
        if not (training or self.monte_carlo):
            return inputs
        strength = self._rate
        if strength.variable is None and strength.current == 0.0:
            return inputs  # a plain rate of 0 can never change
        return self.drop(inputs, strength.value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self._rate.config(),
            "seed": self.seed,
            "monte_carlo": self.monte_carlo,
        }
