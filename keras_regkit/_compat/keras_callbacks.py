"""The private hooks of Keras's callbacks we extend, under names of ours.

Our `BackupAndRestore` and `EarlyStopping` subclass Keras's (drop-ins:
same arguments, Keras's own tests pass) and change what happens at a few
private hooks. Those hooks are named only here.
"""

import keras


class BackupAndRestoreHooks(keras.callbacks.BackupAndRestore):
    """Keras's `BackupAndRestore`, its private hooks renamed.

    Keras 3.0-3.15: `on_epoch_end` sets `_current_epoch` (the epoch to
    resume from) and `_last_batch_seen`, then calls `_save_model()`;
    `on_train_batch_end` calls `_save_model()` every `save_freq` batches;
    `on_train_begin` calls `_load_model()`, which sets
    `model._initial_epoch` (read by every backend's `fit` as the epoch to
    start from); the metadata file's path is `_training_metadata_path`.
    """

    def _save_model(self):
        self.save_backup()

    def _load_model(self):
        self.load_backup()

    def save_backup(self):
        """Writes the backup (Keras's `_save_model`)."""
        super()._save_model()

    def load_backup(self):
        """Restores the backup, if any (Keras's `_load_model`)."""
        super()._load_model()

    @property
    def epoch_in_progress(self):
        """The epoch a resumed `fit` starts from (Keras's
        `_current_epoch`)."""
        return self._current_epoch

    @property
    def batch_in_progress(self):
        """The last batch seen in that epoch (`_last_batch_seen`)."""
        return self._last_batch_seen

    @property
    def metadata_path(self):
        """Where the training metadata goes (`_training_metadata_path`)."""
        return self._training_metadata_path

    def resume_from(self, epoch):
        """Makes the model's `fit` start at `epoch` (what Keras's
        `_load_model` does through `model._initial_epoch`)."""
        self.model._initial_epoch = epoch


class EarlyStoppingHooks(keras.callbacks.EarlyStopping):
    """Keras's `EarlyStopping`, its private hooks renamed.

    Keras 3.0-3.15: `_set_monitor_op()` picks `monitor_op` from `mode` and
    the monitor's name (before 3.7 it ran in `__init__`; since, on the first
    `on_epoch_end`); `_is_improvement(monitor_value, reference_value)`
    compares with `min_delta` (Keras calls it from `on_epoch_end`).
    """

    def _is_improvement(self, monitor_value, reference_value):
        return self.is_improvement(monitor_value, reference_value)

    def is_improvement(self, monitor_value, reference_value):
        """Whether `monitor_value` improves on `reference_value` (Keras's
        rule: by more than `min_delta`, in the direction of `monitor_op`)."""
        return super()._is_improvement(monitor_value, reference_value)

    def set_monitor_op(self):
        """Sets `monitor_op` from `mode` and the monitor (Keras's
        `_set_monitor_op`)."""
        self._set_monitor_op()
