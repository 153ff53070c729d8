"""The train step under `mixed_float16` (loss scaling) and
`mixed_bfloat16`: each component's step matches float32, overflowing steps
are skipped and lower the loss scale."""

import keras
import numpy as np
import pytest

from keras_regkit import training
from tests.helpers import XLA
from tests.helpers import dtype_policy

pytestmark = pytest.mark.backends

COMPONENTS = {
    "none": lambda: [],
    "clipping": lambda: [training.GradientClipping(
        clipvalue=0.05, global_clipnorm=0.1)],
    "agc": lambda: [training.AdaptiveGradientClipping(0.01)],
    "sam": lambda: [training.SAM(rho=0.05)],
    "adversarial": lambda: [training.AdversarialTraining(
        epsilon=0.01, seed=2)],
    "pgd": lambda: [training.PGD(epsilon=0.01, steps=2, seed=2)],
    "trades": lambda: [training.TRADES(epsilon=0.01, beta=1.0, steps=2,
                                       from_logits=True, seed=2)],
    "mixup": lambda: [training.StepMixUp(alpha=0.3, seed=1)],
    "label_smoothing": lambda: [training.LabelSmoothing(0.1)],
    "noise": lambda: [training.GradientNoise(scale=1e-2, seed=3)],
    "weight_decay": lambda: [training.DecoupledWeightDecay(0.1)],
    "rdrop": lambda: [training.RDrop(alpha=1.0)],
}


def _data(y_scale=1.0):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 16)] * y_scale
    return x, y


def _one_step(components, policy, y_scale=1.0, steps=1):
    """Weight changes and logs of `steps` SGD steps under `policy`."""
    with dtype_policy(policy):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((6,))
        hidden = keras.layers.Dense(8, activation="tanh")(inputs)
        outputs = keras.layers.Dense(3, dtype="float32")(hidden)
        model = training.RegularizedModel(inputs, outputs,
                                          components=components)
        loss = (keras.losses.CategoricalCrossentropy(from_logits=True)
                if y_scale == 1.0 else "mse")
        optimizer = keras.optimizers.SGD(0.1)
        if policy == "mixed_float16" and y_scale == 1.0:
            # A smaller first scale than Keras's 2**15, whose first steps
            # may overflow (and are skipped) in these tiny nets.
            optimizer = keras.optimizers.LossScaleOptimizer(
                optimizer, initial_scale=2.0 ** 10)
        model.compile(optimizer, loss, jit_compile=XLA)
        x, y = _data(y_scale)
        before = [keras.ops.convert_to_numpy(w)
                  for w in model.trainable_weights]
        history = model.fit(np.concatenate([x] * steps),
                            np.concatenate([y] * steps), batch_size=16,
                            epochs=1, verbose=0, shuffle=False)
        changes = [keras.ops.convert_to_numpy(w) - b
                   for w, b in zip(model.trainable_weights, before,
                                   strict=True)]
    return changes, history.history, model


_FLOAT32 = {}


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", list(COMPONENTS))
def test_one_step_matches_float32(name, policy):
    """Every gradient-reading component sees the unscaled gradients: the
    step moves the weights as in float32 (not 1/32768 as far)."""
    if name not in _FLOAT32:
        _FLOAT32[name] = _one_step(COMPONENTS[name](), "float32")[:2]
    reference, reference_logs = _FLOAT32[name]
    changes, logs, model = _one_step(COMPONENTS[name](), policy)
    if policy == "mixed_float16":
        assert isinstance(model.optimizer,
                          keras.optimizers.LossScaleOptimizer)
    # bfloat16 keeps 8 bits of mantissa in the forward and backward pass.
    tolerance = 5e-2 if policy == "mixed_float16" else 0.2
    assert max(np.abs(expected).max() for expected in reference) > 1e-4
    for change, expected in zip(changes, reference, strict=True):
        np.testing.assert_allclose(
            change, expected, atol=tolerance * np.abs(expected).max() + 1e-7)
    assert logs.keys() == reference_logs.keys()
    for key, value in logs.items():
        assert value[0] == pytest.approx(reference_logs[key][0],
                                         rel=tolerance, abs=1e-3), key


def test_an_overflowing_step_is_skipped_and_lowers_the_scale():
    """The float16 backward pass overflows: no weight moves (not even by
    weight decay, nor by clipping's rescue of the infinite norm), the
    scale halves, and the components' logs leave the step out; the next
    steps train."""
    components = [training.GradientClipping(global_clipnorm=1.0),
                  training.DecoupledWeightDecay(0.1)]
    changes, logs, model = _one_step(components, "mixed_float16",
                                     y_scale=1e4)
    assert all(np.all(change == 0) for change in changes)
    scale = model.optimizer.dynamic_scale
    assert keras.ops.convert_to_numpy(scale) == 2.0 ** 14
    assert keras.ops.convert_to_numpy(model.optimizer.iterations) == 0
    assert logs["grad_norm"] == [0.0] and np.isfinite(logs["loss"][0])

    changes, logs, model = _one_step(components, "mixed_float16",
                                     y_scale=1e2, steps=6)
    assert 0 < keras.ops.convert_to_numpy(model.optimizer.iterations) < 6
    assert keras.ops.convert_to_numpy(model.optimizer.dynamic_scale) < (
        2.0 ** 15)
    assert all(np.abs(change).max() > 0 for change in changes)
    assert np.isfinite(logs["grad_norm"][0]) and logs["grad_norm"][0] > 0
