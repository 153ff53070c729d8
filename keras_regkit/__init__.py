"""keras_regkit: regularization as a first-class part of Keras 3 training.

Regularizers, layers and callbacks whose strengths can follow a schedule
during `model.fit`, built on `keras.ops` so they run on every backend and
compile under XLA. Subpackages load on first use, so `import keras_regkit`
is cheap and the command line can quiet TensorFlow before Keras starts;
the classes a `.keras` file may hold are registered with Keras as soon as
it is imported (`_registration`).
"""

import importlib

from keras_regkit import _registration
from keras_regkit import _versions

__version__ = "0.1.0"

_versions.check_keras()
_registration.register_with_keras()

_SUBPACKAGES = ("callbacks", "lab", "layers", "regularizers", "schedules",
                "strengths", "training")


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"keras_regkit.{name}")
    raise AttributeError(f"module 'keras_regkit' has no attribute {name!r}")


def __dir__():
    return sorted((*globals(), *_SUBPACKAGES))


__all__ = [*_SUBPACKAGES, "__version__"]
