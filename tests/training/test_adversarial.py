"""`PGD` and `pgd`: on a linear model the worst case in the ball is known in
closed form, and PGD must reach it, on every backend."""

import json

import keras
import numpy as np
import pytest

from keras_regkit import training
from tests.helpers import XLA

pytestmark = pytest.mark.backends


def _linear(components):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1, name="dense")(inputs)
    return training.RegularizedModel(inputs, outputs, components=components)


def _data(offset=0.0):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 0.8, size=(8, 3)).astype("float32")
    y = (rng.normal(size=(8, 1)) + offset).astype("float32")
    return x, y


def _adversarial_loss(model, x, y):
    """The loss the step trained on: SGD at rate 0 leaves the weights, and
    the step's loss is the loss of the adversarial batch."""
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=XLA)
    history = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0,
                        shuffle=False)
    return history.history["loss"][0]


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_reaches_the_closed_form_worst_case_of_a_linear_model(
        norm, random_start):
    eps = 0.1
    # With a random start, residuals larger than the ball can move them
    # keep their sign, so the worst case is still the corner PGD climbs to.
    x, y = _data(offset=3.0 if random_start else 0.0)
    # From a random start in the L2 ball, each projection shrinks the part
    # of the step across the gradient by eps / |delta|: steps of size eps
    # make it vanish (halved each step).
    model = _linear([training.PGD(eps, steps=10, step_size=eps, norm=norm,
                                  random_start=random_start, seed=3)])
    kernel, bias = (keras.ops.convert_to_numpy(v)
                    for v in model.get_layer("dense").weights)
    residual = (x @ kernel + bias - y)[:, 0]
    reach = eps * (np.abs(kernel).sum() if norm == "inf"
                   else np.sqrt((kernel**2).sum()))
    worst = np.mean((np.abs(residual) + reach) ** 2)
    clean = np.mean(residual**2)
    loss = _adversarial_loss(model, x, y)
    assert loss > clean
    np.testing.assert_allclose(loss, worst, rtol=1e-5)


def test_pgd_function_projects_and_clips():
    w = keras.ops.convert_to_tensor([[1.0, -2.0, 0.5]])
    x = keras.ops.convert_to_tensor([[0.95, 0.0, 0.5]])
    out = keras.ops.convert_to_numpy(training.pgd(
        x, lambda v: w, 0.1, steps=4, step_size=0.05,
        value_range=(0.0, 1.0)))
    # L-inf corner along sign(w), clipped to the value range.
    np.testing.assert_allclose(out, [[1.0, 0.0, 0.6]], atol=1e-6)
    two = keras.ops.convert_to_numpy(training.pgd(
        x, lambda v: w, 0.3, steps=3, step_size=0.2, norm="2"))
    delta = two - keras.ops.convert_to_numpy(x)
    np.testing.assert_allclose(np.linalg.norm(delta), 0.3, rtol=1e-5)
    np.testing.assert_allclose(delta / np.linalg.norm(delta),
                               np.array([[1.0, -2.0, 0.5]]) / np.sqrt(5.25),
                               rtol=1e-5)
    same = training.pgd(x, lambda v: w, 0.1, steps=0, step_size=0.05)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(same),
                                  keras.ops.convert_to_numpy(x))


def test_pgd_with_mixing_sample_weights_schedule_and_saving(tmp_path):
    from keras_regkit import callbacks
    from keras_regkit import schedules

    model = _linear([training.StepMixUp(alpha=0.2, seed=1),
                     training.PGD(schedules.Linear(0.0, 0.1, duration=2),
                                  steps=2, value_range=(0.0, 1.0), seed=2)])
    model.compile(keras.optimizers.SGD(0.05), "mse", jit_compile=XLA)
    x, y = _data()
    history = model.fit(x, y, sample_weight=np.linspace(0.5, 1.5, 8),
                        batch_size=4, epochs=2, verbose=0,
                        callbacks=[callbacks.StrengthScheduler()])
    assert history.history["regkit/pgd/epsilon"] == pytest.approx([0.0, 0.05])
    assert np.all(np.isfinite(history.history["loss"]))
    path = str(tmp_path / "pgd.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe mode
    component = loaded.step_components[1]
    assert isinstance(component, training.PGD)
    assert json.dumps(component.get_config(), sort_keys=True) == json.dumps(
        model.step_components[1].get_config(), sort_keys=True)


def test_pgd_arguments_are_checked():
    with pytest.raises(ValueError, match=r"`norm` of PGD"):
        training.PGD(0.1, norm="1")
    with pytest.raises(ValueError, match=r"`steps` of PGD"):
        training.PGD(0.1, steps=101)
    with pytest.raises(ValueError, match=r"`epsilon` of PGD"):
        training.PGD(-0.1)
    with pytest.raises(ValueError, match=r"`value_range` of PGD"):
        training.PGD(0.1, value_range=(1, 0))
    with pytest.raises(TypeError, match=r"`random_start` of PGD"):
        training.PGD(0.1, random_start="yes")
    with pytest.raises(ValueError, match=r"at most one"):
        _linear([training.PGD(0.1), training.AdversarialTraining(0.1)])


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_one_trades_step_equals_a_hand_computed_one():
    from keras_regkit import _random

    eps, beta, steps, size, lr, n = 0.1, 2.0, 2, 0.07, 0.1, 6
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, name="dense")(inputs)
    model = training.RegularizedModel(inputs, outputs, components=[
        training.TRADES(eps, beta=beta, steps=steps, step_size=size,
                        from_logits=True, seed=5)])
    # Outside XLA, so that the attack's start draws what an eager draw
    # from the same seed gives (TensorFlow's graph uses its Philox kernel).
    model.compile(keras.optimizers.SGD(lr), keras.losses
                  .SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = rng.integers(0, 3, n)
    kernel, bias = (keras.ops.convert_to_numpy(v).astype("float64")
                    for v in model.get_layer("dense").weights)
    noise = keras.ops.convert_to_numpy(
        _random.normal((n, 4), keras.random.SeedGenerator(5)))

    p = _softmax(x @ kernel + bias)
    adversarial = x + 0.001 * noise
    for _ in range(steps):
        q = _softmax(adversarial @ kernel + bias)
        adversarial = adversarial + size * np.sign((q - p) @ kernel.T)
        adversarial = np.clip(adversarial, x - eps, x + eps)
    q = _softmax(adversarial @ kernel + bias)
    kl = np.sum(p * (np.log(p) - np.log(q)), axis=1)
    onehot = np.eye(3)[y]
    d_clean = (p - onehot) / n + beta / n * (
        p * (np.log(p) - np.log(q)) - p * kl[:, None])
    d_adversarial = beta / n * (q - p)
    grad_kernel = x.T @ d_clean + adversarial.T @ d_adversarial
    grad_bias = d_clean.sum(0) + d_adversarial.sum(0)

    history = model.fit(x, y, batch_size=n, epochs=1, verbose=0,
                        shuffle=False)
    new_kernel, new_bias = (keras.ops.convert_to_numpy(v)
                            for v in model.get_layer("dense").weights)
    np.testing.assert_allclose(history.history["trades_kl"][0], kl.mean(),
                               rtol=1e-4, atol=1e-7)
    clean_loss = -np.mean(np.log(p[np.arange(n), y]))
    np.testing.assert_allclose(history.history["loss"][0],
                               clean_loss + beta * kl.mean(), rtol=1e-4)
    np.testing.assert_allclose(new_kernel, kernel - lr * grad_kernel,
                               atol=1e-5)
    np.testing.assert_allclose(new_bias, bias - lr * grad_bias, atol=1e-5)


def test_trades_trains_under_xla_with_schedules_and_saves(tmp_path):
    from keras_regkit import callbacks
    from keras_regkit import schedules

    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3)(keras.layers.Dense(8, activation="relu")(
        inputs))
    model = training.RegularizedModel(inputs, outputs, components=[
        training.TRADES(schedules.Linear(0.0, 0.1, duration=2), beta=1.0,
                        steps=2, value_range=(-3.0, 3.0), from_logits=True,
                        seed=1)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"], jit_compile=XLA)
    rng = np.random.default_rng(0)
    history = model.fit(rng.normal(size=(16, 4)), rng.integers(0, 3, 16),
                        batch_size=8, epochs=2, verbose=0,
                        callbacks=[callbacks.StrengthScheduler()])
    assert history.history["regkit/trades/epsilon"] == pytest.approx(
        [0.0, 0.05])
    assert all(v >= 0 for v in history.history["trades_kl"])
    path = str(tmp_path / "trades.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.step_components[0], training.TRADES)
    assert loaded.step_components[0].get_config() == (
        model.step_components[0].get_config())


def test_trades_arguments_are_checked():
    with pytest.raises(ValueError, match=r"`beta` of TRADES"):
        training.TRADES(0.1, beta=-1.0)
    with pytest.raises(TypeError, match=r"`from_logits` of TRADES"):
        training.TRADES(0.1, from_logits="yes")
    with pytest.raises(ValueError, match=r"at most one"):
        _linear([training.TRADES(0.1), training.PGD(0.1)])


def test_a_scheduled_step_count_follows_its_schedule():
    from keras_regkit import callbacks
    from keras_regkit import schedules

    eps = 0.1
    x, y = _data()
    schedule = schedules.Piecewise([1], [0.0, 3.0])
    model = _linear([training.PGD(eps, steps=schedule, step_size=eps,
                                  random_start=False)])
    component = model.step_components[0]
    assert component.steps == schedule
    kernel, bias = (keras.ops.convert_to_numpy(v)
                    for v in model.get_layer("dense").weights)
    residual = (x @ kernel + bias - y)[:, 0]
    reach = eps * np.abs(kernel).sum()
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=XLA)
    history = model.fit(x, y, batch_size=len(x), epochs=2, verbose=0,
                        shuffle=False,
                        callbacks=[callbacks.StrengthScheduler()])
    # Epoch 0: no step moves (the clean loss); epoch 1: the worst case.
    np.testing.assert_allclose(history.history["loss"],
                               [np.mean(residual**2),
                                np.mean((np.abs(residual) + reach) ** 2)],
                               rtol=1e-5)
    assert history.history["regkit/pgd/steps"] == [0.0, 3.0]
    config = component.get_config()
    assert config["steps"]["class_name"] == "Piecewise"
    assert training.PGD.from_config(config).steps == schedule
    with pytest.raises(TypeError, match=r"`steps` of PGD"):
        training.PGD(0.1, steps=2.5)
