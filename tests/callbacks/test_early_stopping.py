"""EarlyStopping: Keras semantics, the extras, and crash-and-resume."""

import os

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import regularizers
from keras_regkit import schedules
from tests.helpers import XLA

pytestmark = pytest.mark.backends


class FakeModel:
    """Just enough model for unit-level checks of the decision rule."""

    def __init__(self):
        self.stop_training = False
        self.weights = 0
        self.metrics = []

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = weights


def _drive(stopper, values, start_weights_at_epoch=True):
    model = FakeModel()
    stopper.set_model(model)
    stopper.on_train_begin()
    epochs = 0
    for epoch, value in enumerate(values):
        epochs += 1
        model.weights = epoch
        logs = {stopper.monitor: value}
        stopper.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    stopper.on_train_end()
    return epochs, model.weights, logs


def test_patience_and_restore_like_keras():
    values = [0.5, 0.4, 0.3, 0.35, 0.36, 0.37, 0.2]
    ours = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    theirs = keras.callbacks.EarlyStopping(patience=2,
                                           restore_best_weights=True)
    assert _drive(ours, values)[:2] == _drive(theirs, values)[:2] == (5, 2)
    assert ours.best_epoch == theirs.best_epoch == 2
    assert ours.stopped_epoch == theirs.stopped_epoch == 4


@pytest.mark.parametrize("kwargs", [
    {}, {"min_delta": 0.01, "min_delta_mode": "relative"},
    {"smoothing": "ema", "smoothing_window": 2},
    {"smoothing": "mean", "smoothing_window": 2},
])
def test_non_finite_values_are_skipped_with_a_warning(kwargs):
    # One inf and one NaN, then steady improvement: training goes on and
    # the best value is finite (a NaN would poison an average forever, an
    # inf as the first "best" would stop relative deltas for good).
    values = [float("inf"), 0.9, float("nan"), 0.7, 0.5, 0.3, 0.1]
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True,
                                      **kwargs)
    with pytest.warns(UserWarning, match="is not finite") as record:
        epochs, weights, logs = _drive(stopper, values)
    assert len(record) == 2
    assert epochs == len(values) and stopper.stopped_epoch == 0
    assert np.isfinite(stopper.best) and stopper.best_epoch == 6
    assert weights == 6


def test_non_finite_values_count_as_no_improvement_like_keras():
    values = [0.5, float("nan"), float("nan"), 0.4]
    ours = callbacks.EarlyStopping(patience=2)
    theirs = keras.callbacks.EarlyStopping(patience=2)
    with pytest.warns(UserWarning, match="is not finite"):
        ours_epochs = _drive(ours, values)[0]
    assert ours_epochs == _drive(theirs, values)[0] == 3
    assert ours.stopped_epoch == theirs.stopped_epoch == 2


def test_restores_at_natural_end():
    stopper = callbacks.EarlyStopping(patience=10, restore_best_weights=True)
    epochs, weights, _ = _drive(stopper, [0.5, 0.3, 0.4, 0.45])
    assert (epochs, weights, stopper.stopped_epoch) == (4, 1, 0)


@pytest.mark.parametrize("min_delta", [0.05, -0.05])
def test_min_delta_sign_is_ignored_like_keras(min_delta):
    # 0.5 -> 0.47 is not an improvement of at least 0.05 in either sign.
    stopper = callbacks.EarlyStopping(patience=1, min_delta=min_delta)
    epochs, _, _ = _drive(stopper, [0.5, 0.47, 0.46, 0.40])
    assert epochs == 2


def test_relative_min_delta():
    # 10% of the best value: 100 -> 95 is not enough, 100 -> 89 is.
    absolute = callbacks.EarlyStopping(patience=1, min_delta=0.1)
    relative = callbacks.EarlyStopping(patience=1, min_delta=0.1,
                                       min_delta_mode="relative")
    assert _drive(absolute, [100.0, 95.0, 94.0])[0] == 3
    assert _drive(relative, [100.0, 95.0, 94.0])[0] == 2
    assert _drive(relative, [100.0, 89.0, 79.0, 78.0])[0] == 4


@pytest.mark.parametrize("values", [[0.5, 0.6, 0.55, 0.58, 0.95],
                                    [0.5, 0.6, 0.7, 0.95, 0.9, 0.9, 0.9]])
def test_mode_max_and_baseline_like_keras(values):
    kwargs = {"monitor": "val_accuracy", "mode": "max", "patience": 2,
              "baseline": 0.9, "restore_best_weights": True}
    ours = callbacks.EarlyStopping(**kwargs)
    theirs = keras.callbacks.EarlyStopping(**kwargs)
    assert _drive(ours, values)[:2] == _drive(theirs, values)[:2]
    assert (ours.best, ours.best_epoch, ours.stopped_epoch) == (
        theirs.best, theirs.best_epoch, theirs.stopped_epoch)


def test_start_from_epoch():
    stopper = callbacks.EarlyStopping(patience=0, start_from_epoch=3)
    epochs, _, _ = _drive(stopper, [0.1, 0.2, 0.3, 0.4, 0.5])
    assert epochs == 5


def test_smoothing_ignores_a_single_noisy_epoch():
    values = [1.0, 0.8, 0.6, 0.9, 0.5, 0.45, 0.44]
    plain = callbacks.EarlyStopping(patience=0)
    assert _drive(plain, values)[0] == 4  # stops on the 0.9 spike
    # Means over 3 epochs: 1.0, .9, .8, .767, .667, .617, .463: no stop.
    mean = callbacks.EarlyStopping(patience=0, smoothing="mean",
                                   smoothing_window=3)
    epochs, _, logs = _drive(mean, values)
    assert epochs == 7
    assert logs["early_stopping/smoothed"] == pytest.approx(
        np.mean(values[-3:]))


def test_ema_smoothing_values():
    values = [1.0, 0.5, 0.25]
    ema = callbacks.EarlyStopping(patience=5, smoothing="ema",
                                  smoothing_window=3)  # alpha = 0.5
    _, _, logs = _drive(ema, values)
    assert logs["early_stopping/smoothed"] == pytest.approx(0.5)
    assert ema.best == pytest.approx(0.5)


def test_logs_and_attributes():
    stopper = callbacks.EarlyStopping(patience=5)
    _, _, logs = _drive(stopper, [0.5, 0.4, 0.45])
    assert logs["early_stopping/best"] == 0.4
    assert logs["early_stopping/best_epoch"] == 1
    assert logs["early_stopping/wait"] == 1
    assert stopper.best == 0.4


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(keras.optimizers.Adam(0.01), "mse", jit_compile=XLA)
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] + rng.normal(size=(64, 1)) * 0.5).astype("float32")
    return x[:32], y[:32], x[32:], y[32:]


@pytest.mark.parametrize("store", ["device", "host", "disk"])
def test_stores_restore_the_same_weights(store, tmp_path):
    x, y, xv, yv = _data()
    results = []
    for kind in ("keras", store):
        model = _model()
        if kind == "keras":
            stopper = keras.callbacks.EarlyStopping(
                patience=3, restore_best_weights=True)
        else:
            kwargs = {"weights_path": str(tmp_path / "b.weights.h5")} if (
                store == "disk") else {}
            stopper = callbacks.EarlyStopping(
                patience=3, restore_best_weights=True, weights_store=store,
                **kwargs)
        model.fit(x, y, validation_data=(xv, yv), epochs=40, verbose=0,
                  shuffle=False, callbacks=[stopper])
        results.append((stopper.best_epoch, model.get_weights()))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_device_snapshots_do_not_call_get_weights():
    x, y, xv, yv = _data()
    model = _model()

    def forbidden(*args, **kwargs):
        raise AssertionError("get_weights/set_weights called")

    model.get_weights = forbidden
    model.set_weights = forbidden
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model.fit(x, y, validation_data=(xv, yv), epochs=30, verbose=0,
              callbacks=[stopper])
    assert stopper.best_weights is not None


class Crash(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("simulated crash")


def test_crash_and_resume_matches_an_uninterrupted_run(tmp_path):
    x, y, xv, yv = _data()
    schedule = schedules.Linear(0.0, 1e-2, duration=20)
    path = "regkit/dense/kernel_regularizer/l2"

    def run(backup, crash_at=None):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((4,)),
            keras.layers.Dense(16, activation="relu", name="dense",
                               kernel_regularizer=regularizers.L2(schedule)),
            keras.layers.Dense(1, name="head"),
        ])
        model.compile(keras.optimizers.Adam(0.01), "mse", jit_compile=XLA)
        stopper = callbacks.EarlyStopping(
            patience=4, min_delta=1e-3, restore_best_weights=True,
            backup_dir=backup, smoothing="ema", smoothing_window=2)
        cbs = [keras.callbacks.BackupAndRestore(backup),
               callbacks.StrengthScheduler(), stopper]
        if crash_at is not None:
            cbs.append(Crash(crash_at))
        history = model.fit(x, y, validation_data=(xv, yv), epochs=60,
                            verbose=0, shuffle=False, callbacks=cbs)
        return model, stopper, history

    reference, ref_stop, ref_history = run(str(tmp_path / "a"))
    assert 0 < ref_stop.stopped_epoch < 59  # it did stop early
    crash_at = ref_stop.best_epoch + 1  # after the best, before the stop
    assert crash_at < ref_stop.stopped_epoch
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(str(tmp_path / "b"), crash_at=crash_at)
    assert os.path.exists(tmp_path / "b" / "regkit_early_stopping")
    resumed, stop, history = run(str(tmp_path / "b"))
    assert stop.stopped_epoch == ref_stop.stopped_epoch
    assert stop.best_epoch == ref_stop.best_epoch
    assert stop.best == pytest.approx(ref_stop.best, rel=1e-6)
    # The resumed fit ran only the epochs after the crash, with the schedule
    # where the uninterrupted run had it.
    assert len(history.history["loss"]) == ref_stop.stopped_epoch - crash_at
    assert history.history[path] == pytest.approx(
        ref_history.history[path][crash_at + 1:])
    for a, b in zip(reference.get_weights(), resumed.get_weights(),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Backups are gone after a normal end.
    assert not os.path.exists(tmp_path / "b" / "regkit_early_stopping")


def test_keras_loses_its_state_on_resume(tmp_path):
    # What we fix: Keras's EarlyStopping starts over after a restart.
    x, y, xv, yv = _data()
    backup = str(tmp_path / "k")
    model = _model()
    with pytest.raises(RuntimeError):
        model.fit(x, y, validation_data=(xv, yv), epochs=60, verbose=0,
                  shuffle=False, callbacks=[
                      keras.callbacks.BackupAndRestore(backup),
                      keras.callbacks.EarlyStopping(patience=4),
                      Crash(3)])
    stopper = keras.callbacks.EarlyStopping(patience=4)
    model = _model()
    model.fit(x, y, validation_data=(xv, yv), epochs=5, verbose=0,
              shuffle=False, callbacks=[
                  keras.callbacks.BackupAndRestore(backup), stopper])
    assert stopper.best_epoch >= 4  # it forgot epochs 0-3


# One test per error message.


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "maximum"}, r"argument `mode` of EarlyStopping: expected "
                              r"one of \"auto\", \"min\", \"max\". Received: "
                              r"mode='maximum'"),
        ({"min_delta": float("nan")}, r"argument `min_delta` of "
                                      r"EarlyStopping: expected a finite "
                                      r"float"),
        ({"patience": -1}, r"argument `patience` of EarlyStopping: expected "
                           r"an int >= 0. Received: patience=-1"),
        ({"min_delta_mode": "percent"}, r"argument `min_delta_mode` of "
                                        r"EarlyStopping: expected "
                                        r"\"absolute\" or \"relative\""),
        ({"smoothing": "median"}, r"argument `smoothing` of EarlyStopping: "
                                  r"expected None, \"mean\" or \"ema\""),
        ({"smoothing_window": 0}, r"argument `smoothing_window` of "
                                  r"EarlyStopping: expected an int >= 1"),
        ({"weights_store": "gpu"}, r"argument `weights_store` of "
                                   r"EarlyStopping: expected one of "
                                   r"\"device\", \"host\", \"disk\""),
        ({"weights_store": "disk", "weights_path": "best.h5"},
         r"argument `weights_path` of EarlyStopping: expected a path ending "
         r"in \".weights.h5\""),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        callbacks.EarlyStopping(**kwargs)


@pytest.mark.backends
def test_history_stays_rectangular():
    """One value per epoch for every key, NaN before `start_from_epoch`,
    so `pandas.DataFrame(history.history)` works (it failed: the
    `early_stopping/*` keys had fewer entries than epochs)."""
    model = _model()
    history = model.fit(
        np.ones((8, 4)), np.ones((8, 1)), epochs=4, verbose=0,
        validation_data=(np.ones((4, 4)), np.ones((4, 1))),
        callbacks=[callbacks.EarlyStopping(start_from_epoch=2,
                                           smoothing="mean",
                                           smoothing_window=2)])
    lengths = {k: len(v) for k, v in history.history.items()}
    assert set(lengths.values()) == {4}, lengths
    best = history.history["early_stopping/best"]
    assert np.isnan(best[:2]).all() and np.isfinite(best[2:]).all()
    assert np.isnan(history.history["early_stopping/smoothed"][:2]).all()
