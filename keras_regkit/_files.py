"""Files that survive a crash: written whole under a temporary name, then
moved into place.

A process killed at any instant leaves either the old file or the new one,
never a truncated mix: the content goes to a temporary file in the same
folder (so the move is a rename on one file system), and `os.replace`
swaps it in atomically. Leftover temporary files of a killed writer are
recognizable (`TEMPORARY_PREFIX`) and removed by `remove_leftovers`.

In a multi-process JAX run (`keras.distribution.initialize`) the
processes run the same callbacks in step and share the folders they were
given: process 0 alone writes and removes files there (the others run
the same writer into a scratch folder of their own, as Keras's
`save_weights` is a collective there), and each write ends with every
process waiting for it (`sync_processes`), so that none reads a file
before it is in place. Files of one process's own (its
temporary folder) are written with `every_process=True`.

Examples:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "state.json")
    >>> write_text(path, '{"epoch": 3}')
    >>> with open(path) as f:
    ...     f.read()
    '{"epoch": 3}'
    >>> sorted(os.listdir(folder))
    ['state.json']
"""

import os
import shutil
import tempfile
import uuid

from keras_regkit._compat import jax as jax_compat

TEMPORARY_PREFIX = ".regkit-tmp-"


def writes_shared_files():
    """Whether this process writes the files the processes of a run share:
    process 0 of a multi-process JAX run; any process otherwise."""
    return jax_compat.process_index() == 0


def write_atomically(path, write, every_process=False):
    """Writes `path` through `write(temporary_path)`, then moves it in place.

    The temporary name keeps `path`'s file name as its suffix, so writers
    that insist on an extension (`.npz`, `.weights.h5`) accept it.

    Args:
        path: the file to create or replace.
        write: a function that writes the whole content to the path it is
            given.
        every_process: whether `path` is this process's own; otherwise
            (the default) only `writes_shared_files()` writes it, and all
            processes wait until it is in place.
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    try:
        if every_process or writes_shared_files():
            temporary = os.path.join(
                folder, f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}-{name}")
            try:
                write(temporary)
                os.replace(temporary, path)
            except BaseException:
                if os.path.exists(temporary):
                    os.remove(temporary)
                raise
        else:
            # `write` may be a collective (Keras's `save_weights` of
            # weights on several processes' devices): it runs here too,
            # into a scratch folder of this process, removed after.
            scratch = tempfile.mkdtemp(prefix=TEMPORARY_PREFIX)
            try:
                write(os.path.join(scratch, name))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    finally:
        if not every_process:
            jax_compat.sync_processes(f"keras_regkit wrote {path}")


def write_text(path, text):
    """Writes `text` to `path` atomically (by process 0 of a multi-process
    run, see `write_atomically`)."""

    def write(temporary):
        with open(temporary, "w") as f:
            f.write(text)

    write_atomically(path, write)


def remove_file(path):
    """Removes the file `path` if it is there (process 0 of a
    multi-process run)."""
    if not writes_shared_files():
        return
    try:
        os.remove(path)
    except OSError:
        pass


def remove_ours(folder, is_ours, remove_folder=True):
    """Removes the files of `folder` whose names `is_ours(name)` claims (and
    temporary leftovers), then (if `remove_folder`) the folder itself if
    that left it empty: anything else in it stays."""
    if not os.path.isdir(folder) or not writes_shared_files():
        return
    for name in os.listdir(folder):
        if is_ours(name):
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass
    remove_leftovers(folder)
    if remove_folder:
        remove_if_empty(folder)


def remove_if_empty(folder):
    """Removes `folder` if it is empty; anything in it is not ours."""
    if not writes_shared_files():
        return
    try:
        os.rmdir(folder)
    except OSError:
        pass


def check_writable(folder, owner):
    """Creates `folder` if needed and writes (then removes) a file in it, so
    an unwritable folder fails when training starts, in one line naming
    `owner`, rather than after an epoch."""
    folder = os.fspath(folder)
    probe = os.path.join(folder,
                         f"{TEMPORARY_PREFIX}probe-{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as error:
        raise OSError(f"{owner} cannot write to {folder}: "
                      f"{error.strerror or error}.") from None


def remove_leftovers(folder):
    """Removes temporary files a killed writer left in `folder`."""
    if not os.path.isdir(folder) or not writes_shared_files():
        return
    for name in os.listdir(folder):
        if name.startswith(TEMPORARY_PREFIX):
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass
