"""Layers: the dropout family (scheduled `Dropout`, `SpatialDropout*`,
`GaussianDropout`, `DropPath`, `StochasticResidual`, `DropBlock2D`,
`DropConnect`, MC-dropout, `EmbeddingDropout`, `TokenDropout`); an
`Embedding` whose penalty falls on the looked-up rows only; augmentation
layers that compile under XLA (`Random*`, `MixUp`, `CutMix`, `Mosaic`,
`RandAugment`, `TrivialAugment`, `AugMix`, `RandomApply`, `RandomChoice`,
the fusing `Augment` pipeline); audio augmentation (`SpecAugment`,
`TimeMasking`, `FrequencyMasking`, `TimeWarp` on spectrograms;
`RandomGain`, `RandomNoise`, `RandomTimeShift`, `RandomSpeed` on
waveforms)."""
from keras_regkit import _registration
from keras_regkit.layers.audio import FrequencyMasking
from keras_regkit.layers.audio import RandomGain
from keras_regkit.layers.audio import RandomNoise
from keras_regkit.layers.audio import RandomSpeed
from keras_regkit.layers.audio import RandomTimeShift
from keras_regkit.layers.audio import SpecAugment
from keras_regkit.layers.audio import TimeMasking
from keras_regkit.layers.audio import TimeWarp
from keras_regkit.layers.augment import Augment
from keras_regkit.layers.augment import AugMix
from keras_regkit.layers.augment import CutMix
from keras_regkit.layers.augment import MixUp
from keras_regkit.layers.augment import Mosaic
from keras_regkit.layers.augment import RandAugment
from keras_regkit.layers.augment import RandomAffine
from keras_regkit.layers.augment import RandomApply
from keras_regkit.layers.augment import RandomBrightness
from keras_regkit.layers.augment import RandomChoice
from keras_regkit.layers.augment import RandomContrast
from keras_regkit.layers.augment import RandomCrop
from keras_regkit.layers.augment import RandomElasticTransform
from keras_regkit.layers.augment import RandomErasing
from keras_regkit.layers.augment import RandomFlip
from keras_regkit.layers.augment import RandomGrayscale
from keras_regkit.layers.augment import RandomHue
from keras_regkit.layers.augment import RandomPerspective
from keras_regkit.layers.augment import RandomResizedCrop
from keras_regkit.layers.augment import RandomRotation
from keras_regkit.layers.augment import RandomSaturation
from keras_regkit.layers.augment import RandomShear
from keras_regkit.layers.augment import RandomTranslation
from keras_regkit.layers.augment import RandomZoom
from keras_regkit.layers.augment import TrivialAugment
from keras_regkit.layers.augment import affine_transform
from keras_regkit.layers.dropout import DropBlock2D
from keras_regkit.layers.dropout import DropConnect
from keras_regkit.layers.dropout import Dropout
from keras_regkit.layers.dropout import DropPath
from keras_regkit.layers.dropout import EmbeddingDropout
from keras_regkit.layers.dropout import GaussianDropout
from keras_regkit.layers.dropout import SpatialDropout1D
from keras_regkit.layers.dropout import SpatialDropout2D
from keras_regkit.layers.dropout import SpatialDropout3D
from keras_regkit.layers.dropout import StochasticDepth
from keras_regkit.layers.dropout import StochasticResidual
from keras_regkit.layers.dropout import TokenDropout
from keras_regkit.layers.dropout import drop_block_2d
from keras_regkit.layers.dropout import drop_path
from keras_regkit.layers.dropout import drop_path_rates
from keras_regkit.layers.dropout import dropout
from keras_regkit.layers.dropout import embedding_dropout
from keras_regkit.layers.dropout import gaussian_dropout
from keras_regkit.layers.dropout import mc_predict
from keras_regkit.layers.dropout import stochastic_residual
from keras_regkit.layers.dropout import token_dropout
from keras_regkit.layers.embedding import Embedding
from keras_regkit.layers.embedding import looked_up_rows_penalty

__all__ = [
    "AugMix",
    "Augment",
    "CutMix",
    "DropBlock2D",
    "DropConnect",
    "DropPath",
    "Dropout",
    "Embedding",
    "EmbeddingDropout",
    "FrequencyMasking",
    "GaussianDropout",
    "MixUp",
    "Mosaic",
    "RandAugment",
    "RandomAffine",
    "RandomApply",
    "RandomBrightness",
    "RandomChoice",
    "RandomContrast",
    "RandomCrop",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomFlip",
    "RandomGain",
    "RandomGrayscale",
    "RandomHue",
    "RandomNoise",
    "RandomPerspective",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomSaturation",
    "RandomShear",
    "RandomSpeed",
    "RandomTimeShift",
    "RandomTranslation",
    "RandomZoom",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "SpecAugment",
    "StochasticDepth",
    "StochasticResidual",
    "TimeMasking",
    "TimeWarp",
    "TokenDropout",
    "TrivialAugment",
    "affine_transform",
    "drop_block_2d",
    "drop_path",
    "drop_path_rates",
    "dropout",
    "embedding_dropout",
    "gaussian_dropout",
    "looked_up_rows_penalty",
    "mc_predict",
    "stochastic_residual",
    "token_dropout",
]

# Last: registers our classes with Keras if this import loaded it.
_registration.package_loaded(__name__)
