"""Callbacks that keep restart state in a `BackupAndRestore` folder.

keras_regkit's `BackupAndRestore` runs their `on_epoch_end` (each saves its
state there) before it saves the model, so a crash between the saves can
never leave a model backup ahead of their state, whatever their order in
`callbacks`. Each such callback ignores a second `on_epoch_end` for the
same epoch.

At the end of training, `BackupAndRestore(delete_checkpoint=True)` removes
its own files and asks for the folder to go (`remove_when_unshared`): it
is removed, if empty, once the last callback sharing it has removed its
state, whatever their order.
"""

import os

from keras_regkit._files import remove_if_empty

_sharing = {}
_remove_when_unshared = {}  # folder key -> the model whose fit ended


def _key(backup_dir):
    return os.path.realpath(os.fspath(backup_dir))


def share(backup_dir, callback):
    """Registers `callback` as saving state in `backup_dir`."""
    callbacks = _sharing.setdefault(_key(backup_dir), [])
    if callback not in callbacks:
        callbacks.append(callback)


def unshare(backup_dir, callback):
    key = _key(backup_dir)
    callbacks = _sharing.get(key, [])
    if callback in callbacks:
        callbacks.remove(callback)
    model = _remove_when_unshared.get(key)
    if model is not None and not _sharers_of(key, model):
        del _remove_when_unshared[key]
        remove_if_empty(backup_dir)


def _sharers_of(key, model):
    # Callbacks of a fit that crashed stay registered: only this model's
    # count.
    return [c for c in _sharing.get(key, []) if c.model is model]


def remove_when_unshared(backup_dir, model):
    """Removes `backup_dir` if empty, now or when the last callback of
    `model`'s fit sharing it is done."""
    key = _key(backup_dir)
    if _sharers_of(key, model):
        _remove_when_unshared[key] = model
    else:
        remove_if_empty(backup_dir)


def sharing(backup_dir):
    """The callbacks saving state in `backup_dir`."""
    return list(_sharing.get(_key(backup_dir), []))
