"""Each train-step component against a small hand-computed reference."""

import keras
import numpy as np
import pytest

from keras_regkit import training
from tests.helpers import XLA

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _linear_model(components, seed=0, units=2, features=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((features,))
    outputs = keras.layers.Dense(units, name="dense")(inputs)
    return training.RegularizedModel(inputs, outputs, components=components)


def _data(n=8, features=3, units=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, features)).astype("float32"),
            rng.normal(size=(n, units)).astype("float32"))


def _mse_grads(kernel, bias, x, y):
    """d/dW, d/db of mean((xW + b - y)^2) over all entries."""
    residual = x @ kernel + bias - y
    scale = 2.0 / residual.size
    return x.T @ residual * scale, residual.sum(0) * scale, residual


def _one_sgd_step(model, x, y, lr=0.1):
    model.compile(keras.optimizers.SGD(lr), "mse", jit_compile=XLA)
    kernel, bias = (_np(v) for v in model.get_layer("dense").weights)
    history = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0,
                        shuffle=False)
    new_kernel, new_bias = (_np(v) for v in
                            model.get_layer("dense").weights)
    return kernel, bias, new_kernel, new_bias, history.history


def test_global_clip_matches_hand_computation():
    x, y = _data()
    model = _linear_model([training.GradientClipping(global_clipnorm=0.1)])
    kernel, bias, new_kernel, new_bias, logs = _one_sgd_step(model, x, y)
    gk, gb, _ = _mse_grads(kernel, bias, x, y)
    norm = np.sqrt((gk ** 2).sum() + (gb ** 2).sum())
    assert norm > 0.1
    scale = 0.1 / norm
    np.testing.assert_allclose(new_kernel, kernel - 0.1 * gk * scale,
                               atol=1e-6)
    np.testing.assert_allclose(new_bias, bias - 0.1 * gb * scale, atol=1e-6)
    assert logs["grad_norm"][0] == pytest.approx(norm, rel=1e-5)
    assert logs["grad_norm_clipped"][0] == pytest.approx(0.1, rel=1e-5)
    assert logs["clipped"][0] == 1.0


def test_value_norm_and_global_clipping_together():
    gradients = [keras.ops.convert_to_tensor([3.0, -4.0]),
                 keras.ops.convert_to_tensor([0.5])]
    clipped, changed, squares = training.clip_gradients(
        gradients, clipvalue=2.0, clipnorm=2.0, global_clipnorm=1.0)
    # value: [2, -2], [0.5]; norm: [1.414, -1.414], [0.5]; global: /3.0
    first = np.array([2.0, -2.0]) * (2.0 / np.sqrt(8.0))
    total = np.sqrt((first ** 2).sum() + 0.25)
    np.testing.assert_allclose(_np(clipped[0]), first / total, rtol=1e-5)
    np.testing.assert_allclose(_np(clipped[1]), [0.5 / total], rtol=1e-5)
    assert bool(changed)
    assert float(sum(squares)) == pytest.approx(1.0, rel=1e-5)
    unchanged, changed, _ = training.clip_gradients(gradients,
                                                    global_clipnorm=100.0)
    np.testing.assert_allclose(_np(unchanged[0]), [3.0, -4.0])
    assert not bool(changed)


def test_agc_formula_unit_wise():
    x, y = _data()
    model = _linear_model([training.AdaptiveGradientClipping(0.01)])
    kernel, bias, new_kernel, new_bias, logs = _one_sgd_step(model, x, y)
    gk, gb, _ = _mse_grads(kernel, bias, x, y)
    w_norm = np.maximum(np.sqrt((kernel ** 2).sum(0)), 1e-3)
    g_norm = np.sqrt((gk ** 2).sum(0))
    limit = 0.01 * w_norm
    expected = gk * np.where(g_norm > limit, limit / g_norm, 1.0)
    np.testing.assert_allclose(new_kernel, kernel - 0.1 * expected,
                               atol=1e-6)
    # The bias starts at 0: each element is capped at 0.01 * eps.
    limit_b = 0.01 * np.maximum(np.abs(bias), 1e-3)
    expected_b = np.where(np.abs(gb) > limit_b,
                          gb * limit_b / np.abs(gb), gb)
    np.testing.assert_allclose(new_bias, bias - 0.1 * expected_b, atol=1e-7)
    assert logs["clipped"][0] == 1.0


def test_agc_exclude_leaves_matching_variables_alone():
    x, y = _data()
    model = _linear_model([training.AdaptiveGradientClipping(
        0.01, exclude=["dense/bias"])])
    kernel, bias, _, new_bias, _ = _one_sgd_step(model, x, y)
    _, gb, _ = _mse_grads(kernel, bias, x, y)
    np.testing.assert_allclose(new_bias, bias - 0.1 * gb, atol=1e-6)


@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_two_pass_update(adaptive):
    x, y = _data()
    rho = 0.5
    model = _linear_model([training.SAM(rho=rho, adaptive=adaptive)])
    kernel, bias, new_kernel, new_bias, logs = _one_sgd_step(model, x, y)
    gk, gb, residual = _mse_grads(kernel, bias, x, y)
    if adaptive:
        sk, sb = np.abs(kernel) * gk, np.abs(bias) * gb
        norm = np.sqrt((sk ** 2).sum() + (sb ** 2).sum())
        ek, eb = rho * np.abs(kernel) * sk / norm, rho * np.abs(bias) * sb / (
            norm)
    else:
        norm = np.sqrt((gk ** 2).sum() + (gb ** 2).sum())
        ek, eb = rho * gk / norm, rho * gb / norm
    gk2, gb2, residual2 = _mse_grads(kernel + ek, bias + eb, x, y)
    np.testing.assert_allclose(new_kernel, kernel - 0.1 * gk2, atol=1e-5)
    np.testing.assert_allclose(new_bias, bias - 0.1 * gb2, atol=1e-5)
    sharpness = (residual2 ** 2).mean() - (residual ** 2).mean()
    assert logs["sam_sharpness"][0] == pytest.approx(sharpness, rel=1e-4)
    assert sharpness > 0


def test_fgsm_takes_the_sign_of_the_input_gradient():
    x, y = _data(n=6)
    eps = 0.25
    model = _linear_model([training.AdversarialTraining(epsilon=eps,
                                                        share=1.0)])
    kernel, bias, new_kernel, new_bias, logs = _one_sgd_step(model, x, y)
    _, _, residual = _mse_grads(kernel, bias, x, y)
    input_gradient = residual @ kernel.T  # d loss / d x, up to a positive
    x_adv = x + eps * np.sign(input_gradient)
    gk, gb, _ = _mse_grads(kernel, bias, x_adv, y)
    np.testing.assert_allclose(new_kernel, kernel - 0.1 * gk, atol=1e-5)
    np.testing.assert_allclose(new_bias, bias - 0.1 * gb, atol=1e-5)
    assert logs["adversarial_share"][0] == 1.0
    fgsm = _np(training.fgsm(x, input_gradient, eps, value_range=(-1, 1)))
    np.testing.assert_allclose(fgsm, np.clip(x_adv, -1, 1), atol=1e-6)


def test_adversarial_share_is_the_fraction_replaced():
    component = training.AdversarialTraining(epsilon=0.1, share=0.3, seed=0)
    x = np.zeros((4000, 2), "float32")
    mixed, chosen = component.perturb(keras.ops.convert_to_tensor(x),
                                      keras.ops.ones_like(x))
    assert abs(float(keras.ops.mean(chosen)) - 0.3) < 0.03
    np.testing.assert_allclose(_np(mixed)[_np(chosen) == 1], 0.1)
    np.testing.assert_allclose(_np(mixed)[_np(chosen) == 0], 0.0)


def test_mixup_mixes_inputs_and_label_losses_with_one_draw():
    component = training.StepMixUp(alpha=0.4, seed=0)
    x = np.arange(16, dtype="float32").reshape(8, 2)
    mixed, weight, order = component.mix(keras.ops.convert_to_tensor(x))
    mixed, weight, order = _np(mixed), _np(weight), _np(order)
    np.testing.assert_allclose(
        mixed, weight[:, None] * x + (1 - weight[:, None]) * x[order],
        rtol=1e-5)
    # The loss is weight * loss(y) + (1 - weight) * loss(y[order]); with
    # sparse labels this equals cross-entropy against mixed one-hot labels.
    model = _linear_model([training.StepMixUp(alpha=0.4, seed=0)],
                          units=3, features=2)
    logits = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
    labels = np.arange(8) % 3
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    loss = _np(model._loss(x, labels, logits, None, (weight, order)))
    one_hot = np.eye(3)[labels]
    soft = weight[:, None] * one_hot + (1 - weight[:, None]) * one_hot[order]
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert loss == pytest.approx(-(soft * log_p).sum(1).mean(), rel=1e-5)


def test_cutmix_label_weight_is_the_kept_area():
    component = training.StepCutMix(seed=0)
    x = np.arange(16, dtype="float32")[:, None, None, None] * np.ones(
        (16, 8, 8, 1), "float32")
    mixed, weight, order = component.mix(keras.ops.convert_to_tensor(x))
    kept = (_np(mixed) == x).mean(axis=(1, 2, 3))
    # An image drawn as its own partner keeps every pixel it "loses"; its
    # labels are mixed with themselves, so any weight is right for it.
    own = _np(order) == np.arange(16)
    assert not own.all()
    np.testing.assert_allclose(_np(weight)[~own], kept[~own], atol=1e-6)


def test_gradient_noise_decays_with_steps():
    component = training.GradientNoise(scale=1.0, decay=0.55, seed=0)
    zeros = [keras.ops.zeros((4000,)), keras.ops.zeros((2, 3))]
    early = _np(component.apply(zeros, 0)[0])
    late = _np(component.apply(zeros, 99)[0])
    assert np.std(early) == pytest.approx(1.0, rel=0.05)
    assert np.std(late) == pytest.approx(100 ** -0.55, rel=0.05)
    assert component.apply(zeros, 0)[1].shape == (2, 3)


@keras.saving.register_keras_serializable(package="regkit_tests")
class HalveGradients(training.StepComponent):
    """A user's component: `keras.ops` only, one hook, one declared log."""

    logs = ("halved_norm",)

    def transform_gradients(self, gradients, step):
        halved = [0.5 * g for g in gradients]
        step.log("halved_norm", keras.ops.sqrt(sum(step.squares(halved))))
        return halved


def test_a_component_written_once_runs_on_every_backend(tmp_path):
    x, y = _data()
    model = _linear_model([HalveGradients()])
    kernel, bias, new_kernel, new_bias, logs = _one_sgd_step(model, x, y)
    gk, gb, _ = _mse_grads(kernel, bias, x, y)
    np.testing.assert_allclose(new_kernel, kernel - 0.05 * gk, atol=1e-6)
    np.testing.assert_allclose(new_bias, bias - 0.05 * gb, atol=1e-6)
    norm = 0.5 * np.sqrt((gk ** 2).sum() + (gb ** 2).sum())
    assert logs["halved_norm"][0] == pytest.approx(norm, rel=1e-5)
    path = str(tmp_path / "halved.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.step_components[0]) is HalveGradients
