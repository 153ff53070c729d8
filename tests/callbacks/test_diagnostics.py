"""RegularizationMonitor: penalties, norms, sparsity, strengths, gaps."""

import csv

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit import regularizers
from keras_regkit import schedules
from tests.helpers import XLA

pytestmark = pytest.mark.backends


def test_logs_diagnostics_into_history_and_csv(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(
        8, name="hidden",
        kernel_regularizer=regularizers.L1(schedules.Linear(0.0, 1e-2, 2)),
    )(inputs)
    outputs = keras.layers.Dense(2, name="out",
                                 kernel_regularizer=regularizers.L2(1e-3))(
        hidden)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "mse", metrics=["mae"], jit_compile=XLA)
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    y = np.random.default_rng(1).normal(size=(32, 2)).astype("float32")
    csv_path = tmp_path / "log.csv"
    history = model.fit(
        x, y, validation_split=0.25, epochs=3, verbose=0,
        callbacks=[callbacks.StrengthScheduler(),
                   callbacks.RegularizationMonitor(sparsity_threshold=0.05),
                   keras.callbacks.CSVLogger(str(csv_path))],
    )
    h = history.history
    hidden_kernel = keras.ops.convert_to_numpy(
        model.get_layer("hidden").kernel)
    out_kernel = keras.ops.convert_to_numpy(model.get_layer("out").kernel)
    # Penalties are those of the final weights with the final strengths.
    assert h["regkit/penalty/hidden/kernel"][-1] == pytest.approx(
        1e-2 * np.abs(hidden_kernel).sum(), rel=1e-5)
    assert h["regkit/penalty/out/kernel"][-1] == pytest.approx(
        1e-3 * np.square(out_kernel).sum(), rel=1e-5)
    assert h["regkit/penalty/total"][-1] == pytest.approx(
        h["regkit/penalty/hidden/kernel"][-1]
        + h["regkit/penalty/out/kernel"][-1])
    assert h["regkit/penalty/hidden/kernel"][0] == 0.0  # l1 starts at 0
    assert h["regkit/norm/hidden/kernel"][-1] == pytest.approx(
        np.linalg.norm(hidden_kernel), rel=1e-5)
    assert h["regkit/sparsity/out/kernel"][-1] == pytest.approx(
        np.mean(np.abs(out_kernel) < 0.05))
    assert h["regkit/strength/hidden/kernel_regularizer/l1"] == (
        pytest.approx([0.0, 5e-3, 1e-2]))
    assert h["regkit/strength/out/kernel_regularizer/l2"] == [1e-3] * 3
    for metric in ("loss", "mae"):
        assert h[f"regkit/gap/{metric}"] == pytest.approx(
            np.subtract(h[f"val_{metric}"], h[metric]))
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert "regkit/gap/loss" in rows[0] and "regkit/penalty/total" in rows[0]


def test_layer_filter():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(
        2, name="b")(keras.layers.Dense(3, name="a")(inputs)))
    model.compile("sgd", "mse")
    monitor = callbacks.RegularizationMonitor(layers=["a"])
    monitor.set_model(model)
    out = monitor.diagnostics({})
    assert "regkit/norm/a/kernel" in out and "regkit/norm/b/kernel" not in out


def test_bad_threshold():
    with pytest.raises(ValueError, match=r"argument `sparsity_threshold` of "
                       r"RegularizationMonitor: expected a float >= 0"):
        callbacks.RegularizationMonitor(sparsity_threshold=-1)


def test_bad_layers():
    with pytest.raises(ValueError, match=r"argument `layers` of "
                       r"RegularizationMonitor: expected a non-empty list"):
        callbacks.RegularizationMonitor(layers="dense")


@pytest.mark.tf
def test_tensorboard_sees_the_diagnostics(tmp_path):
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(
        1, name="d", kernel_regularizer=regularizers.L2(1e-3))(inputs)
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    x = np.ones((16, 3), "float32")
    model.fit(x, np.ones((16, 1)), validation_split=0.25, epochs=2,
              verbose=0, callbacks=[
                  callbacks.RegularizationMonitor(),
                  keras.callbacks.TensorBoard(str(tmp_path))])
    events = accumulator.EventAccumulator(str(tmp_path / "train"))
    events.Reload()
    tags = set(events.Tags().get("tensors", [])) | set(
        events.Tags().get("scalars", []))
    assert any("regkit/penalty/d/kernel" in t for t in tags), tags
    assert any("regkit/gap/loss" in t for t in tags), tags
