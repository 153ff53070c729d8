"""Callbacks that drive and observe regularization during `fit`."""

from keras_regkit import _registration
from keras_regkit.callbacks.backup import BackupAndRestore
from keras_regkit.callbacks.batch_norm import recompute_batch_norm
from keras_regkit.callbacks.diagnostics import RegularizationMonitor
from keras_regkit.callbacks.early_stopping import EarlyStopping
from keras_regkit.callbacks.gap_controller import GapController
from keras_regkit.callbacks.robustness import RobustnessMonitor
from keras_regkit.callbacks.schedulers import StrengthScheduler
from keras_regkit.callbacks.swa import SWA

__all__ = [
    "BackupAndRestore",
    "EarlyStopping",
    "GapController",
    "RegularizationMonitor",
    "RobustnessMonitor",
    "SWA",
    "StrengthScheduler",
    "recompute_batch_norm",
]

# Last: registers our classes with Keras if this import loaded it.
_registration.package_loaded(__name__)
