"""keras_regkit: regularization as a first-class part of Keras 3 training.

Regularizers, layers and callbacks whose strengths can follow a schedule
during `model.fit`, built on `keras.ops` so they run on every backend and
compile under XLA.
"""

__version__ = "0.1.0"

from keras_regkit import callbacks
from keras_regkit import regularizers
from keras_regkit import schedules

__all__ = ["callbacks", "regularizers", "schedules", "__version__"]
