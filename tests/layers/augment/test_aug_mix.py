"""AugMix: per-image chains, the paper's mixing, boxes and masks."""

import keras
import numpy as np
import pytest

from keras_regkit import layers

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _images(count=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (count, size, size, 3)).astype("float32")


def test_output_is_the_paper_mix_of_image_and_chains():
    """m * image + (1 - m) * sum_c w_c * chain_c(image): one chain that
    solarizes everything (magnitude 1) and one that does nothing."""
    layer = layers.AugMix(num_chains=2, chain_depth=1, factor=(1.0, 1.0),
                          all_ops=False, seed=0)
    x = _images(4)
    layer.build(x.shape)
    solarize = layer.operations.index("solarize")
    draw = {
        "index": np.array([[[solarize] * 4], [[-1] * 4]], "int32"),
        "magnitude": np.ones((2, 1, 4), "float32"),
        "signed": np.ones((2, 1, 4), "float32"),
        "chain_weights": np.array([[0.6, 0.4]] * 4, "float32"),
        "mix": np.array([0.0, 0.25, 0.5, 1.0], "float32"),
    }
    draw = {k: keras.ops.convert_to_tensor(v) for k, v in draw.items()}
    out = _np(layer.apply_images(keras.ops.convert_to_tensor(x), draw))
    m = _np(draw["mix"])[:, None, None, None]
    chains = 0.6 * (255.0 - x) + 0.4 * x
    np.testing.assert_allclose(out, m * x + (1 - m) * chains, atol=1e-3)


def test_each_image_draws_its_own_chains_and_weights():
    x = np.repeat(_images(1), 6, axis=0)
    out = _np(layers.AugMix(seed=1)(x, training=True))
    assert np.all(np.isfinite(out))
    assert out.min() >= 0.0 and out.max() <= 255.0
    # Keras's layer applies one draw to the whole batch; ours differ.
    for i in range(1, 6):
        assert not np.allclose(out[0], out[i], atol=1e-2)
    np.testing.assert_array_equal(_np(layers.AugMix()(x, training=False)), x)


def test_mixing_weights_follow_dirichlet_and_beta():
    layer = layers.AugMix(num_chains=3, alpha=1.0, seed=2)
    layer.build((4000, 8, 8, 3))
    draw = layer.draw(4000, 8, 8)
    weights = _np(draw["chain_weights"])
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-5)
    # Dirichlet(1, 1, 1): each weight has mean 1/3, variance 1/18.
    np.testing.assert_allclose(weights.mean(0), 1 / 3, atol=0.02)
    np.testing.assert_allclose(weights.var(0), 1 / 18, atol=0.006)
    mix = _np(draw["mix"])  # Beta(1, 1): uniform
    assert abs(mix.mean() - 0.5) < 0.02 and abs(mix.var() - 1 / 12) < 0.006
    lengths = (_np(draw["index"]) >= 0).sum(axis=1)  # (chains, batch)
    assert set(np.unique(lengths)) == {1, 2, 3}


def test_boxes_need_colour_only_chains():
    data = {"images": _images(4),
            "bounding_boxes": {"boxes": np.array([[[2, 3, 9, 12]]] * 4,
                                                 "float32"),
                               "labels": np.ones((4, 1), "int32")},
            "segmentation_masks": np.ones((4, 16, 16, 1), "uint8")}
    with pytest.raises(NotImplementedError, match=r"geometric=False"):
        layers.AugMix(bounding_box_format="xyxy")(data)
    layer = layers.AugMix(geometric=False, bounding_box_format="xyxy",
                          seed=3)
    assert not set(layer.operations) & {"rotate", "shear_x", "translate_y"}
    out = layer(data, training=True)
    np.testing.assert_array_equal(_np(out["bounding_boxes"]["boxes"]),
                                  data["bounding_boxes"]["boxes"])
    np.testing.assert_array_equal(_np(out["segmentation_masks"]),
                                  data["segmentation_masks"])
    assert not np.allclose(_np(out["images"]), data["images"])


def test_saves_and_reloads_with_its_arguments(tmp_path):
    # Compiled in a fit: test_contract.py (on its own under JAX, in one
    # model with every layer on every backend).
    inputs = keras.Input((16, 16, 3))
    x = layers.AugMix(factor=0.5, seed=4)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    path = str(tmp_path / "augmix.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = loaded.layers[1]
    assert type(layer) is layers.AugMix and layer.geometric
    np.testing.assert_allclose(_np(loaded(_images(2), training=False)),
                               _np(model(_images(2), training=False)),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_chains": 0}, r"`num_chains` of AugMix"),
    ({"chain_depth": 0}, r"`chain_depth` of AugMix"),
    ({"alpha": 0.0}, r"`alpha` of AugMix"),
    ({"all_ops": 1}, r"`all_ops` of AugMix"),
    ({"factor": 1.5}, r"factor"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        layers.AugMix(**kwargs)
