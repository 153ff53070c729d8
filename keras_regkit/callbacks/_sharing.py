"""Callbacks that keep restart state in a `BackupAndRestore` folder.

keras_regkit's `BackupAndRestore` runs their `on_epoch_end` (each saves its
state there) before it saves the model, so a crash between the saves can
never leave a model backup ahead of their state, whatever their order in
`callbacks`. Each such callback ignores a second `on_epoch_end` for the
same epoch.
"""

import os

_sharing = {}


def _key(backup_dir):
    return os.path.realpath(os.fspath(backup_dir))


def share(backup_dir, callback):
    """Registers `callback` as saving state in `backup_dir`."""
    callbacks = _sharing.setdefault(_key(backup_dir), [])
    if callback not in callbacks:
        callbacks.append(callback)


def unshare(backup_dir, callback):
    callbacks = _sharing.get(_key(backup_dir), [])
    if callback in callbacks:
        callbacks.remove(callback)


def sharing(backup_dir):
    """The callbacks saving state in `backup_dir`."""
    return list(_sharing.get(_key(backup_dir), []))
