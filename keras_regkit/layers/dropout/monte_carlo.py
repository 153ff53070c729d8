"""MC-dropout: uncertainty from repeated stochastic predictions.

References:
    Gal and Ghahramani, 2016, Dropout as a Bayesian Approximation,
    https://arxiv.org/abs/1506.02142
"""

import keras
import numpy as np

from keras_regkit import _checks as checks


def mc_predict(model, x, samples=30, batch_size=None):
    """Mean and spread of `samples` stochastic predictions of `model`.

    The stochastic layers must stay active at inference: build them with
    `monte_carlo=True` (keras_regkit `Dropout`, `SpatialDropout*`,
    `GaussianDropout`, `DropPath`, `DropBlock2D`, `DropConnect`). Each pass
    draws new masks; the spread (standard deviation over passes) is zero
    when nothing is random and grows with the rates.

    Args:
        model: a Keras model.
        x: inputs accepted by `model.predict`.
        samples: int >= 2, number of passes. Defaults to `30`.
        batch_size: passed to `model.predict`. Defaults to `None`.

    Returns:
        `(mean, std)` NumPy arrays shaped like one prediction.

    Raises:
        ValueError: `samples` < 2.

    Examples:

        >>> from keras_regkit.layers import Dropout
        >>> model = keras.Sequential([keras.Input((4,)),
        ...                           Dropout(0.5, monte_carlo=True, seed=0),
        ...                           keras.layers.Dense(1)])
        >>> mean, std = mc_predict(model, np.ones((3, 4)), samples=5)
        >>> mean.shape, std.shape
        ((3, 1), (3, 1))
    """
    checks.integer("mc_predict", "samples", samples, 2)
    passes = np.stack(
        [
            keras.ops.convert_to_numpy(
                model.predict(x, batch_size=batch_size, verbose=0)
            )
            for _ in range(samples)
        ]
    )
    return passes.mean(axis=0), passes.std(axis=0)
