"""Geometric correctness: exact cases, scipy and Keras references, fusion."""

import math

import keras
import numpy as np
import pytest
import scipy.ndimage as ndimage

from keras_regkit import layers
from keras_regkit.layers.augment import geometry
from tests.helpers import call_compiled
from tests.helpers import compiled_by_xla

pytestmark = pytest.mark.backends

_SCIPY_MODES = {"reflect": "reflect", "wrap": "grid-wrap",
                "nearest": "nearest", "constant": "grid-constant"}


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(
        "float32")


def _smooth_images(shape, seed=0):
    """Images with gentle gradients, where bilinear references agree."""
    x = _images(shape, seed)
    return ndimage.gaussian_filter(x, sigma=(0, 2, 2, 0), mode="wrap")


@pytest.mark.parametrize(("size", "quarter_turns"), [
    ((5, 5), 1), ((8, 8), 1), ((5, 5), -1), ((8, 8), -1), ((9, 7), 2),
    ((8, 8), 2),
])
def test_quarter_rotations_are_exact(size, quarter_turns):
    height, width = size
    x = _images((2, height, width, 3))
    turn = quarter_turns / 4
    out = _np(layers.RandomRotation((turn, turn))(x))
    np.testing.assert_array_equal(out, np.rot90(x, quarter_turns,
                                                axes=(1, 2)))


@pytest.mark.parametrize("mode", ["horizontal", "vertical"])
def test_flips_are_exact_both_alone_and_fused(mode):
    x = _images((3, 6, 7, 2))
    axis = 2 if mode == "horizontal" else 1
    alone = layers.RandomFlip(mode, probability=1.0)
    np.testing.assert_array_equal(_np(alone(x)), np.flip(x, axis))
    fused = layers.Augment([layers.RandomFlip(mode, probability=1.0),
                            layers.RandomTranslation(0.0, 0.0)])
    np.testing.assert_array_equal(_np(fused(x)), np.flip(x, axis))


@pytest.mark.parametrize(("dy", "dx"), [(2, 0), (0, -3), (1, 2)])
def test_integer_translations_are_exact(dy, dx):
    x = _images((2, 8, 10, 3))
    layer = layers.RandomTranslation((dy / 8, dy / 8), (dx / 10, dx / 10),
                                     fill_mode="constant", fill_value=7.0)
    expected = np.full_like(x, 7.0)
    src = x[:, max(0, -dy):8 - max(0, dy), max(0, -dx):10 - max(0, dx)]
    expected[:, max(0, dy):max(0, dy) + src.shape[1],
             max(0, dx):max(0, dx) + src.shape[2]] = src
    np.testing.assert_array_equal(_np(layer(x)), expected)
    wrapped = layers.RandomTranslation((dy / 8, dy / 8), (dx / 10, dx / 10),
                                       fill_mode="wrap")
    np.testing.assert_array_equal(_np(wrapped(x)),
                                  np.roll(x, (dy, dx), axis=(1, 2)))


def _scipy_affine(image, matrix, mode, order, cval=0.0):
    # scipy maps (row, col) output -> input; ours maps (x, y) = (col, row).
    linear = np.array([[matrix[1, 1], matrix[1, 0]],
                       [matrix[0, 1], matrix[0, 0]]])
    offset = [matrix[1, 2], matrix[0, 2]]
    return np.stack([
        ndimage.affine_transform(image[..., c], linear, offset=offset,
                                 order=order, mode=mode, cval=cval)
        for c in range(image.shape[-1])
    ], axis=-1)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest",
                                       "constant"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_affine_transforms_match_scipy(fill_mode, interpolation):
    rng = np.random.default_rng(1)
    x = _images((6, 12, 10, 3))
    angle = rng.uniform(-0.6, 0.6, 6).astype("float32")
    zoom = rng.uniform(0.8, 1.25, 6).astype("float32")
    shear = rng.uniform(-0.2, 0.2, 6).astype("float32")
    shift = rng.uniform(-3, 3, 6).astype("float32")
    t = keras.ops.convert_to_tensor
    matrices = geometry.compose(
        geometry.compose(geometry.rotation(t(angle), 12, 10),
                         geometry.zoom(t(zoom), t(zoom), 12, 10)),
        geometry.compose(geometry.shear(t(shear), t(-shear), 12, 10),
                         geometry.translation(t(shift), t(-shift))))
    out = _np(geometry.affine_transform(
        x, matrices, interpolation=interpolation, fill_mode=fill_mode,
        fill_value=9.0))
    matrices = _np(matrices)
    order = 1 if interpolation == "bilinear" else 0
    for i in range(6):
        expected = _scipy_affine(x[i], matrices[i], _SCIPY_MODES[fill_mode],
                                 order, cval=9.0)
        if order == 1:
            np.testing.assert_allclose(out[i], expected, atol=2e-3)
        else:
            # Nearest can pick the other neighbour at exact ties.
            assert np.mean(np.abs(out[i] - expected) < 1e-3) > 0.97


@pytest.mark.tf
@pytest.mark.parametrize("fill_mode", ["reflect", "nearest", "constant"])
def test_rotation_matches_keras_graph_mode(fill_mode):
    import tensorflow as tf

    x = _smooth_images((4, 16, 16, 3))
    ours = layers.RandomRotation((0.07, 0.07), fill_mode=fill_mode)
    theirs = keras.layers.RandomRotation((0.07, 0.07), fill_mode=fill_mode)
    expected = tf.function(lambda t: theirs(t, training=True))(x).numpy()
    np.testing.assert_allclose(_np(ours(x)), expected, atol=2e-3)


@pytest.mark.tf
def test_zoom_and_translation_match_keras_graph_mode():
    import tensorflow as tf

    x = _smooth_images((4, 16, 16, 3))
    for ours, theirs in [
        (layers.RandomZoom((0.3, 0.3)), keras.layers.RandomZoom((0.3, 0.3))),
        (layers.RandomZoom((-0.2, -0.2), (0.1, 0.1)),
         keras.layers.RandomZoom((-0.2, -0.2), (0.1, 0.1))),
        (layers.RandomTranslation((0.15, 0.15), (-0.1, -0.1)),
         keras.layers.RandomTranslation((0.15, 0.15), (-0.1, -0.1))),
    ]:
        expected = tf.function(lambda t, k=theirs: k(t, training=True))(x)
        np.testing.assert_allclose(_np(ours(x)), expected.numpy(), atol=2e-3)


def test_fused_pipeline_equals_layers_one_by_one():
    x = _smooth_images((6, 32, 32, 3))
    def stack():
        return [layers.RandomFlip(seed=1), layers.RandomRotation(0.05, seed=2),
                layers.RandomZoom(0.1, seed=3),
                layers.RandomTranslation(0.05, 0.05, seed=4),
                layers.RandomShear(0.05, 0.05, seed=5)]
    fused = _np(layers.Augment(stack())(x))
    one_by_one = x
    for layer in stack():
        one_by_one = layer(one_by_one)
    one_by_one = _np(one_by_one)
    # Borders differ (fill happens once when fused); compare the centre.
    # One by one interpolates five times (a slight blur), fused once.
    centre = (slice(None), slice(8, 24), slice(8, 24))
    assert np.abs(fused[centre] - one_by_one[centre]).mean() < 1.0
    assert np.abs(fused[centre] - one_by_one[centre]).max() < 8.0
    assert np.abs(fused - x).mean() > 5.0  # it did transform


@pytest.mark.parametrize("fill_mode", ["constant", "wrap", "nearest"])
def test_a_flip_fuses_with_any_fill_mode(fill_mode):
    """A flip before a rotation that fills otherwise than its own default
    ("reflect") joins the rotation's resampling: the same image as the two
    one by one, borders included (the flip moves pixels onto pixels)."""
    x = _smooth_images((6, 24, 24, 3))
    def stack():
        return [layers.RandomFlip(seed=1),
                layers.RandomRotation(0.1, fill_mode=fill_mode, seed=2)]
    fused = _np(layers.Augment(stack())(x))
    one_by_one = x
    for layer in stack():
        one_by_one = layer(one_by_one)
    np.testing.assert_allclose(fused, _np(one_by_one), atol=1e-2)
    assert np.abs(fused - x).mean() > 5.0  # it did transform


def test_pipeline_with_crop_and_colour_matches_one_by_one():
    x = _smooth_images((4, 24, 24, 3))
    def stack():
        return [layers.RandomFlip(seed=1), layers.RandomBrightness(0.2, seed=2),
                layers.RandomCrop(16, 16, seed=3),
                layers.RandomRotation((0.25, 0.25), seed=4)]
    fused = _np(layers.Augment(stack())(x))
    one_by_one = x
    for layer in stack():
        one_by_one = layer(one_by_one)
    np.testing.assert_allclose(fused, _np(one_by_one), atol=1e-3)


def test_random_affine_is_shear_zoom_rotation_translation_in_order():
    layer = layers.RandomAffine(rotation_factor=(0.1, 0.1),
                                zoom_height_factor=(0.2, 0.2),
                                translation_height_factor=(0.125, 0.125),
                                translation_width_factor=(0.0, 0.0),
                                shear_x_factor=(0.1, 0.1), seed=0)
    x = _smooth_images((1, 16, 16, 3))
    draw = layer.draw(1, 16, 16)
    expected = x
    t = keras.ops.convert_to_tensor
    shear = float(_np(draw["shear_x"])[0])
    assert abs(shear) == pytest.approx(0.1)
    for matrix in (geometry.shear(t([shear]), t([0.0]), 16, 16),
                   geometry.zoom(t([1.2]), t([1.2]), 16, 16),
                   geometry.rotation(t([0.2 * math.pi]), 16, 16),
                   geometry.translation(t([0.0]), t([2.0]))):
        expected = geometry.affine_transform(expected, matrix)
    got = layer.apply_images(keras.ops.convert_to_tensor(x), draw)
    centre = (0, slice(5, 11), slice(5, 11))
    np.testing.assert_allclose(_np(got)[centre], _np(expected)[centre],
                               atol=3.0)


def test_crops_take_the_centre_at_inference_like_keras_documents():
    x = _images((2, 8, 12, 3))
    out = _np(layers.RandomCrop(4, 4)(x, training=False))
    # Largest centred square (8x8 from columns 2..9), resized to 4x4.
    expected = _np(keras.ops.image.resize(x[:, :, 2:10], (4, 4)))
    np.testing.assert_allclose(out, expected, atol=1e-3)


def test_random_crop_offsets_are_per_image_and_cover_the_range():
    x = np.arange(10 * 12, dtype="float32").reshape(1, 10, 12, 1)
    x = np.repeat(x, 400, axis=0)
    out = _np(layers.RandomCrop(4, 5, seed=0)(x))
    tops = out[:, 0, 0, 0] // 12
    lefts = out[:, 0, 0, 0] % 12
    assert set(tops.astype(int)) == set(range(7))
    assert set(lefts.astype(int)) == set(range(8))
    for i in range(5):  # each crop is a contiguous window of the input
        top, left = int(tops[i]), int(lefts[i])
        np.testing.assert_array_equal(out[i],
                                      x[0, top:top + 4, left:left + 5])


def test_random_resized_crop_area_and_ratio_ranges():
    x = np.zeros((1, 64, 64, 1), "float32")
    layer = layers.RandomResizedCrop(8, 8, scale=(0.2, 0.5),
                                     ratio=(0.5, 2.0), seed=0)
    draw = {k: _np(v) for k, v in layer.draw(2000, 64, 64).items()}
    area = draw["crop_height"] * draw["crop_width"] / (64 * 64)
    aspect = draw["crop_width"] / draw["crop_height"]
    assert area.min() >= 0.2 - 1e-4 and area.max() <= 0.5 + 1e-4
    assert aspect.min() >= 0.5 - 1e-4 and aspect.max() <= 2.0 + 1e-4
    assert np.all(draw["top"] + draw["crop_height"] <= 64 + 1e-3)
    assert tuple(layer(x).shape) == (1, 8, 8, 1)


def _bfloat16_inputs(op):
    """`op` computing from bfloat16-rounded inputs, as TPUs (bfloat16) and
    GPUs (TF32) run float32 matmuls by default."""
    def reduced(*args, **kwargs):
        args = [keras.ops.cast(keras.ops.cast(a, "bfloat16"), "float32")
                if not isinstance(a, str) else a for a in args]
        return op(*args, **kwargs)
    return reduced


def test_geometry_is_exact_whatever_the_matmul_precision(monkeypatch):
    """CPUs ignore the backends' matmul-precision settings, so the test
    makes every `matmul`/`einsum`/`dot` reduced-precision itself: fused
    affine maps must not change (they use none of them)."""
    rng = np.random.default_rng(3)
    x = _images((4, 40, 48, 3))
    t = keras.ops.convert_to_tensor
    angle = t(rng.uniform(-0.6, 0.6, 4).astype("float32"))
    zoom = t(rng.uniform(0.8, 1.25, 4).astype("float32"))
    shift = t(rng.uniform(-9, 9, 4).astype("float32"))

    def run():
        matrices = geometry.compose(
            geometry.compose(geometry.rotation(angle, 40, 48),
                             geometry.zoom(zoom, zoom, 40, 48)),
            geometry.translation(shift, -shift))
        return _np(geometry.affine_transform(x, matrices)), _np(matrices)

    exact, matrices = run()
    for name in ("matmul", "einsum", "dot", "tensordot"):
        monkeypatch.setattr(keras.ops, name,
                            _bfloat16_inputs(getattr(keras.ops, name)))
    reduced, reduced_matrices = run()
    np.testing.assert_array_equal(reduced_matrices, matrices)
    np.testing.assert_array_equal(reduced, exact)
    # The same maps through a bfloat16 matmul move pixels visibly: this is
    # what the test guards against.
    grid = np.stack(list(np.meshgrid(np.arange(48), np.arange(40))) + [
        np.ones((40, 48))]).reshape(3, -1).astype("float32")
    rounded = _np(keras.ops.matmul(t(matrices), t(grid)))
    assert np.abs(rounded - matrices @ grid).max() > 0.05


@pytest.mark.parametrize("size", [1, 3, 7, 224, 1000])
@pytest.mark.parametrize("fill_mode", geometry.FILL_MODES)
def test_float_fold_equals_the_integer_fold(size, fill_mode):
    """Nearest sampling folds coordinates in float arithmetic (vectorized
    on XLA:CPU): the same indices as the integer fold, eager and compiled,
    near every period boundary and far outside the image."""
    periods = np.arange(-60, 61)[:, None] * (2 * size)
    near = (periods + np.arange(-2, 3)[None, :]).ravel()
    far = np.random.default_rng(0).integers(-2 ** 23, 2 ** 23, 20000)
    values = np.concatenate([near, np.arange(-3 * size, 3 * size), far,
                             [-2 ** 23, 2 ** 23]])

    def float_fold(v):
        return geometry._fold_exact_integers(v, size, fill_mode)

    def integer_fold(v):
        return geometry._fold(v, size, fill_mode)

    expected, expected_in = (_np(t) for t in integer_fold(
        keras.ops.convert_to_tensor(values.astype("int32"))))
    floats = keras.ops.convert_to_tensor(values.astype("float32"))
    for fold in (float_fold, compiled_by_xla(float_fold)):
        index, inside = (_np(t) for t in fold(floats))
        np.testing.assert_array_equal(index.astype("int64"), expected)
        np.testing.assert_array_equal(inside, expected_in)


@pytest.mark.parametrize("fill_mode", geometry.FILL_MODES)
def test_bilinear_far_outside_and_uint8_match_scipy(fill_mode):
    """Bilinear resampling matches scipy's, for reflect and wrap at points
    several image sizes outside (folded as positions); uint8 images come
    out as uint8 (under JAX on a CPU, blended as packed words), each value
    within one grey level of scipy's rounded and nearly all equal to it,
    for one to four channels."""
    rng = np.random.default_rng(3)
    t = keras.ops.convert_to_tensor
    angle = t(rng.uniform(-0.6, 0.6, 4).astype("float32"))
    zoom = t(rng.uniform(0.7, 1.6, 4).astype("float32"))
    far = 70 if fill_mode in ("reflect", "wrap") else 4
    shift = t(rng.uniform(-far, far, (2, 4)).astype("float32"))
    matrices = geometry.compose(
        geometry.compose(geometry.rotation(angle, 16, 14),
                         geometry.zoom(zoom, zoom, 16, 14)),
        geometry.translation(shift[0], shift[1]))
    resample = compiled_by_xla(lambda images, m: geometry.affine_transform(
        images, m, fill_mode=fill_mode, fill_value=9.0))
    numpy_matrices = _np(matrices)
    for channels in (1, 3, 4):
        bytes_ = rng.integers(0, 256, (4, 16, 14, channels), dtype=np.uint8)
        floats = _np(resample(bytes_.astype("float32"), matrices))
        out = _np(resample(bytes_, matrices))
        assert out.dtype == np.uint8
        for i in range(4):
            expected = _scipy_affine(bytes_[i].astype("float64"),
                                     numpy_matrices[i],
                                     _SCIPY_MODES[fill_mode], 1, cval=9.0)
            np.testing.assert_allclose(floats[i], expected, atol=2e-3)
            grey = np.abs(out[i].astype("float64")
                          - np.clip(np.round(expected), 0, 255))
            assert grey.max() <= 1
            assert np.mean(grey == 0) > 0.99


def test_uint8_kept_through_layers_that_move_values_equals_float_rounded():
    """`keep_dtype=True` uint8 images stay uint8 through layers that only
    move or copy values (geometric layers, a geometric Augment, erasing
    with a fixed fill), within one grey level of the float output rounded;
    erasing with noise and an Augment with a colour step still compute in
    float32."""
    images = np.random.default_rng(4).integers(0, 256, (3, 20, 18, 3),
                                               dtype=np.uint8)

    def stacks(keep_dtype):
        geometric = [layers.RandomFlip("horizontal", seed=1),
                     layers.RandomRotation(0.1, seed=2),
                     layers.RandomZoom(0.2, seed=3)]
        kept = {"keep_dtype": keep_dtype}
        return [
            (True, layers.RandomRotation(0.2, seed=5, **kept)),
            (True, layers.RandomResizedCrop(12, 10, seed=6, **kept)),
            (True, layers.Augment(geometric, **kept)),
            (True, layers.RandomErasing(fill_value=[10, 20.6, 300], seed=7,
                                        **kept)),
            (False, layers.RandomErasing(seed=7, **kept)),
            (False, layers.Augment(geometric[:1] + [
                layers.RandomContrast(0.3, seed=4)], **kept))]

    for (handles, as_bytes), (_, as_floats) in zip(
            stacks(True), stacks(False), strict=True):
        assert as_bytes.handles_bytes == handles
        out, reference = (_np(call_compiled(layer, images))
                          for layer in (as_bytes, as_floats))
        assert out.dtype == np.uint8 and reference.dtype == np.float32
        grey = np.abs(out - np.clip(np.round(reference), 0, 255))
        assert grey.max() <= 1 and np.mean(grey == 0) > 0.99


@pytest.mark.parametrize("fill_mode", geometry.FILL_MODES)
def test_axis_aligned_maps_resample_as_the_general_path(fill_mode):
    """Flips, zooms, translations and crops (`axis_aligned=True`: each
    row's and column's source computed once) give the general path's
    result: images bilinear and nearest, float and uint8, and masks."""
    rng = np.random.default_rng(6)
    t = keras.ops.convert_to_tensor
    zoom_x, zoom_y = (t(rng.uniform(0.6, 1.7, 4).astype("float32"))
                      for _ in range(2))
    far = 30 if fill_mode in ("reflect", "wrap") else 3
    shift = t(rng.uniform(-far, far, (2, 4)).astype("float32"))
    matrices = geometry.compose(
        geometry.compose(geometry.flip(t(np.array([1, 0, 1, 0], bool)),
                                       t(np.array([0, 0, 1, 1], bool)),
                                       16, 14),
                         geometry.zoom(zoom_x, zoom_y, 16, 14)),
        geometry.compose(geometry.translation(shift[0], shift[1]),
                         geometry.crop_and_resize(
                             t(np.float32([0, 2, 1, 3])),
                             t(np.float32([1, 0, 2, 2])),
                             t(np.float32([9, 10, 8, 12])),
                             t(np.float32([7, 12, 9, 10])), 12, 11)))
    images = rng.uniform(0, 255, (4, 16, 14, 3)).astype("float32")
    masks = rng.integers(0, 5, (4, 16, 14, 1)).astype("int32")
    def resampled(aligned):
        bilinear = compiled_by_xla(lambda x, m: geometry.affine_transform(
            x, m, (12, 11), "bilinear", fill_mode, 9.0,
            axis_aligned=aligned))
        nearest = compiled_by_xla(lambda x, m: geometry.resample_nearest(
            x, m, (12, 11), fill_mode, -1, axis_aligned=aligned))
        return (_np(bilinear(images, matrices)),
                _np(bilinear(images.astype("uint8"), matrices)),
                _np(nearest(masks, matrices)))

    (floats, bytes_, mask_out), general = resampled(True), resampled(False)
    np.testing.assert_allclose(floats, general[0], atol=1e-3)
    assert np.abs(bytes_.astype(int) - general[1]).max() <= 1
    np.testing.assert_array_equal(mask_out, general[2])
