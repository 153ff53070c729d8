"""`Augment`: one draw replayed, fusion decided by `fuses_with`, short
names in configs."""

import keras
import numpy as np

from keras_regkit import layers
from keras_regkit.layers.augment.pipeline import fusion_runs


def _images(n=4, size=12):
    return np.random.default_rng(0).uniform(
        0, 255, (n, size, size, 3)).astype("float32")


def _pipeline():
    return layers.Augment([
        layers.RandomFlip(seed=1),
        layers.RandomRotation(0.1, seed=2),
        layers.RandomCrop(8, 8, seed=3),
        layers.RandomBrightness(0.2, seed=4),
        layers.MixUp(alpha=0.4, seed=5),
    ])


def test_keras_split_replays_one_draw_for_images_and_labels():
    augment = _pipeline()
    x = _images()
    labels = np.eye(4, dtype="float32")
    transformation = augment.get_random_transformation(x)
    assert sorted(transformation) == ["0", "1", "2", "3", "4", "input_shape"]
    first = keras.ops.convert_to_numpy(
        augment.transform_images(x, transformation))
    again = keras.ops.convert_to_numpy(
        augment.transform_images(x, transformation))
    np.testing.assert_array_equal(first, again)
    assert first.shape == (4, 8, 8, 3)
    mixed = keras.ops.convert_to_numpy(
        augment.transform_labels(labels, transformation))
    # The labels carry MixUp's weights of that same draw.
    weight = keras.ops.convert_to_numpy(transformation["4"]["label_weight"])
    partner = keras.ops.convert_to_numpy(transformation["4"]["order"])
    expected = (weight[:, None] * labels
                + (1 - weight[:, None]) * labels[partner])
    np.testing.assert_allclose(mixed, expected, atol=1e-6)


def test_call_equals_draw_then_apply_with_the_same_seeds():
    x = _images()
    called = keras.ops.convert_to_numpy(_pipeline()(x))
    augment = _pipeline()
    draw = augment.get_random_transformation(x)
    replayed = keras.ops.convert_to_numpy(augment.transform_images(x, draw))
    np.testing.assert_allclose(called, replayed, atol=1e-4)


def test_fusion_runs_follow_fuses_with():
    flip = layers.RandomFlip(seed=0)
    rotate = layers.RandomRotation(0.1, seed=0)
    constant = layers.RandomZoom(0.1, fill_mode="constant", seed=0)
    crop = layers.RandomCrop(4, 4, seed=0)
    bright = layers.RandomBrightness(0.1, seed=0)
    runs = fusion_runs([crop, flip, rotate, constant, bright, rotate])
    assert [run for run, _ in runs] == [[crop, flip, rotate], [constant],
                                        [bright], [rotate]]
    assert runs[0][1] == flip.resampling and runs[2][1] is None
    assert not bright.fuses_with(None)
    assert crop.fuses_with(constant.resampling)
    assert not rotate.fuses_with(constant.resampling)


def test_short_names_in_configs_mean_our_layers():
    augment = layers.Augment([
        {"class_name": "RandomRotation", "config": {"factor": 0.1}},
        {"class_name": "RandomErasing", "config": {"factor": 0.5}},
    ])
    assert [type(layer) for layer in augment.layers] == [
        layers.RandomRotation, layers.RandomErasing]
