"""The lab on text: token-id data sets, the text model, the text recipes."""

import json
import os

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit.lab import recipes as recipes_lib
from keras_regkit.lab.built_recipe import BuiltRecipe
from keras_regkit.lab.cli import main
from keras_regkit.lab.data import load_dataset
from keras_regkit.lab.errors import LabError
from tests.lab.text_data import VOCABULARY
from tests.lab.text_data import make_token_data
from tests.lab.text_data import write_token_npz


@pytest.fixture
def tokens(tmp_path):
    return write_token_npz(str(tmp_path / "tokens.npz"))


def test_token_npz_loads_as_text(tokens):
    data = load_dataset(tokens, seed=0)
    assert data.is_text and data.x_train.dtype == np.int32
    assert data.input_shape == (40,)
    assert data.vocabulary_size <= VOCABULARY and data.num_classes == 2
    assert "sequences of 40 tokens" in data.describe()
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 700


def test_bad_token_ids_are_refused(tmp_path):
    x, y = make_token_data(20)
    x[3, 5] = -4
    np.savez(tmp_path / "bad.npz", x=x, y=y)
    with pytest.raises(LabError, match="token ids must be >= 0"):
        load_dataset(str(tmp_path / "bad.npz"))


def test_text_recipes_build_the_text_model_with_their_layers():
    for name in recipes_lib.TEXT_RECIPES:
        built = BuiltRecipe.build(recipes_lib.builtin(name), seed=0)
        model = built.compile(built.model((40,), 2, VOCABULARY))
        assert model.inputs[0].dtype == "int32"
        embedding = model.get_layer("embedding")
        assert embedding.input_dim == VOCABULARY
        if name == "embedding_dropout":
            assert isinstance(embedding, layers.EmbeddingDropout)
            assert embedding.rate == 0.2
        if name == "token_dropout":
            assert any(isinstance(layer, layers.TokenDropout)
                       for layer in model.layers)
        if name == "label_smoothing":
            assert isinstance(model.loss,
                              keras.losses.CategoricalCrossentropy)


def test_recipes_for_the_other_kind_of_data_are_refused(tokens, capsys):
    assert main(["lab", "--dataset", tokens, "--recipes",
                 "baseline,augmentation", "--epochs", "1", "--seeds",
                 "1"]) == 2
    err = capsys.readouterr().err
    assert "augmentation (images)" in err
    assert "embedding_dropout" in err  # the built-in text recipes listed
    assert main(["lab", "--recipes", "token_dropout", "--epochs", "1",
                 "--seeds", "1"]) == 2
    assert "token_dropout (text)" in capsys.readouterr().err
    with pytest.raises(LabError, match="'embedding' is for text"):
        recipes_lib.validate({"name": "x", "data": "images", "embedding": {
            "class_name": "EmbeddingDropout", "config": {"rate": 0.1}}})


@pytest.mark.slow
def test_text_lab_runs_every_text_recipe(tokens, tmp_path):
    out = str(tmp_path / "out")
    assert main(["lab", "--dataset", tokens, "--epochs", "2", "--seeds", "1",
                 "--out", out]) == 0
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert [r["name"] for r in summary["results"]] == list(
        recipes_lib.TEXT_RECIPES)
    assert "sequences of 40 tokens" in summary["meta"]["data"]
    rdrop = [r for r in summary["results"] if r["name"] == "rdrop"][0]
    assert 0.0 <= rdrop["test_accuracy"] <= 1.0


@pytest.mark.slow
def test_tfds_text_with_mock_data_is_vectorized(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40):
        data = load_dataset("tfds:imdb_reviews", seed=0)
    assert data.is_text and data.input_shape == (200,)
    assert data.x_train.dtype == np.int32 and data.num_classes >= 2
    out = str(tmp_path / "out")
    with tfds.testing.mock_data(num_examples=40):
        assert main(["lab", "--dataset", "tfds:imdb_reviews", "--recipes",
                     "baseline,token_dropout", "--epochs", "1", "--seeds",
                     "1", "--out", out]) == 0


def test_an_image_recipe_builds_no_embedding_and_draws_no_randomness():
    """Building the baseline must not touch Python's random state (an
    unseeded initializer draws its seed there), or every image run's
    initial weights would change with the text support."""
    import random

    keras.utils.set_random_seed(0)
    state = random.getstate()
    recipes_lib.build_components(recipes_lib.builtin("baseline"))
    assert random.getstate() == state
