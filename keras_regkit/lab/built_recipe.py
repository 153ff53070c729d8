"""`BuiltRecipe`: a recipe turned into fresh objects, ready to train.

The one path from a recipe to a compiled model and its callbacks, used by
`keras-regkit lab` (`runner.run_recipe`) and by `keras-regkit lab sweep`
(`sweep.run_sweep`), so both train exactly what the recipe says: its
layers and regularizers, its train-step components (in a
`RegularizedModel`), its optimizer and its callbacks, with
`StrengthScheduler` first so every schedule moves.
"""

import dataclasses

import keras

from keras_regkit.callbacks import RegularizationMonitor
from keras_regkit.callbacks import StrengthScheduler
from keras_regkit.lab.model import build_audio_model
from keras_regkit.lab.model import build_model
from keras_regkit.lab.model import build_text_model
from keras_regkit.lab.model import seed_everything
from keras_regkit.lab.recipes import build_components
from keras_regkit.strengths import collect_strengths


@dataclasses.dataclass
class BuiltRecipe:
    """Fresh objects for one training run of a recipe.

    Build it with `BuiltRecipe.build(recipe, seed)`, then call `model()`,
    `compile(model)` and `callbacks()` once each, in that order.

    Attributes:
        recipe: the validated recipe dict.
        components: what `recipes.build_components` made of it.
    """

    recipe: dict
    components: dict

    @classmethod
    def build(cls, recipe, seed=0):
        """Seeds everything with `seed` (so the model's initial weights
        depend on the seed only) and builds the recipe's objects."""
        seed_everything(seed)
        return cls(recipe, build_components(recipe))

    def model(self, input_shape, num_classes, vocabulary_size=0,
              sample_rate=0):
        """The lab model with the recipe's parts (the text model when
        `vocabulary_size` > 0, the audio model when `sample_rate` > 0); a
        `RegularizedModel` when the recipe has train-step components."""
        if sample_rate:
            model = build_audio_model(input_shape[0], sample_rate,
                                      num_classes, self.components)
        elif vocabulary_size:
            model = build_text_model(input_shape[0], vocabulary_size,
                                     num_classes, self.components)
        else:
            model = build_model(input_shape, num_classes, self.components)
        if self.components["step"]:
            from keras_regkit.training import RegularizedModel

            model = RegularizedModel(model.inputs, model.outputs,
                                     components=self.components["step"],
                                     name=model.name)
        return model

    def compile(self, model, jit_compile=True):
        """Compiles `model` with the recipe's optimizer, cross-entropy on
        logits (categorical when a step component smooths labels, which
        makes one-hot targets; else sparse) and accuracy."""
        smoothing = any(getattr(c, "label_smoothing", 0)
                        for c in self.components["step"])
        loss = (keras.losses.CategoricalCrossentropy if smoothing
                else keras.losses.SparseCategoricalCrossentropy)
        model.compile(
            optimizer=self.components["optimizer"],
            loss=loss(from_logits=True),
            metrics=["accuracy"],
            jit_compile=jit_compile,
        )
        return model

    def callbacks(self, model, monitor=True):
        """`StrengthScheduler` (where `model` has a scheduled strength), the
        recipe's callbacks and, with `monitor`, a `RegularizationMonitor`
        last (so it sees what a controller decided and writes penalties,
        norms and gaps into `History`)."""
        scheduled = any(not s.is_constant
                        for s in collect_strengths(model).values())
        callbacks = ([StrengthScheduler()] if scheduled else []) + list(
            self.components["callbacks"])
        if monitor:
            callbacks.append(RegularizationMonitor())
        return callbacks
