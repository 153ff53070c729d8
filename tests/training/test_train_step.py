"""RegularizedModel / regularize end to end: XLA, fit features, saving,
schedules, tf.distribute, errors."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import schedules
from keras_regkit import training
from tests.helpers import XLA
from tests.helpers import TraceCounter

pytestmark = pytest.mark.backends


def _classifier(components, name="net"):
    inputs = keras.Input((6,))
    hidden = TraceCounter(name="trace_counter")(inputs)
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(hidden)
    outputs = keras.layers.Dense(3, name="logits")(hidden)
    return training.RegularizedModel(inputs, outputs, components=components,
                                     name=name)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1)


ALL = [
    training.StepMixUp(alpha=0.3, seed=1),
    training.AdversarialTraining(epsilon=0.05, share=0.5, seed=2),
    training.SAM(rho=0.05),
    training.GradientNoise(scale=1e-3, seed=3),
    training.GradientClipping(clipvalue=1.0, global_clipnorm=1.0),
    training.AdaptiveGradientClipping(0.05, exclude=["logits/*"]),
]


def _compile(model, jit=XLA, **kwargs):
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=jit, **kwargs)


def test_every_component_in_one_xla_step_with_validation_and_callbacks(
        tmp_path):
    model = _classifier(ALL)
    _compile(model, steps_per_execution=2 if XLA else 1)
    x, y = _data()
    seen, traces = [], []
    counter = model.get_layer("trace_counter")
    history = model.fit(
        x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.25,
        callbacks=[keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: seen.append(batch),
            on_epoch_end=lambda epoch, logs: traces.append(counter.traces)),
            keras.callbacks.CSVLogger(os.fspath(tmp_path / "log.csv"))])
    assert model.jit_compile is XLA
    logs = history.history
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "grad_norm",
                "grad_norm_clipped", "clipped", "sam_sharpness",
                "adversarial_share"):
        assert key in logs and np.all(np.isfinite(logs[key])), key
    assert all(a <= 1.0 + 1e-5 for a in logs["grad_norm_clipped"])
    assert "sam_sharpness" in (tmp_path / "log.csv").read_text()
    if XLA:
        assert seen and len(seen) < 3 * 3  # steps_per_execution groups
        # Traced in the first epoch only, however long we train.
        assert traces == [traces[0]] * 3
    model.evaluate(x, y, verbose=0)
    assert model.predict(x, verbose=0).shape == (64, 3)


@pytest.mark.tf
def test_the_whole_step_is_compiled_by_xla():
    """A component whose op has no XLA kernel makes fit fail with XLA's
    error, and run without `jit_compile`: the step is an XLA function."""
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="regkit_tests")
    class HostNoise(training.GradientNoise):
        def apply(self, gradients, step):
            host = tf.numpy_function(lambda s: s, [step], step.dtype)
            return [g + 0.0 * tf.cast(host, g.dtype) for g in gradients]

    x, y = _data()
    model = _classifier([HostNoise(seed=0)])
    _compile(model, jit=True)
    with pytest.raises(Exception, match="(?i)unsupported operations|XLA"):
        model.fit(x, y, epochs=1, verbose=0)
    model = _classifier([HostNoise(seed=0)])
    _compile(model, jit=False)
    model.fit(x, y, epochs=1, verbose=0)


def test_save_and_load_keep_the_step_configuration(tmp_path):
    model = _classifier([
        training.GradientClipping(global_clipnorm=schedules.Linear(
            1.0, 0.5, duration=4)),
        training.SAM(rho=0.1, adaptive=True),
        training.StepMixUp(alpha=0.2, seed=4),
    ])
    _compile(model)
    x, y = _data()
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[callbacks.StrengthScheduler()])
    path = os.fspath(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is training.RegularizedModel
    assert [type(c).__name__ for c in loaded.step_components] == [
        "GradientClipping", "SAM", "StepMixUp"]
    assert json.dumps(loaded.get_config()["components"], sort_keys=True) == \
        json.dumps(model.get_config()["components"], sort_keys=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)
    clip = loaded.step_components[0]
    assert float(clip.global_clipnorm) == pytest.approx(0.875)
    history = loaded.fit(x, y, epochs=1, verbose=0)
    assert "sam_sharpness" in history.history


def test_scheduled_strengths_change_without_retrace():
    model = _classifier([training.SAM(rho=schedules.Piecewise(
        [1, 2], [0.0, 0.05, 0.2]))])
    _compile(model)
    x, y = _data()
    counter, traces = model.get_layer("trace_counter"), []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: traces.append(counter.traces))
    history = model.fit(x, y, batch_size=64, epochs=3, verbose=0,
                        callbacks=[callbacks.StrengthScheduler(), probe])
    assert history.history["regkit/sam/rho"] == pytest.approx(
        [0.0, 0.05, 0.2])
    sharpness = history.history["sam_sharpness"]
    assert sharpness[0] == pytest.approx(0.0, abs=1e-6)
    assert 0 < sharpness[1] < sharpness[2]
    if XLA:
        assert traces == [traces[0]] * 3  # the new rho needed no retrace


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_regularize_wraps_any_model(kind, tmp_path):
    if kind == "sequential":
        base = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    elif kind == "functional":
        inputs = keras.Input((6,))
        base = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    else:
        @keras.saving.register_keras_serializable(package="regkit_tests")
        class Net(keras.Model):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.dense = keras.layers.Dense(3)

            def call(self, x):
                return self.dense(x)

        base = Net()
    model = training.regularize(base, [training.GradientClipping(
        clipnorm=0.5), training.StepMixUp(seed=0)])
    _compile(model)
    x, y = _data()
    history = model.fit(x, y, epochs=2, verbose=0)
    assert model.jit_compile is XLA and "clipped" in history.history
    # The wrapper shares the base model's weights.
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               base.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    path = os.fspath(tmp_path / "wrapped.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    assert [type(c).__name__ for c in loaded.step_components] == [
        "GradientClipping", "StepMixUp"]


def test_one_hot_labels_and_sample_weights_with_mixing():
    model = _classifier([training.StepMixUp(seed=0)])
    model.compile("adam", keras.losses.CategoricalCrossentropy(
        from_logits=True), jit_compile=XLA)
    x, y = _data()
    history = model.fit(x, np.eye(3)[y], sample_weight=np.ones(64),
                        epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_cutmix_in_step_on_images():
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(inputs))
    model = training.RegularizedModel(inputs, outputs,
                                      components=[training.StepCutMix()])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), jit_compile=XLA)
    history = model.fit(np.random.rand(16, 8, 8, 1), np.arange(16) % 2,
                        epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def _assert_one_and_two_devices_agree(script, env=None, same_logs=False):
    """Runs `script` (it prints JSON {name: [one device, two devices]},
    each `[weights, last logs]`) and compares the two runs."""
    result = subprocess.run([sys.executable, "-c", script], env=env,
                            check=False, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for name, ((w1, logs1), (w2, logs2)) in out.items():
        for a, b in zip(w1, w2, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5,
                                       err_msg=name)
        if same_logs:
            assert set(logs1) == set(logs2)
        for key in logs1:
            assert logs2[key] == pytest.approx(logs1[key], rel=1e-4), key


@pytest.mark.tf
@pytest.mark.slow
def test_mirrored_strategy_matches_one_device():
    # Logical devices must be configured before TensorFlow initialises.
    script = textwrap.dedent(
        """
        import os, json, sys
        os.environ["KERAS_BACKEND"] = "tensorflow"
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras, numpy as np
        from keras_regkit import training

        def run(strategy, components):
            keras.utils.set_random_seed(0)
            with strategy.scope():
                inputs = keras.Input((6,))
                hidden = keras.layers.Dense(8, activation="tanh")(inputs)
                outputs = keras.layers.Dense(3)(hidden)
                model = training.RegularizedModel(
                    inputs, outputs, components=components())
                model.compile(keras.optimizers.SGD(0.1), "mse",
                              jit_compile=False)
            rng = np.random.default_rng(0)
            x = rng.normal(size=(32, 6)).astype("float32")
            y = rng.normal(size=(32, 3)).astype("float32")
            h = model.fit(x, y, batch_size=16, epochs=3, verbose=0,
                          shuffle=False)
            return ([w.tolist() for w in model.get_weights()],
                    {k: v[-1] for k, v in h.history.items()})

        mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert mirrored.num_replicas_in_sync == 2
        single = tf.distribute.OneDeviceStrategy("/cpu:0")
        out = {}
        for name, components in {
            "clip": lambda: [training.GradientClipping(
                clipnorm=0.05, global_clipnorm=0.1)],
            "sam": lambda: [training.SAM(rho=0.1)],
            "weight_decay": lambda: [training.DecoupledWeightDecay(0.5)],
        }.items():
            out[name] = [run(single, components), run(mirrored, components)]
        print(json.dumps(out))
        """
    )
    _assert_one_and_two_devices_agree(script)


def test_errors():
    with pytest.raises(ValueError, match="at least one of `clipvalue`"):
        training.GradientClipping()
    with pytest.raises(ValueError, match=r"`clipnorm` of GradientClipping: "
                                         r"expected a float > 0"):
        training.GradientClipping(clipnorm=-1.0)
    with pytest.raises(ValueError, match=r"`rho` of SAM"):
        training.SAM(rho=0.0)
    with pytest.raises(TypeError, match=r"`adaptive` of SAM: expected a "
                                        r"bool"):
        training.SAM(adaptive="yes")
    with pytest.raises(ValueError, match=r"`share` of AdversarialTraining"):
        training.AdversarialTraining(0.1, share=1.5)
    with pytest.raises(ValueError, match=r"`value_range` of "
                                         r"AdversarialTraining"):
        training.AdversarialTraining(0.1, value_range=(1, 0))
    with pytest.raises(ValueError, match=r"`decay` of GradientNoise"):
        training.GradientNoise(decay=-1)
    with pytest.raises(TypeError, match=r"`exclude` of "
                                        r"AdaptiveGradientClipping"):
        training.AdaptiveGradientClipping(exclude="logits")
    with pytest.raises(ValueError, match=r"at most one SAM component"):
        _classifier([training.SAM(), training.SAM()])
    with pytest.raises(TypeError, match=r"takes train-step components"):
        _classifier([keras.layers.Dense(2)])
    with pytest.raises(TypeError, match=r"regularize\(\) takes a "
                                        r"keras.Model"):
        training.regularize(keras.layers.Dense(2), [])
    with pytest.raises(TypeError, match=r"is a train-step component"):
        training.SAM()(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"StepCutMix needs image batches"):
        training.StepCutMix().mix(keras.ops.zeros((4, 3)))


def test_uint8_images_are_mixed_and_perturbed_as_floats():
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(
        keras.layers.Rescaling(1 / 255)(inputs)))
    model = training.RegularizedModel(inputs, outputs, components=[
        training.StepCutMix(seed=0),
        training.AdversarialTraining(epsilon=2.0, value_range=(0, 255))])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), jit_compile=XLA)
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1))
    history = model.fit(images.astype("uint8"), np.arange(16) % 2,
                        epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch only")
def test_torch_refuses_torch_compile_with_a_clear_error():
    model = _classifier([training.SAM()])
    _compile(model, jit=True)
    with pytest.raises(ValueError, match="runs its train step eagerly on "
                                         "the torch backend"):
        model.fit(*_data(), epochs=1, verbose=0)


@pytest.mark.backends
@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX only")
def test_jax_data_parallel_matches_one_device():
    """Under `keras.distribution.DataParallel` on 2 devices, clipping, AGC
    and SAM see the whole batch's gradient: same weights and logs."""
    script = textwrap.dedent(
        """
        import os, json
        os.environ["KERAS_BACKEND"] = "jax"
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        import jax, keras, numpy as np
        from keras_regkit import training
        assert len(jax.devices()) == 2

        def run(distribution, components):
            keras.distribution.set_distribution(distribution)
            keras.utils.set_random_seed(0)
            inputs = keras.Input((6,))
            hidden = keras.layers.Dense(8, activation="tanh")(inputs)
            outputs = keras.layers.Dense(3)(hidden)
            model = training.RegularizedModel(inputs, outputs,
                                              components=components())
            model.compile(keras.optimizers.SGD(0.1), "mse")
            rng = np.random.default_rng(0)
            x = rng.normal(size=(32, 6)).astype("float32")
            y = rng.normal(size=(32, 3)).astype("float32")
            h = model.fit(x, y, batch_size=16, epochs=3, verbose=0,
                          shuffle=False)
            devices = model.trainable_variables[0].value.sharding.device_set
            assert len(devices) == (1 if distribution is None else 2)
            weights = [w.tolist() for w in model.get_weights()]
            keras.distribution.set_distribution(None)
            return weights, {k: v[-1] for k, v in h.history.items()}

        parallel = keras.distribution.DataParallel(devices=jax.devices())
        out = {}
        for name, components in {
            "clip": lambda: [training.GradientClipping(
                clipnorm=0.05, global_clipnorm=0.1)],
            "agc": lambda: [training.AdaptiveGradientClipping(0.01)],
            "sam": lambda: [training.SAM(rho=0.1)],
            "weight_decay": lambda: [training.DecoupledWeightDecay(0.5)],
        }.items():
            out[name] = [run(None, components), run(parallel, components)]
        print(json.dumps(out))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    _assert_one_and_two_devices_agree(script, env=env, same_logs=True)
