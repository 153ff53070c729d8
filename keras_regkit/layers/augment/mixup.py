"""MixUp: blend each image (and its label) with a partner's."""

import keras
from keras import ops

from keras_regkit import _random
from keras_regkit.layers.augment._mixing import MixingAugmentation
from keras_regkit.layers.augment._mixing import partners
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import Scheduled


def mixup_draw(batch_size, alpha, seed):
    """Per example: a weight `lam ~ Beta(alpha, alpha)` and a partner. Used
    by `MixUp` and `StepMixUp`."""
    weight = _random.beta((batch_size,), alpha, seed)
    return {"label_weight": weight, "order": partners(batch_size, seed)}


def blend(inputs, draw):
    """`lam * x + (1 - lam) * x[partner]` for inputs of any rank."""
    weight = keras.ops.reshape(draw["label_weight"],
                               (-1,) + (1,) * (len(inputs.shape) - 1))
    partner = keras.ops.take(inputs, draw["order"], axis=0)
    return weight * inputs + (1.0 - weight) * partner


@keras.saving.register_keras_serializable(package="keras_regkit")
class MixUp(MixingAugmentation):
    """Blends each image with a random partner from the batch; XLA-friendly.

    A drop-in for `keras.layers.MixUp` (which fails under XLA). Each image
    gets its own weight `lam ~ Beta(alpha, alpha)`; given a dict
    `{"images", "labels"}`, the labels are mixed with the same weights and
    partners. Inside a model only the images are available, so for label
    mixing in `fit` use it in a `tf.data` pipeline or the in-step MixUp of
    `keras_regkit.training`.

    Args:
        alpha: float >= 0 or Schedule, the Beta concentration; 0 turns
            mixing off. Defaults to `0.2`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        seed: int or None. Defaults to `None`.
        num_classes: int or None; lets integer labels be one-hot encoded
            and mixed. Defaults to `None` (labels must be one-hot).
        label_smoothing: float in [0, 1): labels become `(1 - s) * label
            + s / classes` before they are mixed (as timm does). Defaults
            to `0.0`.

    Examples:

        >>> import numpy as np
        >>> layer = MixUp(alpha=0.4, seed=0)
        >>> batch = {"images": np.random.rand(4, 8, 8, 3).astype("float32"),
        ...          "labels": np.eye(4, dtype="float32")}
        >>> out = layer(batch)
        >>> labels = keras.ops.convert_to_numpy(out["labels"])
        >>> labels.sum(axis=1).round(4).tolist()
        [1.0, 1.0, 1.0, 1.0]

    References:
        Zhang et al., mixup: Beyond Empirical Risk Minimization, 2018.
        https://arxiv.org/abs/1710.09412
    """

    alpha = Scheduled(NON_NEGATIVE)

    def __init__(self, alpha=0.2, data_format=None, seed=None,
                 num_classes=None, label_smoothing=0.0, **kwargs):
        super().__init__(num_classes=num_classes, data_format=data_format,
                         seed=seed, label_smoothing=label_smoothing,
                         **kwargs)
        self.alpha = alpha

    def draw(self, batch_size, height, width):
        return mixup_draw(batch_size, self.strength("alpha").value,
                          self.seed_generator)

    def apply_images(self, images, draw):
        return blend(images, draw)

    def apply_segmentation_masks(self, masks, draw):
        """Float masks (soft, one channel per class) are blended like the
        images; integer class-id masks cannot be averaged, so each pixel
        takes the mask of the image with the larger weight."""
        dtype = keras.backend.standardize_dtype(masks.dtype)
        if "float" in dtype:
            return ops.cast(blend(ops.cast(masks, "float32"), draw), dtype)
        dominant = ops.reshape(draw["label_weight"] >= 0.5, (-1, 1, 1, 1))
        return ops.where(dominant, masks,
                         ops.take(masks, draw["order"], axis=0))
