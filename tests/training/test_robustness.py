"""`evaluate_robustness` and `RobustnessMonitor`: on a linear classifier an
example is robust exactly when its margin exceeds what the ball can take
away, which both attacks must find, on every backend."""

import warnings

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import training
from keras_regkit.training.robustness import _masking_warnings

pytestmark = pytest.mark.backends


def _linear_classifier(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    return model


def _closed_form(model, x, y, epsilon, norm):
    kernel, bias = (keras.ops.convert_to_numpy(v) for v in model.weights)
    logits = x @ kernel + bias
    other = 1 - y
    margin = logits[np.arange(len(y)), y] - logits[np.arange(len(y)), other]
    direction = kernel[:, 0] - kernel[:, 1]
    reach = epsilon * (np.abs(direction).sum() if norm == "inf"
                       else np.sqrt((direction**2).sum()))
    return float(np.mean(margin > reach)), float(np.mean(margin > 0))


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_attacks_find_the_closed_form_robust_accuracy(norm):
    model = _linear_classifier()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = rng.integers(0, 2, 300)
    epsilons = [0.05, 0.2, 0.5]
    attacks = ("fgsm", "pgd") if norm == "inf" else ("pgd",)
    # PGD from a random start inside the L2 ball needs steps as large as
    # the ball to reach its edge along the gradient.
    result = training.evaluate_robustness(
        model, x, y, epsilons, attacks=attacks, steps=10, restarts=2,
        norm=norm, step_size=None if norm == "inf" else 0.5, batch_size=128)
    for epsilon in epsilons:
        robust, clean = _closed_form(model, x, y, epsilon, norm)
        assert result.clean == pytest.approx(clean)
        for attack in attacks:
            assert result.robust[(attack, epsilon)] == pytest.approx(
                robust, abs=1 / 300), (attack, epsilon)
    assert result.settings["steps"] == 10
    assert result.settings["restarts"] == 2
    assert result.warnings == []


def test_masked_gradients_are_reported():
    result = training.RobustnessResult(
        clean=0.9, robust={("fgsm", 0.1): 0.5, ("pgd", 0.1): 0.6,
                           ("fgsm", 0.2): 0.7}, settings={}, warnings=[])
    found = _masking_warnings(result)
    assert any("PGD is weaker than FGSM at epsilon=0.1" in w for w in found)
    assert any("fgsm robust accuracy rises with epsilon" in w for w in found)


def test_monitor_logs_every_n_epochs_and_history_stays_rectangular():
    model = _linear_classifier()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.integers(0, 2, 32)
    monitor = callbacks.RobustnessMonitor(x, y, epsilons=[0.1], every=2,
                                          attacks=("fgsm", "pgd"), steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # masking heuristics
        history = model.fit(x, y, epochs=3, verbose=0, callbacks=[monitor])
    logged = history.history["robust/pgd@0.1"]
    assert len(logged) == 3
    assert np.isnan(logged[0]) and not np.isnan(logged[1])
    assert not np.isnan(logged[2])  # the last epoch is always measured
    expected = training.evaluate_robustness(
        model, x, y, [0.1], attacks=("fgsm",), steps=3)
    assert history.history["robust/fgsm@0.1"][2] == pytest.approx(
        expected.robust[("fgsm", 0.1)])
    assert history.history["robust/clean"][2] == pytest.approx(
        expected.clean)


def test_bad_settings_fail_at_once():
    model = _linear_classifier()
    x, y = np.zeros((2, 4), "float32"), np.zeros(2)
    with pytest.raises(ValueError, match=r"`attacks` of evaluate_robustness"):
        training.evaluate_robustness(model, x, y, [0.1], attacks=("cw",))
    with pytest.raises(ValueError, match=r"`epsilons` of RobustnessMonitor"):
        callbacks.RobustnessMonitor(x, y, epsilons=[-1.0])
    with pytest.raises(ValueError, match=r"needs a loss to attack"):
        training.evaluate_robustness(
            keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]),
            x, y, [0.1])
    with pytest.raises(ValueError, match=r"NaN or infinite"):
        training.evaluate_robustness(model, np.full((2, 4), np.nan), y,
                                     [0.1])


@pytest.mark.tf
def test_pgd_is_at_least_as_strong_as_a_hand_written_reference_on_a_cnn():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference is written with TensorFlow's tape")
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(keras.layers.MaxPooling2D()(x))
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(loss=loss)
    rng = np.random.default_rng(4)
    images = rng.uniform(0, 1, (128, 8, 8, 1)).astype("float32")
    labels = np.argmax(keras.ops.convert_to_numpy(model(images)), axis=1)
    epsilon, steps, size = 0.03, 10, 0.0075

    # Madry et al.'s PGD, written out: sign steps on the loss's gradient,
    # projected onto the L-inf ball and clipped to [0, 1].
    adversarial = tf.constant(images)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(adversarial)
            value = loss(labels, model(adversarial, training=False))
        adversarial = adversarial + size * tf.sign(
            tape.gradient(value, adversarial))
        adversarial = tf.clip_by_value(adversarial, images - epsilon,
                                       images + epsilon)
        adversarial = tf.clip_by_value(adversarial, 0.0, 1.0)
    reference = float(np.mean(np.argmax(
        model(adversarial).numpy(), axis=1) == labels))

    ours = training.evaluate_robustness(
        model, images, labels, [epsilon], attacks=("pgd",), steps=steps,
        step_size=size, restarts=2, value_range=(0.0, 1.0))
    assert ours.clean == 1.0  # labels are the model's own predictions
    assert reference < 1.0  # the attack does something here
    assert ours.robust[("pgd", epsilon)] <= reference + 1 / 128
