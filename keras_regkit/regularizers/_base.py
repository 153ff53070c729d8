"""The scheduled-regularizer base class shared by every penalty."""

import keras
from keras import ops

from keras_regkit._strength import NON_NEGATIVE
from keras_regkit._strength import add_strength
from keras_regkit._strength import strengths_of


class Regularizer(keras.regularizers.Regularizer):
    """Base class of keras_regkit regularizers: factors may be schedules.

    Subclasses call `self.add_factor(name, value)` in `__init__` for each
    factor; it validates the value and sets `self.<name>`: the float itself
    for a plain number (as Keras does), or a strength variable for a
    schedule, so `float(reg.l2)` reads the current value either way.
    `get_config()` writes each factor back as it was given: a float, or the
    serialized schedule.
    """

    def add_factor(self, name, value, bounds=NON_NEGATIVE):
        strength = add_strength(self, name, value, bounds)
        setattr(self, name, strength.public)
        return strength

    def factor_of(self, name, dtype):
        """The factor's current value as a tensor of `dtype`.

        Read from its variable, so a scheduled change takes effect in
        compiled code without a retrace.
        """
        return ops.cast(strengths_of(self)[name].value, dtype)

    def is_off(self, name):
        """True when factor `name` is the constant 0, so its term can go.

        (As Keras's `L1L2` skips a zero term.) A scheduled factor is never
        off, even while its value is 0.
        """
        strength = strengths_of(self)[name]
        return strength.is_constant and strength.current == 0.0

    def get_config(self):
        return {
            name: strength.config()
            for name, strength in strengths_of(self).items()
        }

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
