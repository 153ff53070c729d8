"""`BackupAndRestore`: Keras's, crash-safe at any instant and in step with
our `EarlyStopping`."""

import base64
import json
import os

import keras
import numpy as np

from keras_regkit import _checks as checks
from keras_regkit import _files
from keras_regkit._compat import jax as jax_compat
from keras_regkit._compat import torch as torch_compat
from keras_regkit._compat.keras_callbacks import BackupAndRestoreHooks
from keras_regkit.callbacks._sharing import remove_when_unshared
from keras_regkit.callbacks._sharing import sharing


class BackupAndRestore(BackupAndRestoreHooks):
    """Backs up training state so that a killed `fit` resumes where it was.

    A drop-in for `keras.callbacks.BackupAndRestore` (same arguments and
    behaviour: the folder is deleted when training ends normally) that
    survives a crash at any instant. Keras writes its weights and
    `training_metadata.json` in place, so a process killed during a save
    leaves a truncated file and the next run fails, or pairs the weights
    of one epoch with the metadata of another. Here each epoch's weights
    go to a new file and the metadata, written last and atomically, names
    it: whatever instant the crash, the restart sees one consistent epoch.
    Before saving, it has keras_regkit's `EarlyStopping` and `SWA` with the
    same `backup_dir` save their state, so they agree in any order in
    `callbacks`.

    Args:
        backup_dir: str, the folder of the backup (shared with
            `EarlyStopping(backup_dir=...)`).
        save_freq: `"epoch"` or an int number of batches. Defaults to
            `"epoch"`.
        double_checkpoint: accepted for compatibility; every save here is
            atomic, so the previous checkpoint is not needed. Defaults to
            `False`.
        delete_checkpoint: bool, delete the folder when training ends.
            Defaults to `True`.

    Examples:

        >>> from keras_regkit import callbacks
        >>> backup = callbacks.BackupAndRestore("backup")
        >>> stop = callbacks.EarlyStopping(patience=3, backup_dir="backup")
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        owner = "BackupAndRestore"
        if not isinstance(backup_dir, (str, os.PathLike)):
            raise checks.invalid(owner, "backup_dir", backup_dir,
                                 "a path (str or os.PathLike)",
                                 error=TypeError)
        checks.boolean(owner, "double_checkpoint", double_checkpoint)
        checks.boolean(owner, "delete_checkpoint", delete_checkpoint)
        super().__init__(backup_dir, save_freq=save_freq,
                         double_checkpoint=double_checkpoint,
                         delete_checkpoint=delete_checkpoint)

    def _epoch_weights_path(self):
        return os.path.join(
            os.fspath(self.backup_dir),
            f"epoch{self.epoch_in_progress}-batch{self.batch_in_progress}"
            ".weights.h5")

    def on_epoch_end(self, epoch, logs=None):
        for callback in sharing(self.backup_dir):
            if callback.model is self.model:
                callback.on_epoch_end(epoch, logs)
        super().on_epoch_end(epoch, logs)

    def save_backup(self):
        folder = os.fspath(self.backup_dir)
        path = self._epoch_weights_path()
        metadata = {"epoch": self.epoch_in_progress,
                    "batch": self.batch_in_progress,
                    "weights": os.path.basename(path),
                    "seeds": [keras.ops.convert_to_numpy(v).tolist()
                              for v in self._seed_states()],
                    "global_generators": _global_generator_states()}
        target = path
        try:
            os.makedirs(folder, exist_ok=True)
            _files.write_atomically(
                path, lambda temporary: self.model.save_weights(
                    temporary, overwrite=True))
            target = self.metadata_path
            _files.write_text(target, json.dumps(metadata))
        except OSError as error:
            raise OSError(
                f"BackupAndRestore could not write {target} "
                f"({error.strerror or error}); the previous backup in "
                f"{folder} is intact.") from None
        # Only the weights file the previous metadata named is ours to
        # delete: other *.weights.h5 files here are someone else's.
        previous = self._weights_name
        self._weights_name = metadata["weights"]
        if previous is not None and previous != self._weights_name:
            _files.remove_file(os.path.join(folder, previous))
        _files.remove_leftovers(folder)

    def _seed_states(self):
        """The model's random state: every variable that is not a weight
        (the seed-generator states of its layers, ours and Keras's, and of
        its train-step components). `save_weights` leaves it out, so
        without it a resumed fit draws other dropout masks and
        augmentations than the uninterrupted one."""
        weights = {id(w) for w in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def _restore_seeds(self, seeds, path):
        states = self._seed_states()
        shapes = [list(v.shape) for v in states]
        try:
            values = [np.asarray(s, dtype=v.dtype)
                      for s, v in zip(seeds, states, strict=True)]
            ok = [list(a.shape) for a in values] == shapes
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise ValueError(
                f"BackupAndRestore cannot resume from {path}: its seed "
                f"states do not fit the model's {len(states)} random "
                f"states of shapes {shapes}. Delete {self.backup_dir} to "
                "start over.")
        for variable, value in zip(states, values, strict=True):
            variable.assign(value)

    def _remove_backup(self):
        """Removes the metadata and the weights it names (and the folder,
        if that left it empty): Keras removes the whole folder, files of
        others included."""
        names = {os.path.basename(self.metadata_path),
                 self._weights_name}
        _files.remove_ours(os.fspath(self.backup_dir), names.__contains__,
                           remove_folder=False)
        remove_when_unshared(self.backup_dir, self.model)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            self._remove_backup()

    def load_backup(self):
        path = self.metadata_path
        if not os.path.exists(path):
            return
        try:
            with open(path) as f:
                metadata = json.load(f)
            epoch, name = metadata["epoch"], metadata["weights"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"BackupAndRestore cannot resume from {path}: unreadable "
                f"({type(error).__name__}: {error}). Delete "
                f"{self.backup_dir} to start over."
            ) from None
        weights = os.path.join(os.fspath(self.backup_dir), str(name))
        if (not isinstance(epoch, int) or isinstance(epoch, bool)
                or epoch < 0 or os.path.basename(str(name)) != name
                or not os.path.isfile(weights)):
            raise ValueError(
                f"BackupAndRestore cannot resume from {path}: it names "
                f"epoch={epoch!r} and weights {name!r}, which are not a "
                f"saved epoch in {self.backup_dir}. Delete the folder to "
                "start over."
            )
        self._weights_name = name
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, your model must be "
                "built before you call `fit()`."
            )
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(weights)
        if "seeds" in metadata:  # older backups: weights only
            self._restore_seeds(metadata["seeds"], path)
        if metadata.get("global_generators"):
            _restore_global_generators(metadata["global_generators"], path,
                                       self.backup_dir)
        self.resume_from(epoch)

    def on_train_begin(self, logs=None):
        self._weights_name = None
        check_weights_whole_in_each_process(self.model, "BackupAndRestore")
        _files.check_writable(self.backup_dir, "BackupAndRestore")
        _files.remove_leftovers(os.fspath(self.backup_dir))
        self.load_backup()


def check_weights_whole_in_each_process(model, owner):
    """Raises ValueError, before training, when a weight of `model` is
    split over the processes of a multi-process JAX run: the weights file
    `owner` writes (Keras's `save_weights`, by process 0) can only hold
    weights that process 0 has whole (replicated, as under `DataParallel`,
    or split over its own devices only)."""
    split = [weight.path for weight in model.weights
             if jax_compat.spans_processes(weight)]
    if split:
        more = f" and {len(split) - 1} more" if len(split) > 1 else ""
        raise ValueError(
            f"{owner} cannot save this model's weights across processes: "
            f"{split[0]}{more} are split over the devices of several "
            "processes (a ModelParallel layout), and process 0, which "
            "writes the weights file, holds only its part. Use a layout "
            "that splits weights over each process's own devices only, or "
            "DataParallel.")


def _global_generator_states():
    """The torch backend's global generators (CPU, and CUDA once used):
    Keras's unseeded random layers (`Dropout(seed=None)`) draw from them
    there, not from a seed state of the model. Other backends: None."""
    states = torch_compat.global_generator_states()
    if states is None:
        return None
    return [base64.b64encode(s).decode() for s in states]


def _restore_global_generators(saved, path, backup_dir):
    current = _global_generator_states()
    try:
        states = [base64.b64decode(s, validate=True) for s in saved]
        ok = current is not None and len(states) == len(current) and all(
            len(s) == len(base64.b64decode(c))
            for s, c in zip(states, current, strict=True))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"BackupAndRestore cannot resume from {path}: its global "
            "random-generator states are not this backend's (it was saved "
            f"under another backend or device). Delete {backup_dir} to "
            "start over.")
    torch_compat.set_global_generator_states(states)
