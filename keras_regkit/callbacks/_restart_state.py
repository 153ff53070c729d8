"""EarlyStopping's restart state on disk: crash-safe, validated when read.

The folder `<backup_dir>/regkit_early_stopping/` holds `state.json` and the
best weights it names (`best-epoch<k>.npz`, or `.weights.h5` for the disk
store). Every file is written under a temporary name and moved into place
(`_files`), weights before the state that names them, and a weights file
only when the best weights changed. `state.json` keeps the states after the
last two epochs, so a crash between EarlyStopping's save and
`BackupAndRestore`'s, in either order of the two callbacks, resumes from
the state that matches the epoch `BackupAndRestore` restarts at.
"""

import json
import math
import os
import re

import numpy as np

from keras_regkit import _files

FOLDER = "regkit_early_stopping"
_KEYS = ("epoch", "wait", "best", "best_epoch", "stopped_epoch", "history",
         "smoothed", "weights")


def _is_int(value, low=0):
    return (isinstance(value, int) and not isinstance(value, bool)
            and value >= low)


def _is_finite(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


class RestartState:
    """The state files of one `EarlyStopping` with a `backup_dir`.

    Args:
        backup_dir: the folder given to `EarlyStopping` (and
            `BackupAndRestore`).
        disk: whether best weights are `.weights.h5` files (the disk store)
            rather than `.npz` arrays.
    """

    def __init__(self, backup_dir, disk):
        self.folder = os.path.join(os.fspath(backup_dir), FOLDER)
        self.path = os.path.join(self.folder, "state.json")
        self.extension = ".weights.h5" if disk else ".npz"
        self.states = []
        self._written_weights = None

    def is_ours(self, name):
        """Whether `name` is a file this state writes in its folder."""
        return name == "state.json" or re.fullmatch(
            r"best-epoch\d+(\.weights\.h5|\.npz)", name) is not None

    def remove(self):
        """Removes the state's files, and its folder if nothing else is
        left in it."""
        _files.remove_ours(self.folder, self.is_ours)

    def weights_name(self, epoch):
        """The file name of the best weights snapshotted at `epoch`."""
        return f"best-epoch{epoch}{self.extension}"

    def weights_epoch(self, state):
        """The epoch whose weights `state` names (`weights_name` read
        back)."""
        return int(state["weights"][len("best-epoch"):-len(self.extension)])

    # -- reading ------------------------------------------------------------

    def _fail(self, problem):
        raise ValueError(
            f"EarlyStopping cannot resume from {self.path}: {problem}. "
            "Delete the folder to start over."
        )

    def read(self, weight_shapes):
        """Reads and validates the saved states (oldest first).

        Args:
            weight_shapes: the shapes of the model's weights, in order; a
                best-weights file must hold exactly these.

        Returns:
            The list of states (empty when there is no backup).

        Raises:
            ValueError: naming the file, when it is unreadable, incomplete,
                inconsistent, or its weights do not fit the model.
        """
        _files.remove_leftovers(self.folder)
        self.states = []
        if not os.path.exists(self.path):
            return self.states
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError) as error:
            self._fail(f"unreadable ({type(error).__name__}: {error})")
        if not isinstance(data, dict) or not isinstance(
                data.get("states"), list) or not 1 <= len(data["states"]) <= 2:
            self._fail("expected {\"states\": [one or two states]}")
        for state in data["states"]:
            self._check(state, weight_shapes)
        epochs = [state["epoch"] for state in data["states"]]
        if epochs != sorted(set(epochs)):
            self._fail(f"states out of order (epochs {epochs})")
        self.states = data["states"]
        self._written_weights = self.states[-1]["weights"]
        return self.states

    def _check(self, state, weight_shapes):
        if not isinstance(state, dict):
            self._fail(f"a state is not a mapping: {state!r}")
        missing = [key for key in _KEYS if key not in state]
        if missing:
            self._fail(f"missing keys {missing}")
        epoch = state["epoch"]
        if not _is_int(epoch):
            self._fail(f"epoch={epoch!r} is not an int >= 0")
        for key in ("wait", "best_epoch", "stopped_epoch"):
            if not _is_int(state[key]) or state[key] > epoch + 1:
                self._fail(f"{key}={state[key]!r} is not an int in "
                           f"[0, {epoch + 1}] (the state is after epoch "
                           f"{epoch + 1})")
        if state["best_epoch"] > epoch:
            self._fail(f"best_epoch={state['best_epoch']} lies beyond the "
                       f"epochs run ({epoch + 1})")
        best = state["best"]
        if best is not None and not _is_finite(best):
            self._fail(f"best={best!r} is not a finite number")
        history = state["history"]
        if not isinstance(history, list) or not all(
                _is_finite(v) for v in history):
            self._fail(f"history={history!r} is not a list of numbers")
        if state["smoothed"] is not None and not _is_finite(
                state["smoothed"]):
            self._fail(f"smoothed={state['smoothed']!r} is not a number")
        name = state["weights"]
        if name is None:
            return
        if (not isinstance(name, str) or os.path.basename(name) != name
                or not name.startswith("best-epoch")
                or not name.endswith(self.extension)
                or not name[len("best-epoch"):-len(self.extension)].isdigit()):
            self._fail(f"weights={name!r} is not a best-weights file name "
                       f"(best-epoch<k>{self.extension})")
        path = os.path.join(self.folder, name)
        if not os.path.isfile(path):
            self._fail(f"the best weights {name} are missing")
        self._check_weights(path, weight_shapes)

    def _check_weights(self, path, weight_shapes):
        expected = sorted(tuple(s) for s in weight_shapes)
        try:
            if self.extension == ".npz":
                with open(path, "rb") as f, np.load(f) as arrays:
                    shapes = [tuple(arrays[f"arr_{i}"].shape)
                              for i in range(len(arrays.files))]
                if shapes != [tuple(s) for s in weight_shapes]:
                    self._fail(
                        f"{os.path.basename(path)} holds {len(shapes)} "
                        f"arrays of shapes {shapes}, the model "
                        f"{len(weight_shapes)} weights of shapes "
                        f"{[tuple(s) for s in weight_shapes]}")
                return
            import h5py

            shapes = []
            with h5py.File(path, "r") as f:
                f["layers"].visititems(
                    lambda _, obj: shapes.append(tuple(obj.shape))
                    if isinstance(obj, h5py.Dataset) else None)
        except ValueError:
            raise
        except Exception as error:  # noqa: BLE001 (any corrupt file)
            self._fail(f"{os.path.basename(path)} is unreadable "
                       f"({type(error).__name__}: {error})")
        if sorted(shapes) != expected:
            self._fail(f"{os.path.basename(path)} holds weights of shapes "
                       f"{sorted(shapes)}, the model {expected}")

    def load_arrays(self, state):
        """The best weights a state names, as NumPy arrays."""
        path = os.path.join(self.folder, state["weights"])
        with open(path, "rb") as f, np.load(f) as arrays:
            return [arrays[f"arr_{i}"] for i in range(len(arrays.files))]

    def weights_path(self, state):
        return os.path.join(self.folder, state["weights"])

    def adopt(self, state):
        """Continues from `state`: later states (of a run that got ahead of
        `BackupAndRestore`) are dropped."""
        self.states = [s for s in self.states if s["epoch"] <= state["epoch"]]
        self._written_weights = state["weights"]

    # -- writing ------------------------------------------------------------

    def write(self, state, write_weights):
        """Saves `state` (a dict with `_KEYS`), keeping the previous one.

        Args:
            state: the state after epoch `state["epoch"]`.
            write_weights: `fn(path)` writing the best weights `state`
                names; called only when that file is not written yet.
        """
        os.makedirs(self.folder, exist_ok=True)
        name = state["weights"]
        if name is not None and name != self._written_weights:
            _files.write_atomically(os.path.join(self.folder, name),
                                    write_weights)
            self._written_weights = name
        previous = [s for s in self.states if s["epoch"] < state["epoch"]]
        self.states = previous[-1:] + [state]
        _files.write_text(self.path, json.dumps({"states": self.states}))
        self._remove_unreferenced()

    def _remove_unreferenced(self):
        keep = {s["weights"] for s in self.states}
        for name in os.listdir(self.folder):
            if self.is_ours(name) and name.startswith("best-epoch") and (
                    name not in keep):
                _files.remove_file(os.path.join(self.folder, name))
        _files.remove_leftovers(self.folder)
