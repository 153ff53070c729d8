"""Callbacks delete only files they wrote, by exact name; a folder they
cannot write fails when training starts, in one line; a failed write
leaves the previous backup intact."""

import errno
import os
import tempfile

import keras
import numpy as np
import pytest

from keras_regkit import callbacks
from keras_regkit._lock import FileLock
from keras_regkit.callbacks import early_stopping

pytestmark = pytest.mark.backends


def _model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def _fit(model, epochs, *extra):
    x = np.ones((8, 4), "float32")
    return model.fit(x, x[:, :1], epochs=epochs, verbose=0,
                     callbacks=list(extra))


@pytest.mark.parametrize("delete_checkpoint", [False, True])
def test_other_weights_files_in_the_backup_folder_survive(tmp_path,
                                                          delete_checkpoint):
    """BackupAndRestore used to delete every *.weights.h5 of its folder
    each epoch (a ModelCheckpoint's, pretrained weights, EarlyStopping's
    weights_path), and Keras's removes the whole folder at the end."""
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "pretrained.weights.h5").write_text("the user's")
    model = _model()
    _fit(model, 3,
         keras.callbacks.ModelCheckpoint(
             os.fspath(folder / "checkpoint.weights.h5"),
             save_weights_only=True),
         callbacks.EarlyStopping(monitor="loss", restore_best_weights=True,
                                 weights_store="disk", patience=9,
                                 weights_path=folder / "best.weights.h5",
                                 backup_dir=folder),
         callbacks.SWA(start_epoch=1, backup_dir=folder),
         callbacks.BackupAndRestore(folder,
                                    delete_checkpoint=delete_checkpoint))
    left = sorted(os.listdir(folder))
    mine = ["best.weights.h5", "checkpoint.weights.h5",
            "pretrained.weights.h5"]
    if delete_checkpoint:
        assert left == mine
    else:
        assert set(mine) < set(left)
        assert "training_metadata.json" in left
    assert (folder / "pretrained.weights.h5").read_text() == "the user's"


def test_our_state_folders_keep_files_we_did_not_write(tmp_path):
    folder = tmp_path / "backup"
    for name in ("regkit_early_stopping", "regkit_swa"):
        (folder / name).mkdir(parents=True)
        (folder / name / "notes.txt").write_text("the user's")
    _fit(_model(), 3,
         callbacks.EarlyStopping(monitor="loss", restore_best_weights=True,
                                 patience=9, backup_dir=folder),
         callbacks.SWA(start_epoch=1, backup_dir=folder),
         callbacks.BackupAndRestore(folder))
    assert sorted(p.relative_to(folder).as_posix()
                  for p in folder.rglob("*.*")) == [
        "regkit_early_stopping/notes.txt", "regkit_swa/notes.txt"]


def test_an_unwritable_backup_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    trained = []
    probe = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda *a: trained.append(1))
    with pytest.raises(OSError, match=r"^BackupAndRestore cannot write to "
                       rf"{blocker / 'backup'}: "):
        _fit(_model(), 2, probe, callbacks.BackupAndRestore(
            blocker / "backup"))
    assert not trained


def test_a_failed_write_names_the_file_and_keeps_the_last_backup(
        tmp_path, monkeypatch):
    folder = tmp_path / "backup"
    model = _model()
    saves = []

    def save_weights(path, overwrite=True):
        saves.append(path)
        if len(saves) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return keras.Model.save_weights(model, path, overwrite=overwrite)

    monkeypatch.setattr(model, "save_weights", save_weights)
    with pytest.raises(OSError, match=r"^BackupAndRestore could not write "
                       r".*epoch2-batch0.weights.h5 \(No space left on "
                       rf"device\); the previous backup in {folder} is "
                       "intact.$"):
        _fit(model, 3, callbacks.BackupAndRestore(folder))
    resumed = []
    _fit(_model(), 3, callbacks.BackupAndRestore(folder),
         keras.callbacks.LambdaCallback(
             on_epoch_begin=lambda epoch, logs: resumed.append(epoch)))
    assert resumed == [1, 2]  # from the backup after epoch 1


def test_temp_folders_are_removed_only_when_their_lock_proves_them_dead(
        tmp_path, monkeypatch):
    """A pid that looks dead (another PID namespace) proves nothing; a
    lock that can be taken does."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    prefix = "regkit-early-stopping-999999999-"
    dead, alive, old = (tmp_path / f"{prefix}{n}" for n in ("a", "b", "c"))
    for folder in (dead, alive, old):
        folder.mkdir()
        (folder / "best.weights.h5").write_text("best weights")
    FileLock.create_held(dead / "owner.lock").release(remove=False)
    held = FileLock.create_held(alive / "owner.lock")  # a running fit
    made, lock = early_stopping._new_temp_dir()
    assert not dead.exists() and alive.exists() and old.exists()
    assert os.path.basename(made).startswith(
        f"regkit-early-stopping-{os.getpid()}-")
    assert not FileLock(os.path.join(made, "owner.lock")).acquire()
    lock.release(remove=False)
    held.release()
