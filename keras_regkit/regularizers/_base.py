"""The scheduled-regularizer base class shared by every penalty."""

import keras
from keras import ops

from keras_regkit.strengths import HasStrengths


class Regularizer(HasStrengths, keras.regularizers.Regularizer):
    """Base class of keras_regkit regularizers: factors may be schedules.

    Subclasses declare each factor in the class body (`l2 = Scheduled()`)
    and assign it in `__init__` (`self.l2 = l2`): the value is checked and
    `self.l2` reads the float itself for a plain number (as Keras does), or
    a strength variable for a schedule, so `float(reg.l2)` reads the current
    value either way. `get_config()` writes each factor back as it was
    given: a float, or the serialized schedule.
    """

    def factor_of(self, name, dtype):
        """The factor's current value as a tensor of `dtype`.

        Read from its variable, so a scheduled change takes effect in
        compiled code without a retrace.
        """
        return ops.cast(self.strength(name).value, dtype)

    def is_off(self, name):
        """True when factor `name` is a plain 0, so its term can go.

        (As Keras's `L1L2` skips a zero term.) A scheduled factor is never
        off, even while its value is 0.
        """
        return self.strength(name).is_off

    def get_config(self):
        return self.declared_config()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
