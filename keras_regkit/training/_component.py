"""The base of train-step components: configuration plus strengths."""

import keras

from keras_regkit._strength import add_strength
from keras_regkit.layers.dropout._base import check_seed


class StepComponent(keras.layers.Layer):
    """One regularizing piece of a train step (clipping, SAM, ...).

    Components are layers only so that the model tracks, saves and
    serializes them and `StrengthScheduler` finds their strengths
    (`<component>/<argument>`); they are never called on data. The train
    step of `RegularizedModel` asks each for what it does.
    """

    #: Which hook of the step the component fills; one component per kind
    #: except "clip", which may repeat.
    kind = None

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_seed(type(self).__name__, seed)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def strength(self, name, value, bounds):
        return add_strength(self, name, value, bounds)

    def call(self, inputs):
        raise TypeError(
            f"{type(self).__name__} is a train-step component: give it to "
            "RegularizedModel(..., components=[...]) or "
            "keras_regkit.training.regularize(model, [...]); it is not "
            "called on data."
        )

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def check_optional_positive(owner, name, value):
    if value is None:
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(
                f"Invalid value for argument `{name}` of {owner}: expected "
                f"a float > 0, a Schedule or None. Received: {name}={value!r}"
            )
