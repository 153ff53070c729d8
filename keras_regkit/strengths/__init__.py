"""Strengths: the bridge from a float or schedule to a value read on
device.

A scheduled argument (a regularizer's factor, a dropout rate, an
augmentation's magnitude) is declared once in its class body (`Scheduled`,
`ScheduledRange`), held in a `Strength` (a plain float, or a scalar
variable for a schedule, which compiled code reads so that a new value
never retraces), found in a model by `collect_strengths` and written during
`fit` by the model's `StrengthWriter` (what `StrengthScheduler` and
`GapController` use). Without a writer a strength stays at `schedule(0)`.

Modules depend only downward: `_values` (bounds, `Strength`) <-
`_declarations` (declarations, ranges, the registry of an owner's
strengths) <- `_collection` (a model's strengths) <- `_writing` (the
writer).

Examples:

    >>> import keras
    >>> from keras_regkit import strengths
    >>> class Noise(strengths.HasStrengths, keras.layers.Layer):
    ...     std = strengths.Scheduled(strengths.NON_NEGATIVE)
    ...     def __init__(self, std, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.std = std
    ...     def call(self, x):
    ...         return x * (1.0 + self.strength("std").value)
    >>> Noise(0.1).std
    0.1
"""

from keras_regkit.strengths._collection import collect_strengths
from keras_regkit.strengths._declarations import HasStrengths
from keras_regkit.strengths._declarations import Range
from keras_regkit.strengths._declarations import Scheduled
from keras_regkit.strengths._declarations import ScheduledRange
from keras_regkit.strengths._declarations import add_strength
from keras_regkit.strengths._declarations import declared_config
from keras_regkit.strengths._declarations import strengths_of
from keras_regkit.strengths._values import NON_NEGATIVE
from keras_regkit.strengths._values import PROBABILITY
from keras_regkit.strengths._values import RATE
from keras_regkit.strengths._values import Bounds
from keras_regkit.strengths._values import Strength
from keras_regkit.strengths._writing import StrengthWriter
from keras_regkit.strengths._writing import strength_state_variables

__all__ = [
    "NON_NEGATIVE",
    "PROBABILITY",
    "RATE",
    "Bounds",
    "HasStrengths",
    "Range",
    "Scheduled",
    "ScheduledRange",
    "Strength",
    "StrengthWriter",
    "add_strength",
    "collect_strengths",
    "declared_config",
    "strength_state_variables",
    "strengths_of",
]
