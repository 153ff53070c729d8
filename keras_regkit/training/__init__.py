"""Regularizing train steps (TensorFlow, JAX, torch): clipping, AGC, SAM,
adversarial training (FGSM, PGD), gradient noise, in-step MixUp/CutMix,
R-Drop, AugMix's consistency loss, decoupled weight decay.

`RegularizedModel(inputs, outputs, components=[...])` or
`regularize(model, [...])`; see `train_step.py` for the order of a step and
`StepComponent` for writing a component of your own.
"""

from keras_regkit import _registration
from keras_regkit.training._component import StepComponent
from keras_regkit.training._step import StepBatch
from keras_regkit.training.adversarial import PGD
from keras_regkit.training.adversarial import TRADES
from keras_regkit.training.adversarial import AdversarialTraining
from keras_regkit.training.adversarial import fgsm
from keras_regkit.training.adversarial import kl_divergence
from keras_regkit.training.adversarial import pgd
from keras_regkit.training.adversarial import project
from keras_regkit.training.aug_mix_consistency import AugMixConsistency
from keras_regkit.training.aug_mix_consistency import jensen_shannon
from keras_regkit.training.clipping import AdaptiveGradientClipping
from keras_regkit.training.clipping import GradientClipping
from keras_regkit.training.clipping import adaptive_clip
from keras_regkit.training.clipping import clip_gradients
from keras_regkit.training.mixing import LabelSmoothing
from keras_regkit.training.mixing import StepCutMix
from keras_regkit.training.mixing import StepMixUp
from keras_regkit.training.noise import GradientNoise
from keras_regkit.training.rdrop import RDrop
from keras_regkit.training.rdrop import symmetric_kl
from keras_regkit.training.robustness import RobustnessResult
from keras_regkit.training.robustness import evaluate_robustness
from keras_regkit.training.sam import SAM
from keras_regkit.training.sam import sam_perturbation
from keras_regkit.training.train_step import Regularized
from keras_regkit.training.train_step import RegularizedModel
from keras_regkit.training.train_step import regularize
from keras_regkit.training.weight_decay import DecoupledWeightDecay

__all__ = [
    "AdaptiveGradientClipping",
    "AdversarialTraining",
    "AugMixConsistency",
    "DecoupledWeightDecay",
    "GradientClipping",
    "GradientNoise",
    "LabelSmoothing",
    "PGD",
    "TRADES",
    "Regularized",
    "RegularizedModel",
    "RobustnessResult",
    "RDrop",
    "SAM",
    "StepBatch",
    "StepComponent",
    "StepCutMix",
    "StepMixUp",
    "adaptive_clip",
    "clip_gradients",
    "evaluate_robustness",
    "fgsm",
    "jensen_shannon",
    "kl_divergence",
    "pgd",
    "project",
    "regularize",
    "sam_perturbation",
    "symmetric_kl",
]

# Last: registers our classes with Keras if this import loaded it.
_registration.package_loaded(__name__)
