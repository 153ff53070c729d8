"""One test per error message of the augmentation layers.

Every message here is raised by our Python (arguments in the constructor,
shapes and keys when a layer is called) before any backend op runs, so the
module runs on one backend.
"""

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit import schedules


@pytest.mark.parametrize("factor", [1.5, -1.2, (0.1, 2.0), (0.1,), "big",
                                    True])
def test_factor_out_of_range_or_wrong_form(factor):
    with pytest.raises(ValueError, match=(
            r"Invalid value for argument `factor` of RandomRotation: "
            r"expected a float in \[-1, 1\], a pair of such floats, or a "
            r"Schedule")):
        layers.RandomRotation(factor)


def test_factor_bounds_are_per_layer():
    with pytest.raises(ValueError, match=r"`x_factor` of RandomShear: "
                                         r"expected a float in \[0, 1\]"):
        layers.RandomShear(x_factor=-0.2)


def test_scheduled_factor_out_of_range():
    with pytest.raises(ValueError, match=r"`factor` of RandomHue: expected "
                                         r"a float in \[0, 1\] or a Schedule"):
        layers.RandomHue(schedules.Linear(0.0, 2.0, duration=5))


def test_probability_out_of_range():
    with pytest.raises(ValueError, match=r"`probability` of RandomFlip: "
                                         r"expected a float in \[0, 1\]"):
        layers.RandomFlip(probability=1.5)


def test_unknown_fill_mode():
    with pytest.raises(ValueError, match=(
            r"`fill_mode` of RandomZoom: expected one of \('reflect', "
            r"'wrap', 'constant', 'nearest'\). Received: fill_mode='mirror'")):
        layers.RandomZoom(0.1, fill_mode="mirror")


def test_unknown_interpolation():
    with pytest.raises(ValueError, match=r"`interpolation` of "
                                         r"RandomTranslation: expected one of"):
        layers.RandomTranslation(0.1, 0.1, interpolation="bicubic")


def test_unknown_flip_mode():
    with pytest.raises(ValueError, match=r"`mode` of RandomFlip"):
        layers.RandomFlip("diagonal")


def test_fill_value_must_be_a_number():
    with pytest.raises(ValueError, match=r"`fill_value` of RandomRotation: "
                                         r"expected a finite number"):
        layers.RandomRotation(0.1, fill_value="black")
    with pytest.raises(ValueError, match=r"Received: fill_value=nan"):
        layers.RandomRotation(0.1, fill_value=float("nan"))


def test_seed_must_be_int():
    with pytest.raises(TypeError, match=r"`seed` of MixUp: expected an int"):
        layers.MixUp(seed=1.5)


def test_unknown_data_format():
    with pytest.raises(ValueError, match=r"`data_format` of RandomHue"):
        layers.RandomHue(0.1, data_format="NHWC")


@pytest.mark.parametrize("value_range", [(1, 0), (0,), "0-255", (0, "a")])
def test_bad_value_range(value_range):
    with pytest.raises(ValueError, match=r"`value_range` of RandomBrightness:"
                                         r" expected a pair of numbers"):
        layers.RandomBrightness(0.1, value_range=value_range)


@pytest.mark.parametrize("size", [0, -3, 2.5, None])
def test_crop_size_must_be_positive_int(size):
    with pytest.raises(ValueError, match=r"`height` of RandomCrop: expected "
                                         r"a positive int"):
        layers.RandomCrop(size, 4)


def test_crop_larger_than_the_image_fails_at_build_when_asked():
    layer = layers.RandomCrop(20, 20, allow_resize=False)
    with pytest.raises(ValueError, match=r"RandomCrop of 20x20 is larger "
                                         r"than the 16x16 images"):
        layer(np.zeros((2, 16, 16, 3), "float32"))


def test_crop_larger_than_the_image_fails_in_a_model_at_build():
    with pytest.raises(ValueError, match=r"larger than the 8x8 images"):
        layers.RandomCrop(10, 10, allow_resize=False)(keras.Input((8, 8, 3)))


@pytest.mark.parametrize("scale", [(0.5, 0.2), (0.0, 1.0), (0.1, 1.5)])
def test_resized_crop_bad_scale(scale):
    with pytest.raises(ValueError, match=r"`scale` of RandomResizedCrop: "
                                         r"expected a pair \(low, high\) "
                                         r"with 0 < low <= high <= 1"):
        layers.RandomResizedCrop(8, 8, scale=scale)


def test_resized_crop_bad_ratio():
    with pytest.raises(ValueError, match=r"`ratio` of RandomResizedCrop"):
        layers.RandomResizedCrop(8, 8, ratio=(0.0, 1.0))


def test_erasing_bad_scale_and_fill():
    with pytest.raises(ValueError, match=r"`scale` of RandomErasing"):
        layers.RandomErasing(scale=(0.5, 0.1))
    with pytest.raises(ValueError, match=r"`fill_value` of RandomErasing"):
        layers.RandomErasing(fill_value="noise")


@pytest.mark.parametrize("shape", [(16, 16), (1, 2, 16, 16, 3)])
def test_wrong_rank(shape):
    with pytest.raises(ValueError, match=r"Expected the input image to be "
                                         r"rank 3 or 4 .* in RandomFlip"):
        layers.RandomFlip()(np.zeros(shape, "float32"))


def test_unknown_dict_keys():
    with pytest.raises(ValueError, match=r'RandomFlip takes a tensor of '
                                         r'images or a dict with the keys '
                                         r'"images"'):
        layers.RandomFlip()({"images": np.zeros((1, 4, 4, 3)),
                             "keypoints": np.zeros((1, 2, 2))})


def test_grayscale_needs_three_channels():
    with pytest.raises(ValueError, match=r"RandomGrayscale expects 3 \(RGB\)"
                                         r" channels"):
        layers.RandomGrayscale()(np.zeros((1, 4, 4, 1), "float32"))


def test_sparse_labels_need_num_classes():
    with pytest.raises(ValueError, match=r"integer \(sparse\) labels; pass "
                                         r"`num_classes`"):
        layers.MixUp()({"images": np.zeros((2, 4, 4, 3), "float32"),
                        "labels": np.array([0, 1])})


def test_bad_num_classes():
    with pytest.raises(ValueError, match=r"`num_classes` of CutMix: expected "
                                         r"None or an int >= 2"):
        layers.CutMix(num_classes=1)


def test_num_ops_must_be_a_non_negative_int():
    with pytest.raises(ValueError, match=r"`num_ops` of RandAugment: "
                                         r"expected an int in \[0, 32\]"):
        layers.RandAugment(num_ops=-1)
    # Each op is unrolled in the graph: a million would trace for minutes.
    with pytest.raises(ValueError, match=r"Received: num_ops=1000000"):
        layers.RandAugment(num_ops=10**6)


def test_augment_takes_augmentation_layers_only():
    with pytest.raises(TypeError, match=r"Augment takes keras_regkit "
                                        r"augmentation layers, Keras's "
                                        r"image preprocessing layers"):
        layers.Augment([keras.layers.Dense(3)])
    with pytest.raises(TypeError, match=r"`layers` of Augment: expected a "
                                        r"list"):
        layers.Augment(layers.RandomFlip())


def test_augment_layers_share_a_data_format():
    with pytest.raises(ValueError, match=r"must share one data_format"):
        layers.Augment([
            layers.RandomFlip(data_format="channels_last"),
            layers.RandomRotation(0.1, data_format="channels_first"),
        ])
