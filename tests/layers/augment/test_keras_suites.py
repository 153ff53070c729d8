"""Keras's own tests for its augmentation layers, run against ours.

As for the dropout layers, each suite is Keras's test class with the test
module's `layers` name pointed at a namespace whose augmentation classes are
keras_regkit's. Tests that do not apply are skipped, each with its reason
(see `_NOT_APPLICABLE`): bounding boxes where Keras's layer means something
else or ours does not take them yet, tests that feed
hand-built transformation dicts with Keras's private keys, tests matching
Keras's exact error sentences (ours name the class; `test_errors.py` checks
each message), and two documented differences of meaning.
"""

import types

import keras
import pytest

from keras_regkit import layers as regkit_layers

OURS = ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
        "RandomPerspective",
        "RandomShear", "RandomCrop", "RandomErasing", "RandomBrightness",
        "RandomContrast", "RandomSaturation", "RandomHue", "RandomGrayscale",
        "MixUp", "CutMix", "RandAugment", "AugMix",
        "RandomElasticTransform")

_MODULE = "keras.src.layers.preprocessing.image_preprocessing.{}_test"


def _namespace():
    names = {n: getattr(keras.layers, n) for n in dir(keras.layers)
             if not n.startswith("_")}
    names.update({n: getattr(regkit_layers, n) for n in OURS})
    return types.SimpleNamespace(**names)


_HALF_PIXEL_BOXES = (
    "Keras moves box corners as if they were pixel centres, so its boxes "
    "sit up to half a pixel off its own moved pixels; ours enclose the "
    "moved pixels (test_boxes_and_masks.py checks boxes against pixels)")
_SHEAR = ("ours shears about the image centre; Keras shears about the "
          "top-left corner, which also shifts the content")
_PRIVATE = "feeds a hand-built transformation dict with Keras's private keys"
_WORDING = ("matches Keras's exact error sentence; ours names the class "
            "(test_errors.py checks our message)")
_NOT_APPLICABLE = {
    "test_cut_mix_basic": _PRIVATE,
    "test_mix_up_basic_functionality": _PRIVATE,
    "test_mix_up_basic_functionality_channel_first": _PRIVATE,
    "test_graph_issue": _PRIVATE,
    "test_random_contrast_with_value_range_0_to_1": _PRIVATE,
    "test_random_contrast_with_value_range_0_to_255": _PRIVATE,
    "test_random_erasing_basic": _PRIVATE,
    "test_random_elastic_transform_basic": _PRIVATE,
    "test_factor_range_above_upper_bound": _WORDING,
    "test_factor_range_below_lower_bound": _WORDING,
    "test_set_factor_incorrect_length": _WORDING,
    "test_set_factor_incorrect_type": _WORDING,
    "test_value_range_incorrect_length": _WORDING,
    "test_value_range_incorrect_type": _WORDING,
    "test_random_saturation_full_saturation": (
        "ours blends with the grayscale image (torchvision's saturation); "
        "Keras scales HSV saturation, so full saturation differs"),
    "test_shear_pixel_level": _SHEAR,
}

#: Tests that do not apply in one suite only: (suite class, test) -> why.
_NOT_APPLICABLE_IN = {
    ("RandomCropTest", "test_dict_input"): (
        "Keras's RandomCrop leaves segmentation masks uncropped, so they no "
        "longer match the cropped images; ours crops them with the images "
        "(test_boxes_and_masks.py)"),
}

#: Keras's box tests that do not apply, by the suite's class.
_BOX_TESTS_NOT_APPLICABLE = {
    "RandomZoomTest": _HALF_PIXEL_BOXES,
    "RandomPerspectiveTest": _HALF_PIXEL_BOXES,
    "RandomShearTest": _SHEAR,
    "MixUpTest": (
        "hand-builds a transformation with Keras's private keys and no image "
        "size, and boxes without their per-image axis; ours puts each "
        "image's boxes and its partner's side by side (tested)"),
}


def _skipped(reason):
    @pytest.mark.skip(reason=reason)
    def test(self):
        pass

    return test


def _suite(module_name, class_name):
    module = pytest.importorskip(_MODULE.format(module_name))
    base = getattr(module, class_name)

    class Suite(base):
        @pytest.fixture(autouse=True)
        def _use_keras_regkit(self, monkeypatch):
            monkeypatch.setattr(module, "layers", _namespace())

    for name in dir(base):
        if not name.startswith("test"):
            continue
        if "bounding_box" in name and class_name in _BOX_TESTS_NOT_APPLICABLE:
            setattr(Suite, name,
                    _skipped(_BOX_TESTS_NOT_APPLICABLE[class_name]))
        elif (class_name, name) in _NOT_APPLICABLE_IN:
            setattr(Suite, name,
                    _skipped(_NOT_APPLICABLE_IN[class_name, name]))
        elif name in _NOT_APPLICABLE:
            setattr(Suite, name, _skipped(_NOT_APPLICABLE[name]))
    Suite.__name__ = f"TestKeras{class_name}"
    return Suite


TestKerasRandomFlip = _suite("random_flip", "RandomFlipTest")
TestKerasRandomRotation = _suite("random_rotation", "RandomRotationTest")
TestKerasRandomZoom = _suite("random_zoom", "RandomZoomTest")
TestKerasRandomTranslation = _suite("random_translation",
                                    "RandomTranslationTest")
TestKerasRandomShear = _suite("random_shear", "RandomShearTest")
TestKerasRandomPerspective = _suite("random_perspective",
                                    "RandomPerspectiveTest")
TestKerasRandomCrop = _suite("random_crop", "RandomCropTest")
TestKerasRandomErasing = _suite("random_erasing", "RandomErasingTest")
TestKerasRandomBrightness = _suite("random_brightness",
                                   "RandomBrightnessTest")
TestKerasRandomContrast = _suite("random_contrast", "RandomContrastTest")
TestKerasRandomSaturation = _suite("random_saturation",
                                   "RandomSaturationTest")
TestKerasRandomHue = _suite("random_hue", "RandomHueTest")
TestKerasRandomGrayscale = _suite("random_grayscale", "RandomGrayscaleTest")
TestKerasMixUp = _suite("mix_up", "MixUpTest")
TestKerasCutMix = _suite("cut_mix", "CutMixTest")
TestKerasRandAugment = _suite("rand_augment", "RandAugmentTest")
TestKerasAugMix = _suite("aug_mix", "RandAugmentTest")  # sic
TestKerasRandomElasticTransform = _suite("random_elastic_transform",
                                         "RandomElasticTransformTest")
