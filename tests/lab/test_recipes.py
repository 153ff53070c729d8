"""Built-in recipes build the lab model with what they promise."""

import keras
import pytest

from keras_regkit import layers as regkit_layers
from keras_regkit import regularizers
from keras_regkit.lab import recipes as recipes_lib
from keras_regkit.lab.model import build_audio_model
from keras_regkit.lab.model import build_model
from tests.helpers import XLA


@pytest.mark.parametrize("name", recipes_lib.builtin_names())
def test_builtin_recipe_builds(name):
    recipe = recipes_lib.builtin(name)
    components = recipes_lib.build_components(recipe)
    if recipe.get("data") == "audio":
        model = build_audio_model(800, 8000, 10, components)
    else:
        model = build_model((8, 8, 1), 10, components)
    assert model.output_shape == (None, 10)
    # Every built-in recipe keeps XLA: no layer turns it off.
    assert all(layer.supports_jit for layer in model.layers)


@pytest.mark.parametrize("name", ["augmentation", "randaugment",
                                  "random_erasing", "scheduled_augmentation"])
def test_augmentation_recipes_use_our_layers_and_train_under_xla(name):
    import numpy as np

    recipe = recipes_lib.builtin(name)
    model = build_model((8, 8, 1), 10, recipes_lib.build_components(recipe))
    ours = [layer for layer in model.layers
            if type(layer).__module__.startswith("keras_regkit.layers")]
    assert ours, name
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), jit_compile=XLA)
    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype(
        "float32")
    model.fit(x, np.arange(16) % 10, epochs=1, verbose=0)
    assert model.jit_compile is XLA


def test_recipes_put_components_where_they_say():
    def layer_types(name):
        recipe = recipes_lib.builtin(name)
        model = build_model((8, 8, 1), 10,
                            recipes_lib.build_components(recipe))
        return model, {type(layer) for layer in model.layers}

    _, types = layer_types("drop_path")
    assert regkit_layers.DropPath in types
    _, types = layer_types("dropblock")
    assert regkit_layers.DropBlock2D in types
    _, types = layer_types("scheduled_dropout")
    assert regkit_layers.Dropout in types
    # A short "Dropout" config is keras_regkit's drop-in.
    _, types = layer_types("dropout")
    assert regkit_layers.Dropout in types
    assert keras.layers.Dropout not in types
    model, _ = layer_types("l2")
    kernels = [layer.kernel_regularizer for layer in model.layers
               if getattr(layer, "kernel_regularizer", None) is not None]
    assert len(kernels) == 6
    assert all(isinstance(r, regularizers.L2) for r in kernels)


def test_default_recipes_are_builtin():
    assert set(recipes_lib.DEFAULT_RECIPES) <= set(recipes_lib.builtin_names())


# SAM (a second pass) and CutMix (images mixed in the step) also on JAX and
# torch; the train-step tests cover the other components there.
@pytest.mark.parametrize(("name", "log"), [
    pytest.param("sam", "sam_sharpness", marks=pytest.mark.backends),
    ("agc", "clipped"), ("adversarial", "adversarial_share"),
    ("pgd", "loss"), ("trades", "trades_kl"),
    ("mixup", "loss"),
    pytest.param("cutmix", "loss", marks=pytest.mark.backends),
])
def test_step_recipes_train_with_their_components_under_xla(name, log):
    # The lab feeds its batches through tf.data (the GPU tier may run
    # without TensorFlow).
    pytest.importorskip("tensorflow")
    from keras_regkit import lab

    data = lab.load_dataset("digits", train_size=64)
    result = lab.run_recipe(recipes_lib.builtin(name), data, epochs=1,
                            batch_size=32, jit_compile=XLA)
    assert result.jit_compile is XLA
    assert log in result.history


def test_unknown_step_component_is_a_lab_error():
    from keras_regkit.lab.errors import LabError

    with pytest.raises(LabError, match="unknown step component 'Lookahead'"):
        recipes_lib.validate({"name": "x", "step": [
            {"class_name": "Lookahead", "config": {}}]})
    # The message lists every component there is (from the registry).
    from keras_regkit import training

    with pytest.raises(LabError) as raised:
        recipes_lib.validate({"name": "x", "step": [
            {"class_name": "Lookahead", "config": {}}]})
    components = [name for name in training.__all__
                  if isinstance(getattr(training, name), type)
                  and issubclass(getattr(training, name),
                                 training.StepComponent)
                  and name != "StepComponent"]
    assert len(components) == 13
    assert all(name in str(raised.value) for name in components)
    with pytest.raises(LabError, match=r"recipe 'x': step: .*rho"):
        recipes_lib.validate({"name": "x", "step": [
            {"class_name": "SAM", "config": {"rho": -1.0}}]})
