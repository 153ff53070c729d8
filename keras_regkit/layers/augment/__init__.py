"""Augmentation layers that compile under XLA, and the `Augment` pipeline."""

from keras_regkit.layers.augment.aug_mix import AugMix
from keras_regkit.layers.augment.colour import RandomBrightness
from keras_regkit.layers.augment.colour import RandomContrast
from keras_regkit.layers.augment.colour import RandomGrayscale
from keras_regkit.layers.augment.colour import RandomHue
from keras_regkit.layers.augment.colour import RandomSaturation
from keras_regkit.layers.augment.crop import RandomCrop
from keras_regkit.layers.augment.crop import RandomResizedCrop
from keras_regkit.layers.augment.cutmix import CutMix
from keras_regkit.layers.augment.elastic import RandomElasticTransform
from keras_regkit.layers.augment.geometric import RandomAffine
from keras_regkit.layers.augment.geometric import RandomFlip
from keras_regkit.layers.augment.geometric import RandomPerspective
from keras_regkit.layers.augment.geometric import RandomRotation
from keras_regkit.layers.augment.geometric import RandomShear
from keras_regkit.layers.augment.geometric import RandomTranslation
from keras_regkit.layers.augment.geometric import RandomZoom
from keras_regkit.layers.augment.geometry import affine_transform
from keras_regkit.layers.augment.mixup import MixUp
from keras_regkit.layers.augment.mosaic import Mosaic
from keras_regkit.layers.augment.pipeline import Augment
from keras_regkit.layers.augment.policies import RandAugment
from keras_regkit.layers.augment.policies import TrivialAugment
from keras_regkit.layers.augment.random_choice import RandomApply
from keras_regkit.layers.augment.random_choice import RandomChoice
from keras_regkit.layers.augment.random_erasing import RandomErasing

__all__ = [
    "AugMix",
    "Augment",
    "CutMix",
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
    "RandomGrayscale",
    "RandomHue",
    "RandomPerspective",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomSaturation",
    "RandomShear",
    "RandomTranslation",
    "RandomZoom",
    "TrivialAugment",
    "affine_transform",
]
