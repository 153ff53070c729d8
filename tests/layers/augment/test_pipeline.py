"""`Augment`: one draw replayed, fusion decided by `fuses_with`, short
names in configs."""

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit.layers.augment.pipeline import fusion_runs
from tests.helpers import XLA


def _images(n=4, size=12):
    return np.random.default_rng(0).uniform(
        0, 255, (n, size, size, 3)).astype("float32")


def _fit_through(augment, x):
    """A small model with `augment` first, fitted one epoch on `x`."""
    inputs = keras.Input(x.shape[1:])
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(augment(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse", jit_compile=XLA)
    model.fit(x, np.zeros((len(x), 1)), epochs=1, verbose=0)
    return model


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
    assert runs[0][1] == rotate.resampling and runs[2][1] is None
    assert not bright.fuses_with(None)
    assert crop.fuses_with(constant.resampling)
    assert not rotate.fuses_with(constant.resampling)
    # Flips land pixels on pixels, so they join any run (a flip left alone
    # before a resampling made XLA recompute its draw per gathered value).
    assert flip.fuses_with(constant.resampling)
    assert fusion_runs([flip, constant]) == [([flip, constant],
                                              constant.resampling)]


def test_short_names_in_configs_mean_our_layers():
    augment = layers.Augment([
        {"class_name": "RandomRotation", "config": {"factor": 0.1}},
        {"class_name": "RandomErasing", "config": {"factor": 0.5}},
    ])
    assert [type(layer) for layer in augment.layers] == [
        layers.RandomRotation, layers.RandomErasing]


def test_augment_runs_keras_image_layers_between_fused_runs(tmp_path):
    import os

    solarize = keras.layers.Solarization(
        addition_factor=0.0, threshold_factor=(0.5, 0.5),
        value_range=(0, 255))
    x = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype(
        "float32")
    # Keras's own draw, replayed by Keras's own transform.
    alone = layers.Augment([solarize])
    transformation = alone.get_random_transformation(x)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(alone.transform_images(x, transformation)),
        keras.ops.convert_to_numpy(solarize.transform_images(
            x, transformation["0"])), atol=1e-3)
    augment = layers.Augment([
        layers.RandomFlip(seed=1), layers.RandomRotation(0.1, seed=2),
        keras.layers.RandomSharpness(0.5, value_range=(0, 255), seed=3),
        solarize, layers.RandomZoom(0.1, seed=4)])
    # Two fused runs around the Keras layers.
    assert [len(run) for run, _ in fusion_runs(augment.layers)] == [2, 1, 1,
                                                                     1]
    model = _fit_through(augment, x)
    assert model.jit_compile is XLA
    path = os.fspath(tmp_path / "augment.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    revived = loaded.layers[1]
    assert type(revived.layers[2].layer) is keras.layers.RandomSharpness
    assert type(revived.layers[0]) is layers.RandomFlip
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5)


def test_keras_layers_in_augment_carry_boxes_and_masks():
    x = np.zeros((2, 8, 8, 3), "float32")
    data = {"images": x,
            "bounding_boxes": {"boxes": np.array([[[1.0, 1.0, 3.0, 4.0]]] * 2),
                               "labels": np.ones((2, 1), "int32")},
            "segmentation_masks": np.ones((2, 8, 8, 1), "uint8")}
    augment = layers.Augment([
        layers.RandomFlip("horizontal", probability=1.0),
        keras.layers.RandomSharpness(0.5, value_range=(0, 255),
                                     bounding_box_format="xyxy")],
        bounding_box_format="xyxy")
    out = augment(data)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out["bounding_boxes"]["boxes"])[:, 0],
        [[5, 1, 7, 4]] * 2)
    assert keras.ops.convert_to_numpy(out["segmentation_masks"]).shape == (
        2, 8, 8, 1)
    without_format = layers.Augment([keras.layers.RandomSharpness(
        0.5, value_range=(0, 255))], bounding_box_format="xyxy")
    with pytest.raises(ValueError, match=r"has no `bounding_box_format`"):
        without_format(data)


@pytest.mark.backends
def test_keras_namesakes_become_ours_and_value_layers_join(tmp_path):
    """`Augment([keras.layers.RandomCrop(...), keras.layers.RandomFlip()])`
    kept Keras's layers and quietly took XLA away from the model; now ours
    of the same name take their place (same settings), fused.
    `keras.layers.Rescaling(1 / 255)` (as keras.io writes pipelines) was
    refused; it maps the images, in training and inference."""
    keras_rotation = keras.layers.RandomRotation(0.1, seed=2)
    augment = layers.Augment([
        keras.layers.Rescaling(1 / 255), keras.layers.RandomCrop(8, 8),
        keras.layers.RandomFlip("horizontal"), keras_rotation])
    kinds = [type(layer).__name__ for layer in augment.layers]
    assert kinds == ["ValueStep", "RandomCrop", "RandomFlip",
                     "RandomRotation"]
    assert type(augment.layers[1]) is layers.RandomCrop
    assert list(augment.layers[3].get_config()["factor"]) == list(
        keras_rotation.get_config()["factor"])
    assert augment.supports_jit is True
    assert [len(run) for run, _ in fusion_runs(augment.layers)] == [1, 3]
    x = _images(size=10)
    inference = keras.ops.convert_to_numpy(augment(x, training=False))
    expected = layers.RandomCrop(8, 8)(x / 255, training=False)
    np.testing.assert_allclose(inference, keras.ops.convert_to_numpy(
        expected), rtol=1e-5, atol=1e-6)
    model = _fit_through(augment, x)
    assert model.jit_compile is XLA
    trained = keras.ops.convert_to_numpy(augment(x, training=True))
    assert 0 <= trained.min() and trained.max() <= 1.0 + 1e-6
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    revived = loaded.layers[1]
    assert type(revived.layers[0].layer) is keras.layers.Rescaling
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5)


def test_a_keras_namesake_whose_settings_do_not_carry_over_is_refused():
    with pytest.raises(ValueError, match=r"Pass keras_regkit\.layers\."
                       r"RandomSaturation\(\.\.\.\)"):
        layers.Augment([keras.layers.RandomSaturation(0.1)])
