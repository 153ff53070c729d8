"""Crash safety: a fit killed (SIGKILL) at any instant, then resumed, ends
exactly as an uninterrupted one; a damaged backup is an error naming the
file, at the start of `fit`."""

import json
import os
import random
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_regkit import callbacks

CHILD = os.path.join(os.path.dirname(__file__), "crash_child.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
PHASES = ("during", "before", "after")


class _Runs:
    """The fork server of `crash_child.py`: one run (a process) per call."""

    def __init__(self, folder):
        env = {**os.environ, "KERAS_BACKEND": "jax",
               "REGKIT_CRASH_JAX_CACHE": str(folder / "jax-cache"),
               "PYTHONPATH": os.pathsep.join(
                   [ROOT, os.environ.get("PYTHONPATH", "")])}
        self.log = folder / "server.log"
        with open(self.log, "w") as log:
            self.server = subprocess.Popen(
                [sys.executable, CHILD], env=env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, text=True)

    def __call__(self, folder, store, order, kill=None, kill_after=None):
        """Runs once; returns the exit code (-9: killed)."""
        self.server.stdin.write(json.dumps({
            "folder": str(folder), "store": store, "order": order,
            "kill": kill, "kill_after": kill_after}) + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        code = json.loads(answer)["returncode"] if answer else None
        if code not in (0, -9):
            raise AssertionError(f"run failed ({code}):\n"
                                 f"{self.log.read_text()[-3000:]}")
        return code

    def close(self):
        self.server.stdin.close()
        self.server.wait(timeout=60)
        self.server.stdout.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    server = _Runs(tmp_path_factory.mktemp("crash-server"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def reference(runs, tmp_path_factory):
    """The result of an uninterrupted run (device store, stop-first)."""
    folder = tmp_path_factory.mktemp("reference")
    assert runs(folder, "device", "stop-first") == 0
    return _result(folder)


def _result(folder):
    with open(os.path.join(folder, "result.json")) as f:
        return json.load(f)


def _assert_same(result, reference):
    assert result["swa_models"] == reference["swa_models"]
    assert result["stopped_epoch"] == reference["stopped_epoch"]
    assert result["best_epoch"] == reference["best_epoch"]
    assert result["best"] == pytest.approx(reference["best"], rel=1e-6)
    for a, b in zip(result["weights"], reference["weights"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _kills(folder):
    with open(folder / "kills.log") as f:
        return [json.loads(line) for line in f]


def _resume_through_kills(runs, folder, store, order, kinds):
    """Kills the fit during, just before and just after its next write of
    each kind of file in `kinds`, resuming after each; then lets it finish.
    Returns the (kind, phase) pairs the kills hit."""
    for kind in kinds:
        for phase in PHASES:
            assert runs(folder, store, order, kill=f"{kind}:{phase}") == -9
    while not os.path.exists(folder / "result.json"):
        assert runs(folder, store, order) == 0
    return {(k["kind"], k["phase"]) for k in _kills(folder)}


def _resume_through_random_kills(runs, folder, store, order, times):
    """Kills the fit at each of `times` (seconds after its start, wherever
    it is) until one run finishes, resuming after each; then lets it
    finish. Returns how many runs were killed."""
    killed = 0
    for seconds in times:
        code = runs(folder, store, order, kill_after=seconds)
        if code == 0:
            break
        killed += 1
    while not os.path.exists(folder / "result.json"):
        assert runs(folder, store, order) == 0
    return killed


@pytest.mark.slow
def test_killed_at_any_instant_resumes_like_an_uninterrupted_run(
        tmp_path, runs, reference):
    """Each kind of file the callbacks write (EarlyStopping's state and best
    weights, SWA's state, BackupAndRestore's checkpoint and metadata) is
    hit during, just before and just after its write, in two set-ups, and
    each set-up is also killed at up to three random instants; the runs
    are forked from one server that has imported Keras, so a kill costs
    about a second."""
    # A whole run again, compiled programs now cached: its duration scales
    # the random-time kills.
    started = time.monotonic()
    assert runs(tmp_path / "again", "device", "stop-first") == 0
    seconds = time.monotonic() - started
    _assert_same(_result(tmp_path / "again"), reference)
    assert 0 < reference["stopped_epoch"] < 39  # it stops early
    assert reference["swa_models"] == reference["stopped_epoch"] - 1
    rng = random.Random(0)
    for store, order, kinds in (
            ("device", "stop-first", [
                "backup/regkit_early_stopping/best-epochN.npz",
                "backup/regkit_early_stopping/state.json",
                "backup/regkit_swa/state-epochN.npz",
                "backup/epochN-batchN.weights.hN",
                "backup/training_metadata.json"]),
            ("disk", "backup-first", [
                "<temp>/best.weights.hN",
                "backup/regkit_early_stopping/best-epochN.weights.hN",
                "backup/regkit_early_stopping/state.json",
                "backup/regkit_swa/state-epochN.npz",
                "backup/epochN-batchN.weights.hN",
                "backup/training_metadata.json"])):
        folder = tmp_path / f"{store}-{order}"
        hit = _resume_through_kills(runs, folder, store, order, kinds)
        _assert_same(_result(folder), reference)
        assert hit == {(kind, phase) for kind in kinds for phase in PHASES}
        # A whole run takes `seconds`: the first of these kills always
        # lands; later ones may find the resumed run already done.
        folder = tmp_path / f"{store}-{order}-random"
        times = [rng.uniform(0.1, 0.3) * seconds] + [
            rng.uniform(0.1, 0.6) * seconds for _ in range(2)]
        assert _resume_through_random_kills(
            runs, folder, store, order, times) >= 1
        _assert_same(_result(folder), reference)


@pytest.mark.slow
def test_disk_store_resumes_before_the_first_model_backup(tmp_path, runs,
                                                          reference):
    """Killed after EarlyStopping's first state (best weights in a
    .weights.h5 file) but before BackupAndRestore's first checkpoint: the
    resumed run must accept the file although the model's state also holds
    the scheduled L2 factor, which .weights.h5 files do not (found by the
    random-time kills above under load)."""
    folder = tmp_path / "disk"
    assert runs(folder, "disk", "backup-first", kill="6:after") == -9
    assert os.path.exists(folder / "backup" / "regkit_early_stopping"
                          / "state.json")
    assert runs(folder, "disk", "backup-first") == 0
    _assert_same(_result(folder), reference)


def _small_model(units=1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units)])
    model.compile("sgd", "mse")
    return model


def _fit(backup, epochs=3):
    model = _small_model()
    x = np.ones((8, 4), "float32")
    stopper = callbacks.EarlyStopping(monitor="loss", patience=50,
                                      restore_best_weights=True,
                                      backup_dir=backup)
    model.fit(x, x[:, :1], epochs=epochs, verbose=0,
              callbacks=[stopper, callbacks.BackupAndRestore(backup)])
    return model, stopper


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("interrupted")


def _crashed_backup(tmp_path):
    """A backup folder as a crash after epoch 2 leaves it."""
    backup = str(tmp_path / "backup")
    model = _small_model()
    x = np.ones((8, 4), "float32")
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, x[:, :1], epochs=5, verbose=0, callbacks=[
            callbacks.EarlyStopping(monitor="loss", patience=50,
                                    restore_best_weights=True,
                                    backup_dir=backup),
            callbacks.BackupAndRestore(backup), _Interrupt()])
    return backup, os.path.join(backup, "regkit_early_stopping",
                                "state.json")


def _edit_state(path, change):
    with open(path) as f:
        data = json.load(f)
    change(data["states"][-1])
    with open(path, "w") as f:
        json.dump(data, f)


@pytest.mark.backends
@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.update(best=float("nan")), r"best=nan is not a finite"),
    (lambda s: s.update(best="low"), r"best='low' is not a finite"),
    (lambda s: s.update(best_epoch=7), r"best_epoch=7 is not an int"),
    (lambda s: s.pop("wait"), r"missing keys \['wait'\]"),
    (lambda s: s.update(weights="../elsewhere.npz"),
     r"is not a best-weights file name"),
])
def test_a_damaged_state_is_an_error_naming_the_file(tmp_path, change,
                                                      message):
    backup, path = _crashed_backup(tmp_path)
    _edit_state(path, change)
    with pytest.raises(ValueError, match=message) as error:
        _fit(backup)
    assert path in str(error.value)


@pytest.mark.backends
def test_truncated_state_and_weights_are_errors_before_training(tmp_path):
    backup, path = _crashed_backup(tmp_path)
    folder = os.path.dirname(path)
    weights = [n for n in os.listdir(folder) if n.endswith(".npz")]
    assert weights
    with open(os.path.join(folder, weights[-1]), "r+b") as f:
        f.truncate(40)
    trained = []
    probe = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda *a: trained.append(1))
    with pytest.raises(ValueError, match="is unreadable"):
        model = _small_model()
        model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=3, verbose=0,
                  callbacks=[probe, callbacks.EarlyStopping(
                      monitor="loss", restore_best_weights=True,
                      backup_dir=backup)])
    assert not trained
    with open(path, "w") as f:
        f.write('{"states": [{"epoch": 1, "wa')
    with pytest.raises(ValueError, match="unreadable"):
        _fit(backup)


@pytest.mark.backends
def test_weights_of_another_model_are_an_error(tmp_path):
    backup, path = _crashed_backup(tmp_path)
    model = _small_model(units=2)
    with pytest.raises(ValueError, match=r"holds 2 arrays of shapes "
                       r"\[\(4, 1\), \(1,\)\], the model 2 weights of "
                       r"shapes \[\(4, 2\), \(2,\)\]"):
        model.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=3, verbose=0,
                  callbacks=[callbacks.EarlyStopping(
                      monitor="loss", restore_best_weights=True,
                      backup_dir=backup)])


@pytest.mark.backends
def test_a_new_run_ignores_a_leftover_backup_with_a_warning(tmp_path):
    backup, _ = _crashed_backup(tmp_path)
    # Without BackupAndRestore the fit starts at epoch 1: a new run.
    model = _small_model()
    stopper = callbacks.EarlyStopping(monitor="loss", patience=50,
                                      backup_dir=backup)
    with pytest.warns(UserWarning, match="this fit starts at epoch 1, so it "
                      "is a new run"):
        model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=3, verbose=0,
                  callbacks=[stopper])
    assert stopper.stopped_epoch == 0  # it ran all 3 epochs, as new


@pytest.mark.backends
def test_backup_of_another_point_is_an_error(tmp_path):
    backup, path = _crashed_backup(tmp_path)
    model = _small_model()
    with pytest.raises(ValueError, match="but fit resumes at epoch 6"):
        model.fit(np.ones((8, 4)), np.ones((8, 1)), initial_epoch=5,
                  epochs=7, verbose=0, callbacks=[callbacks.EarlyStopping(
                      monitor="loss", backup_dir=backup)])


@pytest.mark.backends
def test_backup_and_restore_is_a_keras_drop_in(tmp_path):
    backup = str(tmp_path / "b")
    model, _ = _fit(backup, epochs=3)
    assert not os.path.exists(backup)  # deleted after a normal end


def _random_model():
    """Random layers, ours and Keras's: their seed states are the model's
    random state, which `.weights.h5` files leave out."""
    from keras_regkit import layers

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((4,)), keras.layers.Reshape((2, 2, 1)),
        layers.RandomFlip(seed=1), keras.layers.Flatten(),
        keras.layers.Dense(8), layers.Dropout(0.3, seed=2),
        keras.layers.Dropout(0.2), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def _random_fit(backup, interrupt):
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    model = _random_model()
    model.fit(x, x[:, :1], epochs=4, batch_size=4, verbose=0,
              shuffle=False,
              callbacks=[callbacks.BackupAndRestore(backup)]
              + ([_Interrupt()] if interrupt else []))
    return model


@pytest.mark.backends
def test_resumed_fit_with_random_layers_is_bit_identical(tmp_path):
    """The backup holds the seed states too, so the resumed fit draws the
    masks and flips the uninterrupted one draws (without them: up to 0.03
    apart). Keras's unseeded Dropout draws from torch's global generator
    on torch, which the backup holds too."""
    whole = _random_fit(str(tmp_path / "whole"), interrupt=False)
    backup = str(tmp_path / "b")
    with pytest.raises(RuntimeError, match="interrupted"):
        _random_fit(backup, interrupt=True)
    resumed = _random_fit(backup, interrupt=False)
    for a, b in zip(resumed.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.backends
def test_damaged_seed_states_are_an_error_naming_the_file(tmp_path):
    backup = str(tmp_path / "b")
    with pytest.raises(RuntimeError, match="interrupted"):
        _random_fit(backup, interrupt=True)
    path = os.path.join(backup, "training_metadata.json")
    with open(path) as f:
        metadata = json.load(f)
    metadata["seeds"] = metadata["seeds"][:-1]
    with open(path, "w") as f:
        json.dump(metadata, f)
    with pytest.raises(ValueError, match="its seed states do not fit") as e:
        _random_fit(backup, interrupt=False)
    assert path in str(e.value)
