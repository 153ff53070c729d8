"""The dropout family: scheduled rates, stochastic depth (also the
compute-skipping `StochasticResidual`), DropBlock, MC,
and for sequences: embedding (word) dropout and token dropout."""

from keras_regkit.layers.dropout.drop_block import DropBlock2D
from keras_regkit.layers.dropout.drop_block import drop_block_2d
from keras_regkit.layers.dropout.drop_connect import DropConnect
from keras_regkit.layers.dropout.drop_path import DropPath
from keras_regkit.layers.dropout.drop_path import StochasticDepth
from keras_regkit.layers.dropout.drop_path import drop_path
from keras_regkit.layers.dropout.drop_path import drop_path_rates
from keras_regkit.layers.dropout.embedding_dropout import EmbeddingDropout
from keras_regkit.layers.dropout.embedding_dropout import embedding_dropout
from keras_regkit.layers.dropout.monte_carlo import mc_predict
from keras_regkit.layers.dropout.scheduled_dropout import Dropout
from keras_regkit.layers.dropout.scheduled_dropout import GaussianDropout
from keras_regkit.layers.dropout.scheduled_dropout import SpatialDropout1D
from keras_regkit.layers.dropout.scheduled_dropout import SpatialDropout2D
from keras_regkit.layers.dropout.scheduled_dropout import SpatialDropout3D
from keras_regkit.layers.dropout.scheduled_dropout import dropout
from keras_regkit.layers.dropout.scheduled_dropout import gaussian_dropout
from keras_regkit.layers.dropout.stochastic_residual import StochasticResidual
from keras_regkit.layers.dropout.stochastic_residual import stochastic_residual
from keras_regkit.layers.dropout.token_dropout import TokenDropout
from keras_regkit.layers.dropout.token_dropout import token_dropout

__all__ = [
    "DropBlock2D",
    "DropConnect",
    "DropPath",
    "Dropout",
    "EmbeddingDropout",
    "GaussianDropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "StochasticDepth",
    "StochasticResidual",
    "TokenDropout",
    "drop_block_2d",
    "drop_path",
    "drop_path_rates",
    "dropout",
    "embedding_dropout",
    "gaussian_dropout",
    "mc_predict",
    "stochastic_residual",
    "token_dropout",
]
