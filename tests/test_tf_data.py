"""Our augmentation layers in tf.data pipelines on every backend: under JAX
and torch they run through `tf.numpy_function` (`keras_regkit._compat.tf_data`);
under TensorFlow, as TensorFlow ops. Either way the pipeline gives what the
layer gives when called directly."""

import keras
import numpy as np
import pytest

from keras_regkit import layers
from keras_regkit import schedules
from keras_regkit._compat import keras_layers
from keras_regkit._compat import tf_data as _tf_data
from keras_regkit.strengths import StrengthWriter
from tests.helpers import painted_batch

pytestmark = pytest.mark.backends
tf = pytest.importorskip("tensorflow")


def _augment():
    return layers.Augment([
        layers.RandomFlip(seed=1),
        layers.RandomRotation(0.1, fill_mode="constant", seed=2),
        layers.RandomZoom(0.2, fill_mode="constant", seed=3),
    ], bounding_box_format="xyxy")


def _dataset(batches=3):
    images, masks, boxes, labels = painted_batch(4 * batches)
    data = {"images": images, "segmentation_masks": masks,
            "bounding_boxes": {"boxes": tf.ragged.constant(boxes,
                                                           ragged_rank=1),
                               "labels": tf.ragged.constant(labels)}}
    return tf.data.Dataset.from_tensor_slices(data).batch(4)


def test_pipeline_gives_what_a_direct_call_gives():
    ds = _dataset()
    layer = _augment()
    in_pipeline = list(ds.map(layer))
    if keras.backend.backend() == "jax":  # built by the first batch, then
        assert getattr(layer, keras_layers.JITTED)  # compiled for the others
    direct = _augment()
    for batch, out in zip(ds, in_pipeline, strict=True):
        expected = direct({
            "images": batch["images"].numpy(),
            "segmentation_masks": batch["segmentation_masks"].numpy(),
            "bounding_boxes": {
                key: value.to_tensor(default_value=-1).numpy()
                for key, value in batch["bounding_boxes"].items()}})
        np.testing.assert_allclose(out["images"].numpy(),
                                   keras.ops.convert_to_numpy(
                                       expected["images"]), atol=0.01)
        np.testing.assert_array_equal(
            out["segmentation_masks"].numpy(),
            keras.ops.convert_to_numpy(expected["segmentation_masks"]))
        np.testing.assert_allclose(
            out["bounding_boxes"]["boxes"].numpy(),
            keras.ops.convert_to_numpy(expected["bounding_boxes"]["boxes"]),
            atol=0.01)


def test_static_signature_dtypes_and_fresh_draws_per_batch():
    ds = _dataset(batches=4).map(_augment())
    spec = ds.element_spec
    assert spec["images"].shape.as_list() == [None, 32, 32, 3]
    assert spec["images"].dtype == tf.float32
    assert spec["segmentation_masks"].dtype == tf.uint8
    assert spec["bounding_boxes"]["boxes"].shape.as_list() == [None, None, 4]
    batches = list(ds)
    masks = [batch["segmentation_masks"].numpy() for batch in batches]
    # Class ids survive (no float round-trip), the fill is 255 (no class).
    assert set(np.unique(np.concatenate(masks))) <= {0, 3, 255}
    # Each batch draws anew: same content in, different maps out.
    images = [batch["images"].numpy() for batch in batches]
    assert not any(np.allclose(images[0], other) for other in images[1:])


def test_uint8_batches_come_out_float32_as_from_keras():
    """`ds.map(lambda b: RandomFlip("horizontal")(b) / 255.0)` failed (`x
    and y must have the same dtype`: ours gave uint8); `keep_dtype=True`
    keeps the bytes."""
    images = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 3)).astype(
        "uint8")
    ds = tf.data.Dataset.from_tensor_slices(images).batch(4)
    flip = layers.RandomFlip("horizontal", seed=1)
    scaled = next(iter(ds.map(lambda b: flip(b, training=True) / 255.0)))
    assert scaled.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(scaled)) <= float(
        tf.reduce_max(scaled)) <= 1.0
    kept = layers.RandomFlip("horizontal", seed=1, keep_dtype=True)
    assert next(iter(ds.map(kept))).dtype == tf.uint8


def test_parallel_map_never_repeats_a_draw():
    # Under TensorFlow, 400 parallel calls: with Keras's read-then-assign
    # seed advance, 15 of them (on 2 cores) repeated another's draw.
    # The bridge of the other backends is slower a call: 40 there.
    calls = 400 if keras.backend.backend() == "tensorflow" else 40
    images = np.full((calls, 16, 16, 3), 100.0, "float32")
    images[:, 4:9, 3:7] = 250.0
    layer = layers.RandomRotation(0.5, fill_mode="constant", seed=7)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(1).map(
        layer, num_parallel_calls=16)
    outputs = {batch.numpy().tobytes() for batch in ds}
    assert len(outputs) == calls


def test_map_draws_the_seeds_next_gives_and_advances_the_state():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("other backends' layers run through the bridge, whose "
                    "calls already come one at a time")
    generator = keras.random.SeedGenerator(5)
    expected = [[5, i] for i in range(6)]
    seeds = tf.data.Dataset.range(3).map(
        lambda _: _tf_data.next_seed(generator))
    drawn = [seed.numpy().tolist() for seed in seeds]
    drawn += [seed.numpy().tolist() for seed in seeds]  # a second epoch
    assert drawn == expected
    assert keras.ops.convert_to_numpy(generator.state).tolist() == [5, 6]
    assert keras.ops.convert_to_numpy(generator.next()).tolist() == [5, 6]


def test_each_batch_reads_the_current_strengths():
    images = np.arange(2 * 4 * 4, dtype="float32").reshape(2, 4, 4, 1)
    flip = layers.RandomFlip("horizontal", seed=0, probability=(
        schedules.Piecewise([1], [0.0, 1.0])))
    writer = StrengthWriter(keras.Sequential([keras.Input((4, 4, 1)), flip]))
    ds = tf.data.Dataset.from_tensors(images).map(flip)
    writer.schedule("epoch", 0)
    np.testing.assert_array_equal(next(iter(ds)).numpy(), images)
    writer.schedule("epoch", 1)  # the same traced pipeline, new strength
    np.testing.assert_array_equal(next(iter(ds)).numpy(), images[:, :, ::-1])


def test_strength_scheduler_moves_a_layer_used_only_in_the_pipeline():
    """The layer is in `ds.map`, not in the model: its schedule stayed at
    `schedule(0)` all training, silently. Now the layer notes that it runs
    in a pipeline, and the scheduler moves it with the model's strengths
    (and logs it)."""
    from keras_regkit import callbacks

    flip = layers.RandomFlip("horizontal", seed=0, probability=(
        schedules.Piecewise([1], [0.0, 1.0])), name="pipeline_flip")
    images = np.arange(4 * 4 * 4, dtype="float32").reshape(4, 4, 4, 1)
    ds = tf.data.Dataset.from_tensor_slices(
        (images, np.zeros((4, 1), "float32"))).batch(2).map(
            lambda x, y: (flip(x, training=True), y))
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    seen = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(
            next(iter(ds))[0].numpy()))
    history = model.fit(ds, epochs=2, verbose=0, callbacks=[
        callbacks.StrengthScheduler(), probe])
    assert history.history["regkit/pipeline_flip/probability"] == [0.0, 1.0]
    np.testing.assert_array_equal(seen[0], images[:2])
    np.testing.assert_array_equal(seen[1], images[:2, :, ::-1])


def test_strength_scheduler_takes_layers_outside_the_model_by_name():
    from keras_regkit import callbacks

    outside = layers.RandomRotation(schedules.Linear(0.0, 0.2, 2),
                                    name="outside")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2,
                        verbose=0, callbacks=[callbacks.StrengthScheduler(
                            layers=[outside])])
    assert history.history["regkit/outside/factor"] == [0.0, 0.1]
    with pytest.raises(TypeError, match=r"`layers` of StrengthScheduler"):
        callbacks.StrengthScheduler(layers=outside)


@pytest.mark.parametrize("cls", [layers.MixUp, layers.CutMix])
def test_mixing_layers_give_one_hot_labels(cls):
    x = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype(
        "uint8")
    y = np.arange(8) % 4
    layer = cls(num_classes=4, seed=1)
    ds = tf.data.Dataset.from_tensor_slices({"images": x, "labels": y}
                                            ).batch(4).map(layer)
    assert ds.element_spec["labels"].shape.as_list() == [None, 4]
    assert ds.element_spec["images"].dtype == tf.float32
    for batch in ds:
        np.testing.assert_allclose(batch["labels"].numpy().sum(axis=1), 1.0,
                                   atol=1e-5)


def test_fit_on_a_pipeline_of_augmented_batches():
    images, _, _, _ = painted_batch(16, size=16)
    y = np.arange(16) % 2
    augment = layers.Augment([layers.RandomFlip(seed=0),
                              layers.RandomTranslation(0.1, 0.1, seed=1)])
    ds = tf.data.Dataset.from_tensor_slices((images, y)).batch(4).map(
        lambda a, b: (augment(a, training=True), b))
    model = keras.Sequential([keras.Input((16, 16, 3)),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_only_foreign_graphs_take_the_bridge():
    x = tf.zeros((2, 8, 8, 3))
    assert not _tf_data.in_foreign_graph(x)  # eager
    assert not _tf_data.in_foreign_graph(np.zeros((2, 8, 8, 3)))
    seen = []

    @tf.function
    def trace(t):
        seen.append(_tf_data.in_foreign_graph({"images": t}))
        return t

    trace(x)
    assert seen == [keras.backend.backend() != "tensorflow"]


def test_unknown_rank_is_refused_clearly():
    if keras.backend.backend() == "tensorflow":
        pytest.skip("TensorFlow runs the layer's own ops in the graph")
    layer = layers.RandomFlip(seed=0)

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
    def augment(images):
        return layer(images)

    with pytest.raises(ValueError, match="needs inputs of known rank"):
        augment.get_concrete_function()
