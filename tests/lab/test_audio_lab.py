"""The lab on audio: the tones set, waveform `.npz` files, TFDS audio
through mock data, the mel-CNN, the audio recipes end to end."""

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
from keras_regkit.lab.data import make_tones
from keras_regkit.lab.errors import LabError
from tests.helpers import XLA


def test_tones_are_a_seeded_audio_set_with_every_class():
    data = load_dataset("tones", seed=0, train_size=300)
    assert data.is_audio and data.kind == "audio"
    assert data.sample_rate == 8000 and data.input_shape == (4000,)
    assert data.num_classes == 6 and len(data.x_train) == 300
    assert "clips of 0.5 s at 8000 Hz" in data.describe()
    np.testing.assert_array_equal(make_tones(30, seed=3)[0],
                                  make_tones(30, seed=3)[0])
    assert np.isfinite(data.x_train).all()


def test_waveform_npz_loads_and_bad_ones_are_refused(tmp_path):
    x, y = make_tones(60, seed=1)
    path = str(tmp_path / "clips.npz")
    np.savez(path, x=(x * 10000).astype("int16"), y=y,
             sample_rate=np.int64(8000))
    data = load_dataset(path)
    assert data.is_audio and data.x_train.dtype == np.float32
    assert np.abs(data.x_train).max() <= 1.0
    bad = x.copy()
    bad[2, 7] = np.nan
    np.savez(tmp_path / "nan.npz", x=bad, y=y, sample_rate=8000)
    with pytest.raises(LabError, match="NaN or infinite"):
        load_dataset(str(tmp_path / "nan.npz"))
    np.savez(tmp_path / "rate.npz", x=x, y=y, sample_rate=8.5)
    with pytest.raises(LabError, match="sample_rate must be one integer"):
        load_dataset(str(tmp_path / "rate.npz"))
    np.savez(tmp_path / "short.npz", x=x[:, :100], y=y, sample_rate=8000)
    with pytest.raises(LabError, match="shorter than 0.25 s"):
        load_dataset(str(tmp_path / "short.npz"))
    np.savez(tmp_path / "images.npz", x=np.zeros((4, 8, 8, 1)), y=y[:4],
             sample_rate=8000)
    with pytest.raises(LabError, match=r"shape \(N, samples\)"):
        load_dataset(str(tmp_path / "images.npz"))


def test_audio_recipes_build_the_audio_model_and_train_under_xla():
    """Waveform layers before the mel front end, spectrogram layers after
    it, in one compiled fit."""
    for name in ("spec_augment", "waveform_augmentation", "dropout"):
        built = BuiltRecipe.build(recipes_lib.builtin(name), seed=0)
        model = built.compile(built.model((4000,), 6, sample_rate=8000),
                              jit_compile=XLA)
        kinds = {type(layer) for layer in model.layers}
        assert keras.layers.MelSpectrogram in kinds
        if name == "spec_augment":
            assert layers.SpecAugment in kinds
            names = [layer.name for layer in model.layers]
            assert names.index("mel") < names.index(
                "spectrogram_0_spec_augment")
        if name == "waveform_augmentation":
            assert {layers.RandomNoise, layers.RandomGain,
                    layers.RandomTimeShift} <= kinds
    x, y = make_tones(16, seed=2)
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_image_and_text_recipes_are_refused_on_audio(capsys):
    assert main(["lab", "--dataset", "tones", "--recipes",
                 "baseline,augmentation", "--epochs", "1", "--seeds",
                 "1"]) == 2
    err = capsys.readouterr().err
    assert "augmentation (images)" in err and "spec_augment" in err
    with pytest.raises(LabError, match="'spectrogram' is for audio"):
        recipes_lib.validate({"name": "x", "data": "images", "spectrogram": [
            {"class_name": "TimeMasking", "config": {"max_width": 2}}]})


@pytest.mark.slow
def test_audio_lab_runs_the_default_audio_recipes(tmp_path):
    out = str(tmp_path / "out")
    assert main(["lab", "--dataset", "tones", "--train-size", "60",
                 "--epochs", "2", "--seeds", "1", "--out", out]) == 0
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert [r["name"] for r in summary["results"]] == list(
        recipes_lib.AUDIO_RECIPES)
    assert "clips of 0.5 s at 8000 Hz" in summary["meta"]["data"]


@pytest.mark.slow
def test_tfds_audio_with_mock_data(tmp_path):
    """`tfds:speech_commands` through TFDS's mock data (no download):
    clips of any length padded to one, int16 scaled, the lab runs."""
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=24):
        data = load_dataset("tfds:speech_commands", seed=0)
    assert data.is_audio and data.sample_rate == 16000
    assert data.x_train.ndim == 2 and data.x_train.dtype == np.float32
    assert data.input_shape[0] <= 4 * 16000
    out = str(tmp_path / "out")
    with tfds.testing.mock_data(num_examples=24):
        assert main(["lab", "--dataset", "tfds:speech_commands",
                     "--recipes", "baseline,spec_augment", "--epochs", "1",
                     "--seeds", "1", "--out", out]) == 0
