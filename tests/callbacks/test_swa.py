"""SWA: the average of the right weights, its learning rates, recomputed
batch-norm statistics, validation on the average, and exact resumption."""

import os

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from tests.helpers import XLA

pytestmark = pytest.mark.backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    return x, (x @ rng.normal(size=(5, 1))).astype("float32")


def _model(batch_norm=False, seed=0, learning_rate=0.05):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((5,)), keras.layers.Dense(8, activation="relu")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization(name="bn"))
    model = keras.Sequential(layers + [keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(learning_rate, momentum=0.5), "mse",
                  jit_compile=XLA)
    return model


class _Recorder(keras.callbacks.Callback):
    """Weights after every epoch and the learning rate of every step."""

    def on_train_begin(self, logs=None):
        self.weights, self.rates = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(float(_np(self.model.optimizer.learning_rate)))

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([_np(v) for v in self.model.trainable_variables])


def test_swa_averages_cycle_ends_and_validates_on_the_average(tmp_path):
    x, y = _data()
    model = _model()
    record = _Recorder()
    swa = callbacks.SWA(start_epoch=2, cycle_epochs=2)
    history = model.fit(x, y, batch_size=16, epochs=7, shuffle=False,
                        validation_data=(x[:16], y[:16]), verbose=0,
                        callbacks=[record, swa]).history
    averaged = [3, 5]  # epochs (0-based) closing a 2-epoch cycle from 2
    want = [np.mean([record.weights[e][i] for e in averaged], axis=0)
            for i in range(len(record.weights[0]))]
    for got, expected in zip(model.trainable_variables, want, strict=True):
        np.testing.assert_allclose(_np(got), expected, rtol=1e-5, atol=1e-6)
    assert history["swa/models"] == [0, 0, 0, 1, 1, 2, 2]
    # Validation of epoch 5 ran on the average of epochs 3 and 5.
    probe = _model()
    probe.set_weights(want)
    assert history["val_loss"][5] == pytest.approx(
        probe.evaluate(x[:16], y[:16], verbose=0), rel=1e-5)
    # Before any average, validation ran on the training weights.
    probe.set_weights(record.weights[1])
    assert history["val_loss"][1] == pytest.approx(
        probe.evaluate(x[:16], y[:16], verbose=0), rel=1e-5)
    path = str(tmp_path / "swa.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for got, expected in zip(loaded.trainable_variables, want, strict=True):
        np.testing.assert_allclose(_np(got), expected, rtol=1e-5, atol=1e-6)


def test_swa_learning_rates_constant_and_cyclical():
    x, y = _data()
    model, record = _model(learning_rate=0.1), _Recorder()
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False,
              callbacks=[record, callbacks.SWA(1, learning_rate=0.02)])
    np.testing.assert_allclose(record.rates, [0.1] * 4 + [0.02] * 8,
                               rtol=1e-6)
    model, record = _model(learning_rate=0.1), _Recorder()
    swa = callbacks.SWA(1, learning_rate=0.05, min_learning_rate=0.01,
                        cycle_epochs=2)
    logs = model.fit(x, y, batch_size=16, epochs=5, verbose=0,
                     shuffle=False, callbacks=[record, swa]).history
    # Paper: t = (i mod c + 1) / c over the c = 8 steps of a cycle.
    t = (np.arange(8) + 1) / 8
    cycle = (1 - t) * 0.05 + t * 0.01
    np.testing.assert_allclose(record.rates[4:],
                               np.concatenate([cycle, cycle]), rtol=1e-5)
    assert logs["swa/models"] == [0, 0, 1, 1, 2]
    assert logs["swa/learning_rate"][-1] == pytest.approx(0.01)


def test_recompute_batch_norm_gives_the_mean_of_batch_statistics():
    x, _ = _data(n=48)
    model = _model(batch_norm=True)
    assert callbacks.recompute_batch_norm(model, x, batch_size=16) == 3
    hidden = keras.Model(model.inputs, model.layers[0].output)
    h = _np(hidden(x))
    batches = h.reshape(3, 16, -1)
    bn = model.get_layer("bn")
    np.testing.assert_allclose(_np(bn.moving_mean),
                               batches.mean(1).mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(bn.moving_variance),
                               batches.var(1).mean(0), rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.99  # put back


def test_swa_recomputes_batch_norm_for_the_average():
    x, y = _data()
    model = _model(batch_norm=True)
    swa = callbacks.SWA(1, batch_norm_data=x)
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False,
              callbacks=[swa])
    bn = model.get_layer("bn")
    after = _np(bn.moving_mean).copy()
    callbacks.recompute_batch_norm(model, x)
    np.testing.assert_allclose(after, _np(bn.moving_mean), rtol=1e-4,
                               atol=1e-5)
    with pytest.raises(ValueError, match="batch_norm_data"):
        _model(batch_norm=True).fit(x, y, verbose=0,
                                    callbacks=[callbacks.SWA(0)])


class _Crash(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("killed")


@pytest.mark.parametrize("swa_first", [True, False])
def test_swa_resumes_exactly_after_a_crash(tmp_path, swa_first):
    x, y = _data()
    fit = dict(batch_size=16, epochs=6, shuffle=False, verbose=0)
    reference = _model()
    reference.fit(x, y, callbacks=[callbacks.SWA(1, learning_rate=0.02)],
                  **fit)

    def run(crash):
        backup = str(tmp_path / "backup")
        swa = callbacks.SWA(1, learning_rate=0.02, backup_dir=backup)
        restore = callbacks.BackupAndRestore(backup)
        order = [swa, crash, restore] if swa_first else [restore, crash, swa]
        model = _model()
        model.fit(x, y, callbacks=[c for c in order if c is not None], **fit)
        return model

    with pytest.raises(RuntimeError, match="killed"):
        run(_Crash(3))
    assert os.listdir(tmp_path / "backup" / "regkit_swa")
    resumed = run(None)
    for got, want in zip(resumed.get_weights(), reference.get_weights(),
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not os.path.exists(tmp_path / "backup"), [
        str(p) for p in (tmp_path / "backup").rglob("*")]


def test_swa_refuses_a_damaged_state(tmp_path):
    x, y = _data()
    folder = tmp_path / "backup" / "regkit_swa"
    folder.mkdir(parents=True)
    (folder / "state-epoch1.npz").write_bytes(b"not an npz")
    swa = callbacks.SWA(0, backup_dir=str(tmp_path / "backup"))
    with pytest.raises(ValueError, match="state-epoch1.npz: unreadable"):
        _model().fit(x, y, initial_epoch=2, epochs=3, verbose=0,
                     callbacks=[swa])


def test_swa_argument_errors():
    with pytest.raises(ValueError, match="`start_epoch` of SWA"):
        callbacks.SWA(-1)
    with pytest.raises(ValueError, match="`learning_rate` of SWA"):
        callbacks.SWA(0, learning_rate=0.0)
    with pytest.raises(ValueError, match="min_learning_rate without"):
        callbacks.SWA(0, min_learning_rate=0.01)
    with pytest.raises(ValueError, match="`cycle_epochs` of SWA"):
        callbacks.SWA(0, cycle_epochs=0)
    x, y = _data()
    model = _model()
    model.compile(keras.optimizers.SGD(
        keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)), "mse")
    with pytest.raises(ValueError, match="follows a schedule"):
        model.fit(x, y, verbose=0,
                  callbacks=[callbacks.SWA(0, learning_rate=0.01)])
    with pytest.warns(UserWarning, match="SWA averaged nothing"):
        _model().fit(x, y, epochs=1, verbose=0,
                     callbacks=[callbacks.SWA(3)])


def test_recompute_batch_norm_refuses_empty_data_and_keeps_statistics():
    model = _model(batch_norm=True)
    bn = model.get_layer("bn")
    bn.moving_variance.assign(np.full((8,), 3.0, "float32"))
    with pytest.raises(ValueError, match="gives no batch"):
        callbacks.recompute_batch_norm(model, np.zeros((0, 5), "float32"))
    np.testing.assert_array_equal(_np(bn.moving_variance), 3.0)
    assert callbacks.recompute_batch_norm(_model(), np.ones((4, 5))) == 0
