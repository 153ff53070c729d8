"""Keras's own EarlyStopping unit tests, run against keras_regkit's."""

import types

import keras
import pytest

from keras_regkit import callbacks as regkit_callbacks

keras_tests = pytest.importorskip("keras.src.callbacks.early_stopping_test")

pytestmark = pytest.mark.backends


class TestKerasEarlyStoppingSuite(keras_tests.EarlyStoppingTest):
    @pytest.fixture(autouse=True)
    def _use_keras_regkit(self, monkeypatch):
        names = {n: getattr(keras.callbacks, n) for n in dir(keras.callbacks)
                 if not n.startswith("_")}
        names["EarlyStopping"] = regkit_callbacks.EarlyStopping
        monkeypatch.setattr(keras_tests, "callbacks",
                            types.SimpleNamespace(**names))
