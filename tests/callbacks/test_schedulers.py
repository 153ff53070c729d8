"""StrengthScheduler end to end: penalties follow schedules, no retrace."""

import json
import os

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import regularizers
from keras_regkit import schedules
from tests.helpers import XLA
from tests.helpers import dense_conv_model
from tests.helpers import toy_data

SCHEDULE = schedules.Linear(0.0, 1e-3, duration=3)
PATH = "regkit/dense/kernel_regularizer/l2"


class KernelRecorder(keras.callbacks.Callback):
    """Keeps both kernels as they are when each epoch starts."""

    def __init__(self):
        super().__init__()
        self.kernels = []

    def on_epoch_begin(self, epoch, logs=None):
        self.kernels.append(
            [
                keras.ops.convert_to_numpy(self.model.get_layer(n).kernel)
                for n in ("conv", "dense")
            ]
        )


def _fit_scheduled(epochs=4, initial_epoch=0, model=None):
    x, y = toy_data()
    if model is None:
        model = dense_conv_model(regularizers.L2(l2=SCHEDULE))
        model.compile(
            keras.optimizers.SGD(0.05), "mse", metrics=["mse"],
            jit_compile=XLA,
        )
    recorder = KernelRecorder()
    history = model.fit(
        x,
        y,
        batch_size=len(x),  # one step per epoch: the penalty of an epoch
        epochs=epochs,  # is then exactly that of the weights it starts with
        initial_epoch=initial_epoch,
        verbose=0,
        shuffle=False,
        callbacks=[callbacks.StrengthScheduler(), recorder],
    )
    return model, history, recorder


def _assert_penalty_follows_schedule(history, recorder, first_epoch=0):
    logged = history.history[PATH]
    for i, kernels in enumerate(recorder.kernels):
        epoch = first_epoch + i
        expected_factor = SCHEDULE(epoch)
        assert logged[i] == pytest.approx(expected_factor)
        squared_norm = sum(float(np.sum(k.astype("float64") ** 2))
                           for k in kernels)
        penalty = history.history["loss"][i] - history.history["mse"][i]
        assert penalty == pytest.approx(
            expected_factor * squared_norm, rel=1e-4, abs=1e-7
        )


@pytest.mark.backends
def test_penalty_follows_schedule_and_step_traced_once():
    model, history, recorder = _fit_scheduled()
    _assert_penalty_follows_schedule(history, recorder)
    # The schedule changed every epoch...
    assert len(set(history.history[PATH])) == 4
    # ...and the penalty with it (0 in epoch 0, > 0 after).
    penalties = np.subtract(history.history["loss"], history.history["mse"])
    assert penalties[0] == pytest.approx(0.0, abs=1e-7)
    assert np.all(penalties[1:] > 0)
    # The same fit with a constant factor traces the same number of times:
    # changing the value never retraced.
    counter = model.get_layer("trace_counter")
    baseline = dense_conv_model(regularizers.L2(l2=1e-3))
    baseline.compile(
        keras.optimizers.SGD(0.05), "mse", metrics=["mse"], jit_compile=XLA
    )
    _fit_scheduled(model=baseline)
    assert counter.traces == baseline.get_layer("trace_counter").traces


@pytest.mark.backends
@pytest.mark.skipif(not XLA, reason="torch runs eagerly: nothing to trace")
def test_no_trace_after_first_epoch():
    x, y = toy_data()
    model = dense_conv_model(regularizers.L2(l2=SCHEDULE))
    model.compile("sgd", "mse", jit_compile=XLA)
    counter = model.get_layer("trace_counter")
    per_epoch = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: per_epoch.append(counter.traces)
    )
    model.fit(
        x, y, batch_size=8, epochs=4, verbose=0,
        callbacks=[callbacks.StrengthScheduler(), record],
    )
    assert per_epoch[0] >= 1
    assert per_epoch == [per_epoch[0]] * 4


@pytest.mark.backends
def test_save_load_keeps_schedule_and_resumes(tmp_path):
    model, history, recorder = _fit_scheduled(epochs=2)
    path = os.fspath(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    # Compared as JSON: loading turns tuples into lists.
    assert json.dumps(loaded.get_config(), sort_keys=True) == json.dumps(
        model.get_config(), sort_keys=True
    )
    reg = loaded.get_layer("dense").kernel_regularizer
    assert isinstance(reg, regularizers.L2)
    strength = reg._regkit_strengths["l2"]
    assert strength.schedule == SCHEDULE
    # Same penalty on the same weights once the factor is at the same time.
    orig = model.get_layer("dense").kernel_regularizer
    for r in (orig, reg):
        strength = r._regkit_strengths["l2"]
        strength.assign(strength.value_at(1))
    kernel = model.get_layer("dense").kernel
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(orig(kernel)),
        keras.ops.convert_to_numpy(reg(loaded.get_layer("dense").kernel)),
        rtol=1e-6,
    )
    # Training continues where it left off: epochs 2 and 3 use the schedule's
    # values at 2 and 3, and the penalty matches them.
    loaded.compile(
        keras.optimizers.SGD(0.05), "mse", metrics=["mse"], jit_compile=XLA
    )
    _, history2, recorder2 = _fit_scheduled(
        epochs=4, initial_epoch=2, model=loaded
    )
    assert history2.history[PATH] == pytest.approx([SCHEDULE(2), SCHEDULE(3)])
    _assert_penalty_follows_schedule(history2, recorder2, first_epoch=2)


@pytest.mark.backends
def test_step_unit_schedule_resumes_from_optimizer_iterations(tmp_path):
    x, y = toy_data(n=16)
    schedule = schedules.Linear(0.0, 1.0, duration=8, unit="step")
    reg = regularizers.L1(l1=schedule)
    inputs = keras.Input((6, 6, 1))
    outputs = keras.layers.Dense(1, kernel_regularizer=reg, name="dense")(
        keras.layers.Flatten()(inputs)
    )
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse", jit_compile=XLA)
    seen = []
    probe = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: seen.append(
            float(reg._regkit_strengths["l1"].current)
        )
    )
    scheduler = callbacks.StrengthScheduler()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0,
              callbacks=[scheduler, probe])
    assert seen == pytest.approx([0.0, 0.125, 0.25, 0.375])
    path = os.fspath(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded_reg = loaded.get_layer("dense").kernel_regularizer
    seen.clear()
    probe = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: seen.append(
            float(loaded_reg._regkit_strengths["l1"].current)
        )
    )
    loaded.fit(x, y, batch_size=4, epochs=1, verbose=0,
               callbacks=[callbacks.StrengthScheduler(), probe])
    assert seen == pytest.approx([0.5, 0.625, 0.75, 0.875])
    # The device variable holds the value the step used last.
    assert float(keras.ops.convert_to_numpy(loaded_reg.l1)) == pytest.approx(
        0.875
    )


@pytest.mark.backends
def test_finds_strengths_in_nested_models_and_every_regularizer_slot():
    inner_in = keras.Input((4,))
    inner_out = keras.layers.Dense(
        4,
        kernel_regularizer=regularizers.L2(schedules.Linear(0.0, 1.0, 2)),
        bias_regularizer=regularizers.L1(schedules.Linear(1.0, 0.0, 2)),
        activity_regularizer=regularizers.L2(schedules.Cosine(0.0, 1.0, 2)),
        name="inner_dense",
    )(inner_in)
    inner = keras.Model(inner_in, inner_out, name="inner")
    outer_in = keras.Input((4,))
    outer_out = keras.layers.Dense(1, name="head")(inner(outer_in))
    model = keras.Model(outer_in, outer_out)
    model.compile("sgd", "mse")
    history = model.fit(
        np.ones((8, 4)), np.ones((8, 1)), epochs=3, verbose=0,
        callbacks=[callbacks.StrengthScheduler()],
    )
    logged = {k: v for k, v in history.history.items()
              if k.startswith("regkit")}
    assert logged == {
        "regkit/inner_dense/kernel_regularizer/l2": [0.0, 0.5, 1.0],
        "regkit/inner_dense/bias_regularizer/l1": [1.0, 0.5, 0.0],
        "regkit/inner_dense/activity_regularizer/l2": pytest.approx(
            [0.0, 0.5, 1.0]
        ),
    }


def test_layer_owned_strength_is_a_saved_weight(tmp_path):
    from keras_regkit.strengths import add_strength

    @keras.saving.register_keras_serializable(package="regkit_tests")
    class Scale(keras.layers.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = add_strength(self, "factor", factor)

        def call(self, x):
            return x * keras.ops.cast(self.factor.value, x.dtype)

        def get_config(self):
            return {**super().get_config(), "factor": self.factor.config()}

    inputs = keras.Input((2,))
    model = keras.Model(
        inputs, Scale(schedules.Piecewise([1], [1.0, 3.0]), name="s")(inputs)
    )
    assert len(model.non_trainable_weights) == 1
    model.compile("sgd", "mse", jit_compile=XLA)
    history = model.fit(
        np.ones((4, 2)), np.ones((4, 2)), epochs=2, verbose=0,
        callbacks=[callbacks.StrengthScheduler()],
    )
    assert history.history["regkit/s/factor"] == [1.0, 3.0]
    np.testing.assert_allclose(model.predict(np.ones((1, 2)), verbose=0), 3.0)
    path = os.fspath(tmp_path / "s.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(np.ones((1, 2)), verbose=0), 3.0)


def test_out_of_range_scheduled_value_names_owner_argument_time_value():
    class Overshoot(schedules.Schedule):
        def value(self, t):
            return 0.1 if t < 2 else -0.5

        def get_config(self):
            return {"unit": self.unit}

    model = dense_conv_model(regularizers.L2(l2=Overshoot()))
    model.compile("sgd", "mse")
    x, y = toy_data(n=4)
    with pytest.raises(
        ValueError,
        match=r"argument `l2` of L2: Overshoot\(unit='epoch'\) gives -0.5 at "
        r"epoch 2, but `l2` must be a float >= 0",
    ):
        model.fit(x, y, epochs=3, verbose=0,
                  callbacks=[callbacks.StrengthScheduler()])


def test_keras_learning_rate_schedule_is_read_in_steps():
    decay = keras.optimizers.schedules.PiecewiseConstantDecay([2], [0.0, 1.0])
    reg = regularizers.L2(l2=decay)
    model = dense_conv_model(reg)
    model.compile("sgd", "mse")
    x, y = toy_data(n=8)
    seen = []
    probe = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: seen.append(
            reg._regkit_strengths["l2"].current
        )
    )
    model.fit(x, y, batch_size=2, epochs=1, verbose=0,
              callbacks=[callbacks.StrengthScheduler(), probe])
    assert seen == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"verbose": 2}, r"argument `verbose` of StrengthScheduler: expected "
                         r"0 or 1. Received: verbose=2"),
        ({"log_constants": "yes"}, r"argument `log_constants` of "
                                   r"StrengthScheduler: expected a bool"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        callbacks.StrengthScheduler(**kwargs)


@pytest.mark.tf
@pytest.mark.slow
def test_mirrored_strategy_two_logical_cpus():
    import subprocess
    import sys
    import textwrap

    # Logical devices must be configured before TensorFlow initialises, so
    # this runs in a fresh interpreter.
    script = textwrap.dedent(
        """
        import os
        os.environ["KERAS_BACKEND"] = "tensorflow"
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras, numpy as np, json
        from keras_regkit import callbacks, regularizers, schedules
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            reg = regularizers.L2(l2=schedules.Linear(0.0, 1e-2, 2))
            inputs = keras.Input((4,))
            outputs = keras.layers.Dense(2, kernel_regularizer=reg,
                                         name="dense")(inputs)
            model = keras.Model(inputs, outputs)
            model.compile("sgd", "mse", metrics=["mse"])
        x = np.random.rand(16, 4).astype("float32")
        y = np.random.rand(16, 2).astype("float32")
        h = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False,
                      callbacks=[callbacks.StrengthScheduler()])
        print(json.dumps({
            "strength": h.history["regkit/dense/kernel_regularizer/l2"],
            "penalty": [l - m for l, m in zip(h.history["loss"],
                                              h.history["mse"])],
            "variable": type(reg.l2.value).__name__,
        }))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        timeout=300, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["strength"] == pytest.approx([0.0, 0.005, 0.01])
    assert result["penalty"][0] == pytest.approx(0.0, abs=1e-7)
    assert result["penalty"][2] > result["penalty"][1] > 0


def test_keeps_keras_async_batch_dispatch():
    # Keras dispatches batch-end callbacks asynchronously (no device sync per
    # step) only when no callback overrides the batch-end hooks.
    scheduler_cls = callbacks.StrengthScheduler
    for hook in ("on_train_batch_end", "on_batch_end"):
        assert getattr(scheduler_cls, hook) is getattr(
            keras.callbacks.Callback, hook
        )


class RateRecorder(keras.callbacks.Callback):
    """The dropout rate the step actually reads, at each epoch's first
    batch (read from the variable, not from any host-side cache)."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            rate = self.model.get_layer("drop").rate
            self.rates.append(float(keras.ops.convert_to_numpy(rate)))


@pytest.mark.backends
def test_continued_fit_after_restoring_best_weights_follows_the_schedule():
    # restore_best_weights restores strength variables too (they are
    # weights); a continued fit must run with the scheduled values again.
    schedule = schedules.Linear(0.0, 0.5, duration=2)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8)(inputs)
    x = layers.Dropout(schedule, name="drop", seed=0)(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(keras.optimizers.SGD(0.05), "mse")
    data = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    target = data.sum(axis=1, keepdims=True)
    # mode="max" on a falling loss: an early epoch stays best, so its
    # weights (and its rate, below 0.5) are restored when training stops.
    stopper = callbacks.EarlyStopping(monitor="loss", mode="max", patience=3,
                                      restore_best_weights=True)
    first = RateRecorder()
    model.fit(data, target, epochs=4, batch_size=32, verbose=0,
              callbacks=[callbacks.StrengthScheduler(), stopper, first])
    assert first.rates == [0.0, 0.25, 0.5, 0.5]
    assert float(keras.ops.convert_to_numpy(
        model.get_layer("drop").rate)) < 0.5  # restored
    second = RateRecorder()
    model.fit(data, target, initial_epoch=4, epochs=6, batch_size=32,
              verbose=0, callbacks=[callbacks.StrengthScheduler(), second])
    assert second.rates == [schedule(4), schedule(5)] == [0.5, 0.5]
