"""`DropConnect`: drop entries of a wrapped layer's kernel, not activations.

References:
    Wan et al., 2013, Regularization of Neural Networks using DropConnect,
    https://proceedings.mlr.press/v28/wan13.html
"""

import keras

from keras_regkit import _checks as checks
from keras_regkit.layers.dropout._base import Stochastic
from keras_regkit.layers.dropout.scheduled_dropout import dropout


@keras.saving.register_keras_serializable(package="keras_regkit")
class DropConnect(Stochastic, keras.layers.Wrapper):
    """Wraps a `Dense`, `Conv*` or `EinsumDense` and drops its kernel entries.

    During training each call sees the kernel with entries zeroed with
    probability `rate` (the rest scaled by `1 / (1 - rate)`), drawn afresh
    for every batch; gradients flow to the kept entries. At inference the
    full kernel is used, unless `monte_carlo=True`. The wrapped layer is
    saved and loaded with the wrapper.

    Args:
        layer: a layer with a `kernel` weight (`Dense`, `Conv1D/2D/3D`,
            `EinsumDense`, ...).
        rate: float in [0, 1) or `Schedule`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        seed: int or None. Defaults to `None`.
        monte_carlo: bool, keep dropping at inference. Defaults to `False`.

    Call arguments:
        inputs: what the wrapped layer takes.
        training: bool. Defaults to `False`.

    Raises:
        ValueError: `rate` outside [0, 1); at build, a layer without a
            `kernel`.
        TypeError: `layer` is not a Keras layer.

    Examples:

        >>> layer = DropConnect(keras.layers.Dense(4), rate=0.3, seed=0)
        >>> tuple(layer(keras.ops.ones((2, 3)), training=True).shape)
        (2, 4)
    """

    def __init__(self, layer, rate=0.5, seed=None, monte_carlo=False,
                 **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise checks.invalid("DropConnect", "layer", layer,
                                 "a Keras layer with a kernel",
                                 error=TypeError)
        super().__init__(layer, **kwargs)
        self.init_stochastic(rate, seed, monte_carlo)

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
        if getattr(self.layer, "kernel", None) is None:
            raise ValueError(
                f"DropConnect needs a layer with a `kernel` weight (Dense, "
                f"Conv, EinsumDense); {type(self.layer).__name__} "
                f"{self.layer.name!r} has none."
            )

    def call(self, inputs, training=False):
        if not self.is_active(training):
            return self.layer(inputs)
        kernel = self.layer.kernel
        # Read every weight as the enclosing step sees it (under JAX that is
        # the traced state), then let the wrapped layer run with the kernel
        # replaced by its dropped-out copy.
        mapping = [
            (v, v.value) for v in self.layer.variables if v is not kernel
        ]
        masked = dropout(kernel.value, self.strength("rate").value,
                         self.seed_generator)
        mapping.append((kernel, masked))
        with keras.StatelessScope(state_mapping=mapping):
            return self.layer(inputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), **self.stochastic_config()}
