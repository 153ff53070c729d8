"""A keras-hub task fine-tuned the common way with keras_regkit: a small
random-initialized image classifier (no download) behind our augmentation
in one model, our train-step components through `training.regularize`,
our callbacks, and the whole saved and loaded back in safe mode."""

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import schedules
from keras_regkit import training

pytestmark = pytest.mark.backends
keras_hub = pytest.importorskip("keras_hub")


def _task():
    backbone = keras_hub.models.VGGBackbone(
        stackwise_num_repeats=[1, 1], stackwise_num_filters=[8, 8],
        image_shape=(32, 32, 3))
    return keras_hub.models.VGGImageClassifier(
        backbone=backbone, num_classes=4, pooling="avg", dropout=0.0)


def test_fine_tuning_a_keras_hub_task_with_regkit(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (32, 32, 32, 3)).astype("float32")
    y = np.arange(32) % 4
    augment = layers.Augment([layers.RandomFlip(seed=1),
                              layers.RandomRotation(0.1, seed=2)])
    task = _task()
    augmented = keras.Sequential([keras.Input((32, 32, 3)), augment, task])
    model = training.regularize(augmented, [
        training.AdaptiveGradientClipping(0.05),
        training.DecoupledWeightDecay(schedules.Linear(1e-4, 0.0, 2)),
    ])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True), metrics=["accuracy"])
    history = model.fit(
        x, y, batch_size=8, validation_data=(x, y), epochs=2, verbose=0,
        callbacks=[
            callbacks.StrengthScheduler(),
            callbacks.EarlyStopping(patience=5, restore_best_weights=True),
            callbacks.SWA(start_epoch=1),
        ])
    assert len(history.history["loss"]) == 2
    # The augmentation runs in training only.
    inferred = keras.ops.convert_to_numpy(augmented(x[:4], training=False))
    assert not np.allclose(keras.ops.convert_to_numpy(
        augmented(x[:4], training=True)), inferred)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(task(x[:4])),
                               inferred, rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(history.history["loss"]))
    before = keras.ops.convert_to_numpy(model.predict(x[:4], verbose=0))
    path = str(tmp_path / "task.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.model.layers[-1],
                      keras_hub.models.VGGImageClassifier)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.predict(x[:4], verbose=0)),
        before, rtol=1e-5, atol=1e-5)
