"""AugMix's Jensen-Shannon consistency of an image and two AugMix views."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit.layers.augment._base import BaseAugmentation
from keras_regkit.layers.augment.aug_mix import AugMix
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import Scheduled
from keras_regkit.training._component import StepComponent
from keras_regkit.training.rdrop import log_probabilities


def jensen_shannon(predictions, from_logits=False):
    """Per example, the Jensen-Shannon divergence of several predictions:
    the mean KL divergence of each from their mixture.

    Args:
        predictions: a list of predictions `(batch, ..., classes)`
            (probabilities, or logits with `from_logits=True`; one unit is
            binary).
        from_logits: bool. Defaults to `False`.

    Returns:
        A tensor `(batch,)` (averaged over any axes between).

    Examples:

        >>> p = keras.ops.convert_to_tensor([[0.5, 0.5], [0.9, 0.1]])
        >>> q = keras.ops.convert_to_tensor([[0.5, 0.5], [0.1, 0.9]])
        >>> js = keras.ops.convert_to_numpy(jensen_shannon([p, q]))
        >>> [round(float(v), 3) for v in js]
        [0.0, 0.368]
    """
    checks.boolean("jensen_shannon", "from_logits", from_logits)
    logs = [log_probabilities(p, from_logits) for p in predictions]
    probabilities = [ops.exp(log_p) for log_p in logs]
    mixture = ops.log(ops.clip(
        sum(probabilities) / len(probabilities), 1e-7, 1.0))
    divergence = sum(ops.sum(p * (log_p - mixture), axis=-1)
                     for p, log_p in zip(probabilities, logs, strict=True))
    divergence = divergence / len(predictions)
    return ops.mean(ops.reshape(divergence, (ops.shape(divergence)[0], -1)),
                    axis=-1)


@keras.saving.register_keras_serializable(package="keras_regkit")
class AugMixConsistency(StepComponent):
    """AugMix's training loss: the clean image's loss plus the
    Jensen-Shannon consistency of its predictions on two AugMix views.

    Each batch of images passes the model three times in one forward pass
    (clean, and two independent draws of `augment`); the model's loss and
    the training metrics count the clean images only, and
    `weight * JS(p_clean, p_view1, p_view2)` is added, as in the paper
    (`weight` 12). Use it instead of putting `AugMix` in the model or the
    input pipeline.

    Args:
        augment: the augmentation layer that makes the views (any
            keras_regkit augmentation layer or `Augment`). Defaults to
            `AugMix()` (images in `(0, 255)`).
        weight: float >= 0 or Schedule, the consistency term's weight.
            Defaults to `12.0`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        from_logits: bool, whether the model outputs logits. Defaults to
            `False` (probabilities).
        seed: int or None. Defaults to `None`.

    Examples:

        >>> from keras_regkit.training import RegularizedModel
        >>> from keras_regkit.layers import AugMix
        >>> import numpy as np
        >>> inputs = keras.Input((8, 8, 3))
        >>> hidden = keras.layers.Flatten()(inputs)
        >>> outputs = keras.layers.Dense(3, activation="softmax")(hidden)
        >>> model = RegularizedModel(inputs, outputs, components=[
        ...     AugMixConsistency(AugMix(value_range=(0, 1), seed=0))])
        >>> model.compile("adam", "sparse_categorical_crossentropy")
        >>> x = np.random.rand(4, 8, 8, 3).astype("float32")
        >>> history = model.fit(x, np.zeros((4,)), verbose=0)
        >>> history.history["augmix_js"][0] > 0
        True

    References:
        Hendrycks et al., AugMix: A Simple Data Processing Method to
        Improve Robustness and Uncertainty, 2020.
        https://arxiv.org/abs/1912.02781
    """

    weight = Scheduled(NON_NEGATIVE)
    logs = ("augmix_js",)
    order = 2  # after mixing and adversarial examples: every view sees them
    exclusive = "consistency (RDrop, AugMixConsistency)"

    def __init__(self, augment=None, weight=12.0, from_logits=False,
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(augment, dict):
            augment = keras.saving.deserialize_keras_object(augment)
        if augment is None:
            augment = AugMix(seed=seed)
        if not isinstance(augment, BaseAugmentation):
            raise TypeError(
                "AugMixConsistency: `augment` must be a keras_regkit "
                f"augmentation layer (AugMix, Augment, ...). Received: "
                f"{augment!r}")
        self.augment = augment
        self.weight = weight
        self.from_logits = checks.boolean("AugMixConsistency",
                                          "from_logits", from_logits)

    def transform_batch(self, batch, step):
        tripled = batch.repeated(3)
        views = [batch.x, self.augment(batch.x, training=True),
                 self.augment(batch.x, training=True)]
        size = ops.shape(batch.x)[0]
        clean = (ops.ones((size,), "float32") if batch.sample_weight is None
                 else ops.cast(batch.sample_weight, "float32"))
        # Three times the clean weights, none on the views: a loss averaged
        # over the tripled batch is the clean images' mean loss.
        weight = ops.concatenate(
            [3.0 * clean, ops.zeros_like(clean), ops.zeros_like(clean)], 0)
        return tripled._replace(
            x=ops.concatenate([ops.cast(v, batch.x.dtype) for v in views], 0),
            sample_weight=weight)

    def loss_term(self, y_pred, batch, step):
        predictions = ops.split(y_pred, 3, axis=0)
        divergence = jensen_shannon(predictions, self.from_logits)
        weight = ops.split(batch.sample_weight, 3, axis=0)[0] / 3.0
        divergence = ops.sum(divergence * weight) / ops.maximum(
            ops.sum(weight), 1e-12)
        step.log("augmix_js", divergence)
        return self.strength("weight").value * divergence

    def get_config(self):
        return {**super().get_config(),
                "augment": keras.saving.serialize_keras_object(self.augment),
                "from_logits": self.from_logits}
