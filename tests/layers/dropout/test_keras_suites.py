"""Keras's own Dropout, SpatialDropout and GaussianDropout tests, run on ours.

Keras ships its test modules in the wheel. Each suite below is Keras's test
class with the module's `layers` name pointed at a namespace whose
`Dropout`, `SpatialDropout1D/2D/3D` and `GaussianDropout` are keras_regkit's
(everything else stays Keras's), so every assertion Keras makes about those
layers is checked against our drop-ins.
"""

import types

import keras
import pytest

from keras_regkit import layers as regkit_layers

pytestmark = pytest.mark.backends

OURS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
        "GaussianDropout")


def _namespace():
    names = {n: getattr(keras.layers, n) for n in dir(keras.layers)
             if not n.startswith("_")}
    names.update({n: getattr(regkit_layers, n) for n in OURS})
    return types.SimpleNamespace(**names)


def _suite(module_name, class_name):
    module = pytest.importorskip(module_name)

    class Suite(getattr(module, class_name)):
        @pytest.fixture(autouse=True)
        def _use_keras_regkit(self, monkeypatch):
            monkeypatch.setattr(module, "layers", _namespace())

    Suite.__name__ = f"TestKeras{class_name}"
    return Suite


TestKerasDropoutSuite = _suite(
    "keras.src.layers.regularization.dropout_test", "DropoutTest"
)
TestKerasSpatialDropoutSuite = _suite(
    "keras.src.layers.regularization.spatial_dropout_test",
    "SpatialDropoutTest",
)
TestKerasGaussianDropoutSuite = _suite(
    "keras.src.layers.regularization.gaussian_dropout_test",
    "GaussianDropoutTest",
)
