"""Arguments that used to be accepted and go wrong later (or silently):
each is now one clear error, at construction or as `fit` starts."""

import warnings

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import regularizers
from keras_regkit import schedules
from keras_regkit import training


@pytest.mark.parametrize(("make", "message"), [
    (lambda: callbacks.EarlyStopping(monitor=None), r"`monitor`"),
    (lambda: callbacks.EarlyStopping(baseline="x"), r"`baseline`"),
    (lambda: callbacks.EarlyStopping(baseline=float("nan")), r"`baseline`"),
    (lambda: callbacks.EarlyStopping(backup_dir=123), r"`backup_dir`"),
    (lambda: callbacks.EarlyStopping(verbose=5), r"`verbose`"),
    (lambda: callbacks.SWA(1, learning_rate=0.01, min_learning_rate=0.1),
     r"min_learning_rate=0.1"),
    (lambda: layers.TokenDropout(0.1, mask_id=0, padding_id=0),
     r"other than mask_id=0"),
    (lambda: training.SAM(rho=1e30), r"`rho`"),
    (lambda: layers.RandomRotation(0.1, fill_value=float("nan")),
     r"fill_value=nan"),
    (lambda: layers.dropout(keras.ops.ones((2,)), 1.5, 1), r"rate=1.5"),
    (lambda: layers.drop_path(keras.ops.ones((2, 1)), 2.0, 1), r"rate=2.0"),
    (lambda: layers.gaussian_dropout(keras.ops.ones((2,)), float("nan"), 1),
     r"rate=nan"),
    (lambda: layers.drop_block_2d(keras.ops.ones((1, 4, 4, 1)), 0.1, 0, 1),
     r"block_size=0"),
    (lambda: training.clip_gradients([keras.ops.ones((2,))], clipnorm=-1.0),
     r"clipnorm=-1.0"),
    (lambda: training.sam_perturbation([keras.ops.ones((2,))],
                                       [keras.ops.ones((2,))], -1.0),
     r"rho=-1.0"),
    (lambda: regularizers.GroupLasso(mode="filters")(keras.ops.ones((3, 2))),
     r'use mode="columns"'),
])
def test_nonsense_is_refused_at_once(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def _dense_model(**dense):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    return inputs, keras.layers.Dense(2, **dense)(inputs)


@pytest.mark.backends
def test_weight_decay_past_one_over_the_learning_rate_fails_as_fit_starts():
    inputs, outputs = _dense_model()
    model = training.RegularizedModel(inputs, outputs, components=[
        training.DecoupledWeightDecay(rate=5.0)])
    model.compile(keras.optimizers.SGD(0.5), "mse")
    with pytest.raises(ValueError, match=r"at most 1 / learning_rate = 2"):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    assert int(model.optimizer.iterations) == 0


@pytest.mark.backends
def test_random_perspective_leaves_one_pixel_images_finite():
    for shape in [(2, 1, 5, 3), (2, 5, 1, 3)]:
        images = np.random.default_rng(0).random(shape).astype("float32")
        out = layers.RandomPerspective(1.0, seed=1)(images, training=True)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out), images,
                                   atol=1e-6)


@pytest.mark.backends
def test_strength_scheduler_warns_when_nothing_is_scheduled():
    inputs, outputs = _dense_model()
    model = keras.Model(inputs, layers.Dropout(0.1)(outputs))
    model.compile("sgd", "mse")
    with pytest.warns(UserWarning, match="has nothing to move"):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0,
                  callbacks=[callbacks.StrengthScheduler()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scheduled = keras.Model(inputs, layers.Dropout(
            schedules.Linear(0.0, 0.2, duration=2))(outputs))
        scheduled.compile("sgd", "mse")
        scheduled.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0,
                      callbacks=[callbacks.StrengthScheduler()])
    assert not [w for w in caught if "nothing to move" in str(w.message)]
