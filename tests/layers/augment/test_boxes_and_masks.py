"""Bounding boxes and segmentation masks move with the pixels."""

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_regkit import layers
from keras_regkit.layers.augment import bounding_boxes
from keras_regkit.layers.augment.pipeline import fusion_runs
from tests.helpers import XLA

pytestmark = pytest.mark.backends

CLASS_ID = 3


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _painted(height=48, width=40, box=(9, 12, 27, 30)):
    """A float image with a filled rectangle (x1, y1, x2, y2 in pixels),
    its box and its uint8 mask (class 3 on 0)."""
    x1, y1, x2, y2 = box
    image = np.zeros((height, width, 3), "float32")
    image[y1:y2, x1:x2] = 200.0
    mask = np.zeros((height, width, 1), "uint8")
    mask[y1:y2, x1:x2] = CLASS_ID
    return image, np.array(box, "float32"), mask


def _batch(count=6, **kwargs):
    image, box, mask = _painted(**kwargs)
    return {
        "images": np.stack([image] * count),
        "bounding_boxes": {
            "boxes": np.stack([box[None]] * count),
            "labels": np.full((count, 1), 7, "int32"),
        },
        "segmentation_masks": np.stack([mask] * count),
    }


def _enclosing(mask):
    """xyxy box of the mask's nonzero pixels (pixel (r, c) covers
    [c, c + 1) x [r, r + 1))."""
    rows, cols = np.nonzero(mask)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1],
                    "float32")


def _assert_box_fits(box, inside, fused):
    """The box encloses the object's pixels: tightly (within 1 px) after
    one fused map; after several maps applied one by one, each takes the
    box enclosing the previous box, so rotations and shears loosen it (as
    in Keras): it still contains the object, within 3 px."""
    enclosing = _enclosing(inside)
    if fused:
        np.testing.assert_allclose(box, enclosing, atol=1.0)
    else:
        assert np.all(box[:2] <= enclosing[:2] + 1.0)
        assert np.all(box[2:] >= enclosing[2:] - 1.0)
        np.testing.assert_allclose(box, enclosing, atol=3.0)


def _affine_layers(fill_mode, interpolation="bilinear", zoom_in=False):
    zoom = (-0.35, -0.25) if zoom_in else (-0.2, 0.3)
    common = {"fill_mode": fill_mode, "interpolation": interpolation}
    return [
        layers.RandomFlip(seed=1),
        layers.RandomRotation(0.03 if zoom_in else 0.1, seed=2, **common),
        layers.RandomZoom(zoom, seed=3, **common),
        layers.RandomTranslation(0.05, 0.05, seed=4, **common),
        layers.RandomShear(0.05 if zoom_in else 0.15, 0.1, seed=5, **common),
    ]


def _run(stack, data, fused, fmt="xyxy"):
    if fused:
        layer = layers.Augment(stack, bounding_box_format=fmt)
        return layer(data, training=True)
    for layer in stack:
        layer.bounding_box_format = fmt
        data = layer(data, training=True)
    return data


def _channels_first(data):
    return {**data,
            "images": np.transpose(data["images"], (0, 3, 1, 2)),
            "segmentation_masks": np.transpose(data["segmentation_masks"],
                                               (0, 3, 1, 2))}


@pytest.mark.parametrize("fused", [True, False])
def test_boxes_tightly_enclose_the_moved_rectangle(fused):
    data = _batch()
    out = _run(_affine_layers("constant", "nearest"), data, fused)
    boxes = _np(out["bounding_boxes"]["boxes"])[:, 0]
    masks = _np(out["segmentation_masks"])[..., 0]
    images = _np(out["images"])
    for box, mask, image in zip(boxes, masks, images, strict=True):
        inside = mask == CLASS_ID
        assert inside.any()
        _assert_box_fits(box, inside, fused)
        # The mask is the image's transform of the painted region.
        np.testing.assert_array_equal(inside, image[..., 0] == 200.0)
    # Outside the image (constant fill), masks hold 255, no class id.
    assert (masks == 255).any()
    assert set(np.unique(masks)) <= {0, CLASS_ID, 255}
    np.testing.assert_array_equal(_np(out["bounding_boxes"]["labels"]), 7)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest",
                                       "constant"])
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_every_fill_mode_and_layout_moves_boxes_and_masks_with_pixels(
        fill_mode, fused, data_format):
    # A centred object that stays clear of the borders at every step, so
    # that reflected or repeated border pixels never show a copy of it.
    data = _batch(box=(15, 18, 25, 30))
    stack = _affine_layers(fill_mode, "nearest", zoom_in=True)
    if data_format == "channels_first":
        data = _channels_first(data)
        stack = [type(layer).from_config({**layer.get_config(),
                                          "data_format": "channels_first"})
                 for layer in stack]
    out = _run(stack, data, fused)
    images, masks = _np(out["images"]), _np(out["segmentation_masks"])
    if data_format == "channels_first":
        images = np.transpose(images, (0, 2, 3, 1))
        masks = np.transpose(masks, (0, 2, 3, 1))
    assert masks.dtype == np.uint8
    for box, mask, image in zip(_np(out["bounding_boxes"]["boxes"])[:, 0],
                                masks[..., 0], images[..., 0], strict=True):
        # The rectangle is the only object whatever the fill mode.
        np.testing.assert_array_equal(mask == CLASS_ID, image == 200.0)
        _assert_box_fits(box, mask == CLASS_ID, fused)


def test_fused_boxes_lie_inside_the_unfused_ones():
    data = _batch()
    fused = _np(_run(_affine_layers("constant"), data,
                     fused=True)["bounding_boxes"]["boxes"])
    alone = _np(_run(_affine_layers("constant"), data,
                     fused=False)["bounding_boxes"]["boxes"])
    # The same draws (same seeds): one map moves the box once, tighter.
    assert np.all(fused[..., :2] >= alone[..., :2] - 1e-3)
    assert np.all(fused[..., 2:] <= alone[..., 2:] + 1e-3)
    assert np.abs(fused - alone).max() > 0.1


def test_crops_move_boxes_in_training_and_at_inference():
    data = _batch(height=40, width=40, box=(10, 10, 20, 30))
    crop = layers.RandomCrop(20, 20, seed=0, bounding_box_format="xyxy")
    out = crop(data, training=True)
    masks = _np(out["segmentation_masks"])[..., 0]
    boxes = _np(out["bounding_boxes"]["boxes"])[:, 0]
    for box, mask in zip(boxes, masks, strict=True):
        if (mask == CLASS_ID).any():
            np.testing.assert_allclose(box, _enclosing(mask == CLASS_ID),
                                       atol=1e-4)
    # At inference the centred window is taken: boxes follow it.
    resized = layers.RandomResizedCrop(20, 20, seed=0,
                                       bounding_box_format="xyxy")
    out = resized(data, training=False)
    np.testing.assert_allclose(_np(out["bounding_boxes"]["boxes"])[0, 0],
                               [5, 5, 10, 15], atol=1e-4)
    assert _np(out["segmentation_masks"]).shape == (6, 20, 20, 1)


def test_boxes_that_leave_the_image_are_clipped_and_labelled_minus_one():
    data = _batch(count=1, height=20, width=20, box=(0, 0, 4, 20))
    shift = layers.RandomTranslation((0.5, 0.5), 0.0, fill_mode="constant",
                                     bounding_box_format="xyxy", seed=0)
    shift = layers.RandomTranslation(0.0, (0.5, 0.5), fill_mode="constant",
                                     bounding_box_format="xyxy", seed=0)
    out = shift(data)
    box = _np(out["bounding_boxes"]["boxes"])[0, 0]
    np.testing.assert_allclose(box, [10, 0, 14, 20], atol=1e-4)
    gone = layers.RandomTranslation(0.0, (-0.5, -0.5), fill_mode="constant",
                                    bounding_box_format="xyxy", seed=0)
    out = gone(data)
    np.testing.assert_allclose(_np(out["bounding_boxes"]["boxes"])[0, 0],
                               [0, 0, 0, 20], atol=1e-4)
    assert _np(out["bounding_boxes"]["labels"])[0, 0] == -1


@settings(max_examples=25, deadline=None)
@given(fmt=st.sampled_from(bounding_boxes.FORMATS),
       height=st.integers(8, 64), width=st.integers(8, 64),
       corners=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4))
def test_formats_round_trip_and_agree(fmt, height, width, corners):
    x1, x2 = sorted(corners[:2])
    y1, y2 = sorted(corners[2:])
    xyxy = np.array([[[x1 * width, y1 * height, x2 * width, y2 * height]]],
                    "float32")
    written = bounding_boxes.from_xyxy(xyxy, fmt, height, width)
    np.testing.assert_allclose(
        _np(bounding_boxes.to_xyxy(written, fmt, height, width)), xyxy,
        atol=1e-3)
    # Same boxes through a flip in any format: the same pixels.
    flip = layers.RandomFlip("horizontal", probability=1.0,
                             bounding_box_format=fmt)
    data = {"images": np.zeros((1, height, width, 1), "float32"),
            "bounding_boxes": {"boxes": _np(written),
                               "labels": np.ones((1, 1), "int32")}}
    moved = bounding_boxes.to_xyxy(flip(data)["bounding_boxes"]["boxes"],
                                   fmt, height, width)
    expected = [width - xyxy[0, 0, 2], xyxy[0, 0, 1],
                width - xyxy[0, 0, 0], xyxy[0, 0, 3]]
    np.testing.assert_allclose(_np(moved)[0, 0], expected, atol=1e-3)


def test_keras_formats_agree_with_keras_converter():
    boxes = np.array([[[2.0, 4.0, 6.0, 10.0]]], "float32")
    for fmt in bounding_boxes.FORMATS:
        theirs = keras.utils.bounding_boxes.convert_format(
            boxes, source="xyxy", target=fmt, height=20, width=16)
        ours = bounding_boxes.from_xyxy(boxes, fmt, 20, 16)
        np.testing.assert_allclose(_np(ours), _np(theirs), atol=1e-5,
                                   err_msg=fmt)


@pytest.mark.parametrize("layer", [
    layers.RandomBrightness(0.3, seed=1),
    layers.RandomContrast(0.3, seed=1),
    layers.RandomErasing(seed=1),
    layers.RandomGrayscale(1.0, seed=1),
], ids=lambda layer: type(layer).__name__)
def test_colour_and_erasing_layers_pass_boxes_and_masks_through(layer):
    layer.bounding_box_format = "xyxy"
    data = _batch()
    out = layer(data, training=True)
    np.testing.assert_allclose(_np(out["bounding_boxes"]["boxes"]),
                               data["bounding_boxes"]["boxes"])
    np.testing.assert_array_equal(_np(out["segmentation_masks"]),
                                  data["segmentation_masks"])


def test_single_images_take_unbatched_boxes_and_masks():
    image, box, mask = _painted()
    flip = layers.RandomFlip("horizontal", probability=1.0,
                             bounding_box_format="xyxy")
    out = flip({"images": image, "segmentation_masks": mask,
                "bounding_boxes": {"boxes": box[None],
                                   "labels": np.array([1])}})
    np.testing.assert_allclose(_np(out["bounding_boxes"]["boxes"]),
                               [[40 - 27, 12, 40 - 9, 30]])
    assert _np(out["segmentation_masks"]).shape == mask.shape
    np.testing.assert_array_equal(_np(out["segmentation_masks"]),
                                  mask[:, ::-1])


def test_compiled_fit_of_a_model_taking_boxes():
    count = 16
    data = _batch(count=count)
    images = keras.Input((48, 40, 3), name="images")
    boxes = keras.Input((1, 4), name="boxes")
    labels = keras.Input((1,), dtype="int32", name="box_labels")
    stack = _affine_layers("constant") + [
        layers.RandomBrightness(0.2, seed=6), layers.RandomErasing(seed=7)]
    moved = layers.Augment(stack, bounding_box_format="rel_xyxy")({
        "images": images,
        "bounding_boxes": {"boxes": boxes, "labels": labels}})
    features = keras.layers.GlobalAveragePooling2D()(moved["images"])
    predicted = keras.layers.Dense(4)(features)
    outputs = keras.layers.Concatenate()([
        predicted, keras.layers.Flatten()(moved["bounding_boxes"]["boxes"])])
    model = keras.Model({"images": images, "boxes": boxes,
                         "box_labels": labels}, outputs)
    model.compile("adam", "mse", jit_compile=XLA)
    relative = data["bounding_boxes"]["boxes"] / np.array([40, 48, 40, 48])
    inputs = {"images": data["images"],
              "boxes": relative.astype("float32"),
              "box_labels": data["bounding_boxes"]["labels"]}
    history = model.fit(inputs, np.zeros((count, 8), "float32"),
                        batch_size=8, epochs=2, verbose=0)
    assert model.jit_compile is XLA
    assert np.all(np.isfinite(history.history["loss"]))
    out = model.predict(inputs, verbose=0)
    # The moved relative boxes stay inside the image.
    assert np.all((out[:, 4:] >= 0) & (out[:, 4:] <= 1))


def test_boxes_need_a_bounding_box_format():
    with pytest.raises(ValueError, match=r"RandomFlip has no bounding box "
                       r"format. Pass `bounding_box_format`"):
        layers.RandomFlip()(_batch())


def test_bounding_box_format_is_checked_and_saved():
    with pytest.raises(ValueError, match=r"argument `bounding_box_format` "
                       r"of RandomZoom: expected one of"):
        layers.RandomZoom(0.1, bounding_box_format="xywhr")
    layer = layers.RandomZoom(0.1, bounding_box_format="center_xywh")
    revived = layers.RandomZoom.from_config(layer.get_config())
    assert revived.bounding_box_format == "center_xywh"
    assert "bounding_box_format" not in layers.RandomZoom(0.1).get_config()


@pytest.mark.parametrize("layer", [
    layers.RandAugment(num_ops=3, factor=0.6, seed=3, fill_mode="constant",
                       interpolation="nearest", bounding_box_format="xyxy"),
    layers.TrivialAugment(seed=4, fill_mode="constant",
                          interpolation="nearest",
                          bounding_box_format="xyxy")],
    ids=lambda layer: type(layer).__name__)
def test_policies_move_boxes_and_masks_by_their_geometric_operations(layer):
    data = _batch(count=32)
    out = layer(data, training=True)
    boxes = _np(out["bounding_boxes"]["boxes"])[:, 0]
    masks = _np(out["segmentation_masks"])[..., 0]
    assert masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, CLASS_ID, 255}
    moved = 0
    for box, mask in zip(boxes, masks, strict=True):
        inside = mask == CLASS_ID
        assert inside.any()
        # One matrix per image: the box is tight, as for a fused stack.
        _assert_box_fits(box, inside, fused=True)
        moved += not np.allclose(box, data["bounding_boxes"]["boxes"][0, 0])
    assert moved >= 3  # geometric operations were drawn
    # Colour operations changed the pixels but not the mask.
    inference = layer(data, training=False)
    np.testing.assert_array_equal(_np(inference["segmentation_masks"]),
                                  data["segmentation_masks"])


def _two_objects():
    """Image 0 holds object A (class 3), image 1 object B (class 5)."""
    images = np.zeros((2, 32, 32, 3), "float32")
    masks = np.zeros((2, 32, 32, 1), "uint8")
    images[0, 4:12, 4:12] = 100.0
    masks[0, 4:12, 4:12] = 3
    images[1, 16:28, 10:30] = 200.0
    masks[1, 16:28, 10:30] = 5
    boxes = np.array([[[4, 4, 12, 12]], [[10, 16, 30, 28]]], "float32")
    return {"images": images, "segmentation_masks": masks,
            "bounding_boxes": {"boxes": boxes,
                               "labels": np.array([[3], [5]], "int32")}}


def test_mixup_keeps_both_images_boxes_and_the_dominant_mask():
    data = _two_objects()
    layer = layers.MixUp(alpha=0.4, seed=3, bounding_box_format="xyxy")
    draw = layer.get_random_transformation(data)
    order = _np(draw["order"])
    weight = _np(draw["label_weight"])
    out = layer({**data}, training=True)  # a fresh draw: check the rule
    boxes = _np(out["bounding_boxes"]["boxes"])
    labels = _np(out["bounding_boxes"]["labels"])
    assert boxes.shape == (2, 2, 4) and labels.shape == (2, 2)
    for i in range(2):
        # The second box is a partner's: one of the batch's boxes.
        assert any(np.allclose(boxes[i, 1], data["bounding_boxes"]["boxes"][j,
                                                                          0])
                   for j in range(2))
        np.testing.assert_allclose(boxes[i, 0],
                                   data["bounding_boxes"]["boxes"][i, 0])
    # Integer masks: each image keeps the mask of its heavier image.
    moved = _np(layer.apply_segmentation_masks(
        keras.ops.convert_to_tensor(data["segmentation_masks"]), draw))
    for i in range(2):
        source = i if weight[i] >= 0.5 else order[i]
        np.testing.assert_array_equal(moved[i],
                                      data["segmentation_masks"][source])
    # Float (soft) masks are blended like the images.
    soft = data["segmentation_masks"].astype("float32")
    blended = _np(layer.apply_segmentation_masks(
        keras.ops.convert_to_tensor(soft), draw))
    expected = (weight[:, None, None, None] * soft
                + (1 - weight[:, None, None, None]) * soft[order])
    np.testing.assert_allclose(blended, expected, rtol=1e-6)


def test_cutmix_pastes_masks_and_clips_partner_boxes_to_the_patch():
    data = _two_objects()
    layer = layers.CutMix(seed=0, bounding_box_format="xyxy")
    draw = {
        "top": np.array([0.0, 14.0], "float32"),
        "left": np.array([0.0, 6.0], "float32"),
        "box_height": np.array([16.0, 8.0], "float32"),
        "box_width": np.array([16.0, 10.0], "float32"),
        "label_weight": np.array([0.75, 0.92], "float32"),
        "order": np.array([1, 0], "int32"),
    }
    draw = {k: keras.ops.convert_to_tensor(v) for k, v in draw.items()}
    images = _np(layer.apply_images(
        keras.ops.convert_to_tensor(data["images"]), draw))
    masks = _np(layer.apply_segmentation_masks(
        keras.ops.convert_to_tensor(data["segmentation_masks"]), draw))
    # The masks are the images' paste, class ids intact.
    np.testing.assert_array_equal(masks[..., 0] == 3, images[..., 0] == 100)
    np.testing.assert_array_equal(masks[..., 0] == 5, images[..., 0] == 200)
    boxes = {k: keras.ops.convert_to_tensor(v)
             for k, v in data["bounding_boxes"].items()}
    out = layer.apply_bounding_boxes(boxes, draw, 32, 32)
    moved, labels = _np(out["boxes"]), _np(out["labels"])
    # Image 0: its object A lies under the patch [0, 16) x [0, 16): gone;
    # B's box from image 1 is clipped to the patch, which B does not reach.
    assert labels[0].tolist() == [-1, -1]
    # Image 1: B is partly covered and kept whole; A's box, clipped to the
    # patch rows [14, 22) x cols [6, 16), is empty there: -1.
    np.testing.assert_allclose(moved[1, 0], [10, 16, 30, 28])
    assert labels[1].tolist() == [5, -1]
    # A partner box that reaches into the patch is clipped to it.
    draw["top"] = keras.ops.convert_to_tensor(np.array([8.0, 0.0],
                                                       "float32"))
    out = layer.apply_bounding_boxes(boxes, draw, 32, 32)
    np.testing.assert_allclose(_np(out["boxes"])[1, 1], [6, 4, 12, 8])
    assert _np(out["labels"])[1].tolist() == [5, 3]


@pytest.mark.tf
def test_tf_data_pipeline_with_ragged_boxes():
    import tensorflow as tf

    image, _, mask = _painted()
    boxes = tf.ragged.constant([[[9.0, 12.0, 27.0, 30.0]],
                                [[1.0, 1.0, 5.0, 5.0], [9.0, 12.0, 27.0,
                                                        30.0]]],
                               ragged_rank=1)
    labels = tf.ragged.constant([[1], [2, 1]])
    data = {"images": np.stack([image, image]),
            "segmentation_masks": np.stack([mask, mask]),
            "bounding_boxes": {"boxes": boxes, "labels": labels}}
    layer = layers.Augment(_affine_layers("constant", "nearest"),
                           bounding_box_format="xyxy")
    out = layer(data)
    moved = _np(out["bounding_boxes"]["boxes"])
    moved_labels = _np(out["bounding_boxes"]["labels"])
    # Dense rows padded with -1, as Keras's layers return them.
    assert moved.shape == (2, 2, 4)
    assert moved_labels[0].tolist()[1] == -1
    ds = tf.data.Dataset.from_tensors(data).map(layer)
    (batch,) = list(ds)
    assert tuple(batch["bounding_boxes"]["boxes"].shape) == (2, 2, 4)
    for box, mask_ in ((batch["bounding_boxes"]["boxes"][0, 0].numpy(),
                        batch["segmentation_masks"][0, ..., 0].numpy()),):
        _assert_box_fits(box, mask_ == CLASS_ID, fused=True)


@pytest.mark.parametrize("fused", [True, False])
def test_perspective_moves_boxes_and_masks_with_the_pixels(fused):
    data = _batch()
    stack = [layers.RandomPerspective(factor=(1.0, 1.0), scale=0.4, seed=1,
                                      interpolation="nearest"),
             layers.RandomRotation(0.05, fill_mode="constant",
                                   interpolation="nearest", seed=2)]
    if fused:
        # One projective run: the perspective composes with the rotation.
        augment = layers.Augment(stack, bounding_box_format="xyxy")
        assert [len(run) for run, _ in fusion_runs(augment.layers)] == [2]
    out = _run(stack, data, fused)
    images, masks = _np(out["images"]), _np(out["segmentation_masks"])
    for box, mask, image in zip(_np(out["bounding_boxes"]["boxes"])[:, 0],
                                masks[..., 0], images[..., 0], strict=True):
        inside = mask == CLASS_ID
        np.testing.assert_array_equal(inside, image == 200.0)
        _assert_box_fits(box, inside, fused)


def test_perspective_matches_keras_given_its_transformation():
    x = np.random.default_rng(0).uniform(0, 255, (3, 12, 10, 3)).astype(
        "float32")
    theirs = keras.layers.RandomPerspective(factor=(1.0, 1.0), scale=0.6,
                                            seed=1)
    transformation = theirs.get_random_transformation(x, training=True)
    expected = _np(theirs.transform_images(x, transformation))
    ours = layers.RandomPerspective(scale=0.6)
    np.testing.assert_allclose(
        _np(ours.transform_images(x, transformation)), expected, atol=2e-3)


@pytest.mark.parametrize("make", [
    lambda: layers.MixUp(bounding_box_format="xyxy", seed=0),
    lambda: layers.CutMix(bounding_box_format="xyxy", seed=0),
    lambda: layers.Mosaic(bounding_box_format="xyxy", seed=0),
    lambda: layers.RandomChoice([layers.MixUp(), layers.Mosaic()],
                                bounding_box_format="xyxy", seed=0),
    lambda: layers.Augment([layers.RandomFlip(), layers.MixUp()],
                           bounding_box_format="xyxy"),
], ids=["MixUp", "CutMix", "Mosaic", "RandomChoice", "Augment"])
def test_box_count_is_the_same_symbolic_in_training_and_at_inference(make):
    layer = make()
    data = _batch(count=4)
    expected = layer.compute_output_shape(
        {"images": (None, 48, 40, 3),
         "bounding_boxes": {"boxes": (None, 1, 4), "labels": (None, 1)}})
    count = expected["bounding_boxes"]["boxes"][1]
    assert count == layer.boxes_per_box > 1
    for training in (True, False):
        out = layer(data, training=training)["bounding_boxes"]
        assert tuple(out["boxes"].shape) == (4, count, 4)
        assert tuple(out["labels"].shape) == (4, count)
    # At inference the extra slots are padding: label -1.
    labels = _np(layer(data, training=False)["bounding_boxes"]["labels"])
    np.testing.assert_array_equal(labels[:, 0], 7)
    np.testing.assert_array_equal(labels[:, 1:], -1)
