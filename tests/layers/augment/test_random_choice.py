"""RandomApply and RandomChoice: per-image random use of other layers."""

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit import schedules
from tests.contract import check_layer_contract

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _images(n=2000, size=6):
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (n, size, size, 3)).astype("float32")


def test_random_apply_applies_the_layer_to_a_share_of_the_images():
    x = _images()
    flip = layers.RandomFlip("horizontal", probability=1.0)
    out = _np(layers.RandomApply(flip, rate=0.3, seed=2)(x))
    flipped = np.all(out == x[:, :, ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped | kept)
    assert flipped.mean() == pytest.approx(0.3, abs=0.04)


def test_random_apply_gives_unmixed_images_one_hot_labels():
    x = _images(64)
    labels = np.arange(64) % 3
    layer = layers.RandomApply(layers.MixUp(alpha=1.0, num_classes=3),
                               rate=0.5, seed=1)
    out = layer({"images": x, "labels": labels})
    mixed = _np(out["labels"])
    assert mixed.shape == (64, 3)
    untouched = np.all(_np(out["images"]) == x, axis=(1, 2, 3))
    assert 0 < untouched.sum() < 64
    np.testing.assert_allclose(mixed[untouched],
                               np.eye(3)[labels[untouched]])


def test_random_choice_picks_each_image_from_its_layer():
    x = _images(400, 8)
    labels = np.eye(4, dtype="float32")[np.arange(400) % 4]
    mixup, cutmix = layers.MixUp(seed=1), layers.CutMix(seed=2)
    layer = layers.RandomChoice([mixup, cutmix], weights=[1, 3], seed=3)
    data = {"images": x, "labels": labels}
    draw = layer.get_random_transformation(data)
    choice = _np(draw["choice"])
    assert set(np.unique(choice)) == {0, 1}
    assert choice.mean() == pytest.approx(0.75, abs=0.07)
    t = keras.ops.convert_to_tensor
    images = _np(layer.apply_images(t(x), draw))
    by_mixup = _np(mixup.apply_images(t(x), draw["0"]))
    by_cutmix = _np(cutmix.apply_images(t(x), draw["1"]))
    np.testing.assert_allclose(images[choice == 0], by_mixup[choice == 0])
    np.testing.assert_allclose(images[choice == 1], by_cutmix[choice == 1])
    mixed = _np(layer.apply_labels(t(labels), draw))
    np.testing.assert_allclose(
        mixed[choice == 1],
        _np(cutmix.apply_labels(t(labels), draw["1"]))[choice == 1],
        rtol=1e-6)


def test_random_choice_pads_boxes_to_the_most_any_layer_returns():
    data = {
        "images": _images(8, 16),
        "bounding_boxes": {
            "boxes": np.tile(np.array([[[2.0, 2.0, 6.0, 8.0]]]), (8, 1, 1)),
            "labels": np.ones((8, 1), "int32")},
        "segmentation_masks": np.zeros((8, 16, 16, 1), "uint8"),
    }
    layer = layers.RandomChoice(
        [layers.RandomFlip("horizontal", probability=1.0),
         layers.MixUp()], seed=0, bounding_box_format="xyxy")
    draw = layer.get_random_transformation(data)
    out = layer(data)
    boxes = _np(out["bounding_boxes"]["boxes"])
    box_labels = _np(out["bounding_boxes"]["labels"])
    assert boxes.shape == (8, 2, 4) and box_labels.shape == (8, 2)
    # Flipped images: their one box moved, the padding labelled -1.
    flipped = np.all(boxes[:, 0] == [10, 2, 14, 8], axis=1)
    assert flipped.any() and not flipped.all()
    assert np.all(box_labels[flipped, 1] == -1)
    assert np.all(box_labels[~flipped] == 1)
    assert _np(out["segmentation_masks"]).dtype == np.uint8
    assert draw["choice"].shape == (8,)


def test_random_apply_contract_with_a_scheduled_rate(tmp_path):
    check_layer_contract(
        layers.RandomApply,
        {"layer": layers.RandomRotation(0.1, seed=1),
         "rate": schedules.Linear(0.0, 0.5, duration=3), "seed": 1},
        (2, 8, 8, 3), expected_strength_variables=1,
        expected_seed_generators=2, identity_at_inference=True,
        tmp_path=tmp_path, input_range=(0, 255))


def test_random_choice_contract(tmp_path):
    check_layer_contract(
        layers.RandomChoice,
        {"layers": [layers.RandomFlip(seed=1),
                    layers.RandomBrightness(0.2, seed=2)],
         "weights": [0.3, 0.7], "seed": 1},
        (2, 8, 8, 3), expected_seed_generators=3, tmp_path=tmp_path,
        input_range=(0, 255))


def test_layers_that_change_the_size_are_refused():
    layer = layers.RandomChoice([layers.RandomCrop(4, 4),
                                 layers.RandomFlip()])
    with pytest.raises(ValueError, match=r"RandomChoice needs layers that "
                       r"keep the image size .* maps 8x8 to 4x4"):
        layer(np.zeros((2, 8, 8, 3), "float32"))


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match=r"argument `weights` of "
                       r"RandomChoice: expected None or 2 non-negative "
                       r"numbers"):
        layers.RandomChoice([layers.RandomFlip(), layers.RandomFlip()],
                            weights=[1, -1])


def test_random_apply_takes_one_layer():
    with pytest.raises(TypeError, match=r"argument `layer` of RandomApply: "
                       r"expected one augmentation layer"):
        layers.RandomApply([layers.RandomFlip()])
