"""Layers: the dropout family (scheduled `Dropout`, `SpatialDropout*`,
`GaussianDropout`, `DropPath`, `DropBlock2D`, `DropConnect`, MC-dropout)."""

from keras_regkit.layers.dropout import DropBlock2D
from keras_regkit.layers.dropout import DropConnect
from keras_regkit.layers.dropout import DropPath
from keras_regkit.layers.dropout import Dropout
from keras_regkit.layers.dropout import GaussianDropout
from keras_regkit.layers.dropout import SpatialDropout1D
from keras_regkit.layers.dropout import SpatialDropout2D
from keras_regkit.layers.dropout import SpatialDropout3D
from keras_regkit.layers.dropout import StochasticDepth
from keras_regkit.layers.dropout import drop_block_2d
from keras_regkit.layers.dropout import drop_path
from keras_regkit.layers.dropout import drop_path_rates
from keras_regkit.layers.dropout import dropout
from keras_regkit.layers.dropout import gaussian_dropout
from keras_regkit.layers.dropout import mc_predict

__all__ = [
    "DropBlock2D",
    "DropConnect",
    "DropPath",
    "Dropout",
    "GaussianDropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "StochasticDepth",
    "drop_block_2d",
    "drop_path",
    "drop_path_rates",
    "dropout",
    "gaussian_dropout",
    "mc_predict",
]
