"""In-step MixUp and CutMix: inputs and labels mixed on the device; label
smoothing for any input (token ids included)."""

import keras
from keras import ops

from keras_regkit.layers.augment._mixing import check_label_smoothing
from keras_regkit.layers.augment.cutmix import cutmix_draw
from keras_regkit.layers.augment.cutmix import paste
from keras_regkit.layers.augment.mixup import blend
from keras_regkit.layers.augment.mixup import mixup_draw
from keras_regkit.strengths import Scheduled
from keras_regkit.training._component import StepComponent

_LABELS = "label mixing (StepMixUp, StepCutMix, LabelSmoothing)"


class _Mixing(StepComponent):
    exclusive = _LABELS
    float_inputs = True
    alpha = Scheduled()

    def __init__(self, alpha, label_smoothing=0.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.label_smoothing = check_label_smoothing(type(self).__name__,
                                                     label_smoothing)

    def transform_batch(self, batch, step):
        x, weight, order = self.mix(batch.x)
        if self.label_smoothing:
            return batch._replace(
                x=x, label_mixing=(weight, order, self.label_smoothing))
        return batch._replace(x=x, label_mixing=(weight, order))

    def get_config(self):
        return {**super().get_config(),
                "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="keras_regkit")
class StepMixUp(_Mixing):
    """MixUp inside the train step: inputs and labels mixed on the device.

    Each example is blended with a random partner from the batch with
    weight `lam ~ Beta(alpha, alpha)`, and the loss is
    `lam * loss(y) + (1 - lam) * loss(y_partner)`, which is the same as
    mixing one-hot labels, for sparse and one-hot labels and any loss.
    Training metrics compare predictions with the unmixed labels.

    Args:
        alpha: float >= 0 or Schedule; 0 turns mixing off. Defaults to
            `0.2`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        label_smoothing: float in [0, 1): the labels become smoothed
            one-hot targets `(1 - s) * one_hot + s / classes` before they
            are mixed (as timm does); the model must then be compiled
            with a loss for one-hot targets (`categorical_crossentropy`),
            integer labels are one-hot encoded by the step. Defaults to
            `0.0` (labels mixed through the loss, any loss).
        seed: int or None. Defaults to `None`.

    Examples:

        >>> StepMixUp(alpha=0.4).get_config()["alpha"]
        0.4

    References:
        Zhang et al., mixup: Beyond Empirical Risk Minimization, 2018.
        https://arxiv.org/abs/1710.09412
    """

    def __init__(self, alpha=0.2, label_smoothing=0.0, **kwargs):
        super().__init__(alpha, label_smoothing, **kwargs)

    def mix(self, inputs):
        """`(mixed inputs, weights of own labels (B,), partner order)`."""
        draw = mixup_draw(ops.shape(inputs)[0], self.strength("alpha").value,
                          self.seed_generator)
        return blend(inputs, draw), draw["label_weight"], draw["order"]


@keras.saving.register_keras_serializable(package="keras_regkit")
class StepCutMix(_Mixing):
    """CutMix inside the train step: a box from a partner image, labels
    mixed by the pasted area (images `(batch, height, width, channels)`).

    Args:
        alpha: float >= 0 or Schedule, the Beta concentration. Defaults to
            `1.0`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        label_smoothing: float in [0, 1), as for `StepMixUp`. Defaults to
            `0.0`.
        seed: int or None. Defaults to `None`.

    Examples:

        >>> StepCutMix().get_config()["alpha"]
        1.0

    References:
        Yun et al., CutMix, 2019. https://arxiv.org/abs/1905.04899
    """

    def __init__(self, alpha=1.0, label_smoothing=0.0, **kwargs):
        super().__init__(alpha, label_smoothing, **kwargs)

    def mix(self, inputs):
        if len(inputs.shape) != 4:
            raise ValueError(
                "StepCutMix needs image batches (batch, height, width, "
                f"channels); received inputs of shape {inputs.shape}."
            )
        draw = cutmix_draw(ops.shape(inputs)[0], inputs.shape[1],
                           inputs.shape[2], self.strength("alpha").value,
                           self.seed_generator)
        return paste(inputs, draw), draw["label_weight"], draw["order"]


@keras.saving.register_keras_serializable(package="keras_regkit")
class LabelSmoothing(StepComponent):
    """Label smoothing in the train step, for sparse and one-hot labels.

    Trains on `(1 - label_smoothing) * one_hot + label_smoothing /
    classes` (binary labels: towards 0.5), whatever the inputs (images,
    token ids). Keras's `SparseCategoricalCrossentropy` has no
    `label_smoothing`; with this component, integer labels are one-hot
    encoded in the step, so compile with `categorical_crossentropy` and
    keep integer labels in the data. With MixUp/CutMix, use their own
    `label_smoothing` instead (smoothing before mixing).

    Args:
        label_smoothing: float in [0, 1). Defaults to `0.1`.

    Examples:

        >>> from keras_regkit.training import RegularizedModel
        >>> import numpy as np
        >>> inputs = keras.Input((4,))
        >>> model = RegularizedModel(inputs, keras.layers.Dense(3)(inputs),
        ...                          components=[LabelSmoothing(0.1)])
        >>> model.compile("sgd", keras.losses.CategoricalCrossentropy(
        ...     from_logits=True), metrics=["accuracy"])
        >>> _ = model.fit(np.ones((8, 4)), np.zeros((8,), "int32"), verbose=0)

    References:
        Szegedy et al., Rethinking the Inception Architecture, 2016.
        https://arxiv.org/abs/1512.00567
    """

    exclusive = _LABELS

    def __init__(self, label_smoothing=0.1, **kwargs):
        super().__init__(**kwargs)
        self.label_smoothing = check_label_smoothing("LabelSmoothing",
                                                     label_smoothing)

    def transform_batch(self, batch, step):
        size = ops.shape(batch.y)[0]
        return batch._replace(label_mixing=(
            ops.ones((size,)), ops.arange(size), self.label_smoothing))

    def get_config(self):
        return {**super().get_config(),
                "label_smoothing": self.label_smoothing}
