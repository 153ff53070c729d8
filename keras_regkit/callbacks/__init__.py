"""Callbacks that drive and observe regularization during `fit`."""

from keras_regkit.callbacks.schedulers import StrengthScheduler

__all__ = ["StrengthScheduler"]
