"""Regularizing train steps (TensorFlow, JAX, torch): clipping, AGC, SAM,
adversarial training, gradient noise, in-step MixUp/CutMix.

`RegularizedModel(inputs, outputs, components=[...])` or
`regularize(model, [...])`; see `train_step.py` for the order of a step and
`StepComponent` for writing a component of your own.
"""

from keras_regkit.training._component import StepComponent
from keras_regkit.training._step import StepBatch
from keras_regkit.training.adversarial import AdversarialTraining
from keras_regkit.training.adversarial import fgsm
from keras_regkit.training.clipping import AdaptiveGradientClipping
from keras_regkit.training.clipping import GradientClipping
from keras_regkit.training.clipping import adaptive_clip
from keras_regkit.training.clipping import clip_gradients
from keras_regkit.training.mixing import StepCutMix
from keras_regkit.training.mixing import StepMixUp
from keras_regkit.training.noise import GradientNoise
from keras_regkit.training.sam import SAM
from keras_regkit.training.sam import sam_perturbation
from keras_regkit.training.train_step import Regularized
from keras_regkit.training.train_step import RegularizedModel
from keras_regkit.training.train_step import regularize

__all__ = [
    "AdaptiveGradientClipping",
    "AdversarialTraining",
    "GradientClipping",
    "GradientNoise",
    "Regularized",
    "RegularizedModel",
    "SAM",
    "StepBatch",
    "StepComponent",
    "StepCutMix",
    "StepMixUp",
    "adaptive_clip",
    "clip_gradients",
    "fgsm",
    "regularize",
    "sam_perturbation",
]
