"""Exclusive file locks that prove a writer is alive.

A lock taken with POSIX `flock` is held as long as its process lives and is
released by the kernel when it dies, whatever PID namespace the process is
in (containers sharing a folder see each other's locks; they cannot see
each other's PIDs). So a lock that can be taken proves its last holder is
gone, and what it guarded may be cleaned up. Where the platform has no
`flock` (Windows) every lock is granted: no cleanup is ever proven safe
there by a lock alone, so callers that delete also check their own marker.

Examples:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "owner.lock")
    >>> lock = FileLock.create_held(path)
    >>> FileLock(path).acquire()  # held by `lock`: refused
    False
    >>> lock.release()
"""

import os
import uuid


def _flock(handle):
    """Takes `handle`'s lock without waiting; False if another holds it."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class FileLock:
    """An exclusive, non-blocking lock on the file `path`."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._file = None

    @classmethod
    def create_held(cls, path):
        """A new lock file at `path`, locked before it appears there (so no
        one ever finds it unlocked while its holder lives)."""
        lock = cls(path)
        folder, name = os.path.split(lock.path)
        temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}")
        handle = open(temporary, "w")
        _flock(handle)
        os.replace(temporary, lock.path)
        lock._file = handle
        return lock

    def acquire(self):
        """Takes the lock (creating the file); False if another holds it."""
        while True:
            handle = open(self.path, "a+")
            if not _flock(handle):
                handle.close()
                return False
            # The holder before us may have removed the file as it left:
            # then this lock is on a deleted file; take the new one.
            try:
                same = os.path.samestat(os.fstat(handle.fileno()),
                                        os.stat(self.path))
            except OSError:
                same = False
            if same:
                self._file = handle
                return True
            handle.close()

    def release(self, remove=True):
        """Releases the lock, removing its file first if `remove`."""
        if self._file is None:
            return
        if remove:
            try:
                os.remove(self.path)
            except OSError:
                pass
        self._file.close()
        self._file = None
