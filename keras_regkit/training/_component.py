"""The base of train-step components: configuration plus strengths."""

import keras

from keras_regkit import _checks as checks
from keras_regkit._strength import HasStrengths


class StepComponent(HasStrengths, keras.layers.Layer):
    """One regularizing piece of a train step (clipping, SAM, ...).

    Components are layers only so that the model tracks, saves and
    serializes them and `StrengthScheduler` finds their strengths
    (`<component>/<argument>`); they are never called on data. The train
    step of `RegularizedModel` asks each for what it does. Strengths are
    declared in the class body (`rho = Scheduled()`), as in layers.
    """

    #: Which hook of the step the component fills; one component per kind
    #: except "clip", which may repeat.
    kind = None

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = checks.seed(type(self).__name__, seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs):
        raise TypeError(
            f"{type(self).__name__} is a train-step component: give it to "
            "RegularizedModel(..., components=[...]) or "
            "keras_regkit.training.regularize(model, [...]); it is not "
            "called on data."
        )

    def get_config(self):
        return {**super().get_config(), **self.declared_config(),
                "seed": self.seed}
