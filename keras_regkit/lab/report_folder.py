"""The folder a lab report goes to (`--out`): claimed, staged, swapped in.

A report is written into a scratch folder next to `--out` and swapped in
only when it is complete, so `--out` holds either the old report or the new
one. The lab replaces an existing `--out` only when it can prove the folder
is a report it wrote: its marker file (`.keras-regkit-report`) lists every
file of the report, and the folder holds nothing else; any other folder is
refused. One run at a time writes a given `--out`: a second is refused
while the first holds its lock file (`.<name>.lock`, beside `--out`).

The swap is two renames (old report aside, new one in) and one removal; a
run killed between them is repaired by the next run for the same `--out`,
which also removes the scratch folders of runs killed earlier (it holds the
lock, so their writers are gone).

Examples:

    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "report")
    >>> with ReportFolder(out) as folder:
    ...     with open(os.path.join(folder.path, "report.md"), "w") as f:
    ...         _ = f.write("# Report")
    >>> sorted(os.listdir(out))
    ['.keras-regkit-report', 'report.md']
"""

import json
import os
import shutil
import tempfile
import uuid

from keras_regkit._lock import FileLock
from keras_regkit.lab.errors import LabError

MARKER = ".keras-regkit-report"
_PARTIAL_MARKER = ".keras-regkit-partial"
_WRITER = "keras_regkit lab"


def _files(folder):
    """Every file under `folder`, as sorted relative paths."""
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            found.append(os.path.relpath(os.path.join(root, name), folder))
    return sorted(found)


def _read_marker(path):
    try:
        with open(path) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("written_by") != _WRITER:
        return None
    return marker


def why_not_ours(folder):
    """None if `folder` is a complete report the lab wrote, else why not."""
    marker = _read_marker(os.path.join(folder, MARKER))
    if marker is None or not isinstance(marker.get("files"), list):
        return "it is not marked as a keras-regkit lab report"
    extra = sorted(set(_files(folder)) - set(marker["files"]) - {MARKER})
    if extra:
        shown = ", ".join(extra[:3]) + (" ..." if len(extra) > 3 else "")
        return f"it holds files the lab did not write ({shown})"
    return None


def _is_our_scratch(folder):
    return _read_marker(os.path.join(folder, _PARTIAL_MARKER)) is not None


class ReportFolder:
    """Stages a report for `out` and swaps it in when the block succeeds.

    Inside the block, `path` is the scratch folder to write into. On an
    exception the scratch folder is removed, unless `keep()` was called
    (results worth keeping when the report could not be finished): then
    it stays, and later runs leave it alone.

    Args:
        out: the report folder to create or replace.
    """

    def __init__(self, out):
        self.out = os.path.abspath(os.fspath(out))
        self.shown = os.fspath(out)
        self.path = None
        self._kept = False
        parent, name = os.path.split(self.out)
        self._lock = FileLock(os.path.join(parent, f".{name}.lock"))

    def __enter__(self):
        out = self.out
        if os.path.islink(out):
            raise LabError(f"--out {self.shown} is a symbolic link; give a "
                           "real folder (the lab replaces --out, and a link "
                           "would make it write elsewhere).")
        parent, name = os.path.split(out)
        try:
            os.makedirs(parent, exist_ok=True)
            locked = self._lock.acquire()
        except OSError as error:
            raise LabError(f"--out {self.shown}: cannot write there "
                           f"({error.strerror or error}).") from None
        if not locked:
            raise LabError(f"--out {self.shown} is being written by another "
                           "keras-regkit lab run; wait for it to finish or "
                           "choose another --out.")
        try:
            self._recover(parent, name)
            self._check_replaceable()
            self.path = tempfile.mkdtemp(prefix=f"{name}.partial-",
                                         dir=parent)
            with open(os.path.join(self.path, _PARTIAL_MARKER), "w") as f:
                json.dump({"written_by": _WRITER, "pid": os.getpid()}, f)
        except OSError as error:
            self._lock.release()
            raise LabError(f"--out {self.shown}: cannot write there "
                           f"({error.strerror or error}).") from None
        except BaseException:
            self._lock.release()
            raise
        return self

    def keep(self):
        """Keeps the scratch folder if the block fails (see the class)."""
        self._kept = True
        marker = os.path.join(self.path, _PARTIAL_MARKER)
        try:
            os.remove(marker)  # no longer ours to clean up
        except OSError:
            pass

    def __exit__(self, kind, error, traceback):
        try:
            if kind is None:
                self._swap_in()
            elif not self._kept:
                shutil.rmtree(self.path, ignore_errors=True)
        finally:
            self._lock.release()

    def _check_replaceable(self):
        out = self.out
        if not os.path.exists(out):
            return
        if not os.path.isdir(out):
            raise LabError(f"--out {self.shown} exists and is not a folder.")
        if not os.listdir(out):
            return
        reason = why_not_ours(out)
        if reason is not None:
            raise LabError(f"--out {self.shown} is not a folder the lab may "
                           f"replace: {reason}; choose another --out.")

    def _recover(self, parent, name):
        """Repairs what runs killed while writing `out` left behind."""
        for entry in sorted(os.listdir(parent)):
            path = os.path.join(parent, entry)
            if not os.path.isdir(path) or os.path.islink(path):
                continue
            if entry.startswith(f"{name}.partial-") and _is_our_scratch(path):
                shutil.rmtree(path)
            elif (entry.startswith(f"{name}.replaced-")
                  and why_not_ours(path) is None):
                if os.path.exists(self.out):  # the new report made it
                    shutil.rmtree(path)
                else:  # killed between the renames: the old one returns
                    os.replace(path, self.out)

    def _swap_in(self):
        scratch = os.path.join(self.path, _PARTIAL_MARKER)
        if os.path.exists(scratch):
            os.remove(scratch)
        files = _files(self.path)
        with open(os.path.join(self.path, MARKER), "w") as f:
            json.dump({"written_by": _WRITER, "files": files}, f, indent=1)
        if not os.path.exists(self.out):
            os.replace(self.path, self.out)
            return
        aside = f"{self.out}.replaced-{uuid.uuid4().hex[:8]}"
        os.replace(self.out, aside)
        os.replace(self.path, self.out)
        shutil.rmtree(aside)
