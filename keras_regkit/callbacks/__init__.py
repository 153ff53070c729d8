"""Callbacks that drive and observe regularization during `fit`."""

from keras_regkit.callbacks.backup import BackupAndRestore
from keras_regkit.callbacks.diagnostics import RegularizationMonitor
from keras_regkit.callbacks.early_stopping import EarlyStopping
from keras_regkit.callbacks.gap_controller import GapController
from keras_regkit.callbacks.schedulers import StrengthScheduler

__all__ = [
    "BackupAndRestore",
    "EarlyStopping",
    "GapController",
    "RegularizationMonitor",
    "StrengthScheduler",
]
