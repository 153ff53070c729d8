"""CutMix: paste a box from a partner image; labels mixed by area."""

import keras
from keras import ops

from keras_regkit import _random
from keras_regkit.layers.augment import bounding_boxes
from keras_regkit.layers.augment._mixing import MixingAugmentation
from keras_regkit.layers.augment._mixing import partners
from keras_regkit.layers.augment._regions import box_mask
from keras_regkit.strengths import ScheduledRange


def cutmix_draw(batch_size, height, width, alpha, seed):
    """Per image: a partner, a box (its kept share `lam ~ Beta(alpha,
    alpha)` sets the sides to `sqrt(1 - lam)` of the image's) and the label
    weight, the share actually kept. Used by `CutMix` and `StepCutMix`."""
    lam = _random.beta((batch_size,), alpha, seed)
    side = ops.sqrt(1.0 - lam)
    box_height = ops.round(side * height)
    box_width = ops.round(side * width)
    corner = _random.uniform((batch_size, 2), seed)
    top = ops.floor(corner[:, 0] * (height - box_height + 1))
    left = ops.floor(corner[:, 1] * (width - box_width + 1))
    return {
        "top": top, "left": left, "box_height": box_height,
        "box_width": box_width,
        "label_weight": 1.0 - box_height * box_width / (height * width),
        "order": partners(batch_size, seed),
    }


def paste(images, draw):
    """Pastes each partner's box (from `cutmix_draw`) into `images`."""
    mask = box_mask(draw["top"], draw["left"], draw["box_height"],
                    draw["box_width"], images.shape[1], images.shape[2])
    return ops.where(mask, ops.take(images, draw["order"], axis=0), images)


def _patch_edges(draw):
    """(top, left, bottom, right) of each image's patch, `(B, 1)` each."""
    top, left = draw["top"][:, None], draw["left"][:, None]
    return (top, left, top + draw["box_height"][:, None],
            left + draw["box_width"][:, None])


@keras.saving.register_keras_serializable(package="keras_regkit")
class CutMix(MixingAugmentation):
    """Pastes a random box from a partner image into each image.

    A drop-in for `keras.layers.CutMix` (which fails under XLA), same
    `factor`: the Beta concentration `alpha` is drawn from the factor's
    range (a float `f` gives `[0, f]`) and each image's kept share
    `lam ~ Beta(alpha, alpha)` sets the box size (`sqrt(1 - lam)` of each
    side). Labels, given a dict `{"images", "labels"}`, are mixed by the
    area actually pasted.

    Args:
        factor: float, pair, or Schedule in [0, 1]. Defaults to `1.0`. May
            be a `Schedule` (or a pair of them); moved by
            [`StrengthScheduler`][scheduled].
        seed: int or None. Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        num_classes: int or None; lets integer labels be one-hot encoded
            and mixed. Defaults to `None` (labels must be one-hot).
        label_smoothing: float in [0, 1): labels become `(1 - s) * label
            + s / classes` before they are mixed (as timm does). Defaults
            to `0.0`.

    Examples:

        >>> import numpy as np
        >>> batch = {"images": np.random.rand(4, 8, 8, 3).astype("float32"),
        ...          "labels": np.array([0, 1, 2, 3])}
        >>> out = CutMix(seed=0, num_classes=4)(batch)
        >>> tuple(out["labels"].shape)
        (4, 4)

    References:
        Yun et al., CutMix: Regularization Strategy to Train Strong
        Classifiers with Localizable Features, 2019.
        https://arxiv.org/abs/1905.04899
    """

    factor = ScheduledRange((0.0, 1.0))

    def __init__(self, factor=1.0, seed=None, data_format=None,
                 num_classes=None, label_smoothing=0.0, **kwargs):
        super().__init__(num_classes=num_classes, data_format=data_format,
                         seed=seed, label_smoothing=label_smoothing,
                         **kwargs)
        self.factor = factor

    def draw(self, batch_size, height, width):
        u = _random.uniform((1,), self.seed_generator)
        alpha = self.strength("factor").sample(u[0]) + 1e-6
        return cutmix_draw(batch_size, height, width, alpha,
                           self.seed_generator)

    def apply_images(self, images, draw):
        return paste(images, draw)

    def apply_segmentation_masks(self, masks, draw):
        """The partner's mask inside the patch, like the pixels (class ids
        copied, never mixed)."""
        return paste(masks, draw)

    def apply_bounding_boxes(self, boxes, draw, height, width):
        """The image's boxes, then its partner's clipped to the patch.

        A box of the image entirely under the patch gets the label -1 (it
        is no longer visible); one the patch covers in part is kept whole.
        A partner's box is clipped to the patch, and gets -1 if none of it
        lies inside.
        """
        top, left, bottom, right = _patch_edges(draw)
        own = dict(boxes)
        if "labels" in boxes:
            x1, y1, x2, y2 = (boxes["boxes"][..., i] for i in range(4))
            covered = ((x1 >= left) & (x2 <= right) & (y1 >= top)
                       & (y2 <= bottom))
            own["labels"] = ops.where(
                covered, ops.cast(-1, boxes["labels"].dtype),
                boxes["labels"])
        return super().apply_bounding_boxes(own, draw, height, width)

    def partner_boxes(self, boxes, draw):
        top, left, bottom, right = _patch_edges(draw)
        x1, y1, x2, y2 = (boxes["boxes"][..., i] for i in range(4))
        clipped = ops.stack([ops.clip(x1, left, right),
                             ops.clip(y1, top, bottom),
                             ops.clip(x2, left, right),
                             ops.clip(y2, top, bottom)], axis=-1)
        result = {**boxes, "boxes": clipped}
        if "labels" in boxes:
            result["labels"] = bounding_boxes.drop_empty(clipped,
                                                         boxes["labels"])
        return result
