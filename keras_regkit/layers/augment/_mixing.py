"""Shared by MixUp and CutMix: a partner per image, and label mixing."""

from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.augment._base import BaseAugmentation


def partners(batch_size, seed):
    """A random permutation of the batch (argsort of uniforms; XLA sorts)."""
    return ops.argsort(_random.uniform((batch_size,), seed))


def check_label_smoothing(owner, value):
    """`label_smoothing`: a float in [0, 1)."""
    return checks.number(owner, "label_smoothing", value,
                         lambda v: 0 <= v < 1, "a float in [0, 1)")


def mix_labels(labels, weights, order, num_classes=None,
               label_smoothing=0.0):
    """`weights * labels + (1 - weights) * labels[order]`, one-hot first.

    Labels are smoothed before they are mixed, as timm does: each one-hot
    label becomes `(1 - label_smoothing) * label + label_smoothing /
    classes`.

    Args:
        labels: one-hot/soft `(batch, classes)` floats, or integer class ids
            `(batch,)` / `(batch, 1)` when `num_classes` is given.
        weights: `(batch,)` share of each image's own label.
        order: `(batch,)` partner indices.
        num_classes: int or None.
        label_smoothing: float in [0, 1). Defaults to `0.0`.
    """
    labels = one_hot_labels(labels, num_classes, label_smoothing)
    weights = ops.reshape(weights, (-1,) + (1,) * (len(labels.shape) - 1))
    return weights * labels + (1.0 - weights) * ops.take(labels, order,
                                                         axis=0)


def one_hot_labels(labels, num_classes=None, label_smoothing=0.0):
    """Float one-hot (or soft) labels `(batch, classes)`, smoothed.

    Integer labels `(batch,)` / `(batch, 1)` need `num_classes`.
    """
    labels = ops.convert_to_tensor(labels)
    if "int" in str(labels.dtype):
        if num_classes is None:
            raise ValueError(
                "MixUp/CutMix received integer (sparse) labels; pass "
                "`num_classes` so they can be one-hot encoded and mixed."
            )
        if len(labels.shape) == 2 and labels.shape[-1] == 1:
            labels = ops.squeeze(labels, -1)
        labels = ops.one_hot(labels, num_classes)
    labels = ops.cast(labels, "float32")
    if label_smoothing:
        labels = (labels * (1.0 - label_smoothing)
                  + label_smoothing / labels.shape[-1])
    return labels


class MixingAugmentation(BaseAugmentation):
    """Base of the layers that mix each image with a partner image."""

    mixes_labels = True
    boxes_per_box = 2


    def __init__(self, num_classes=None, data_format=None, seed=None,
                 label_smoothing=0.0, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        if num_classes is not None:
            checks.integer(type(self).__name__, "num_classes", num_classes,
                           2, "None or an int >= 2")
        self.num_classes = num_classes
        self.label_smoothing = check_label_smoothing(type(self).__name__,
                                                     label_smoothing)

    def apply_labels(self, labels, draw):
        return mix_labels(labels, draw["label_weight"], draw["order"],
                          self.num_classes, self.label_smoothing)

    def unchanged_labels(self, labels):
        return one_hot_labels(labels, self.num_classes, self.label_smoothing)

    def apply_bounding_boxes(self, boxes, draw, height, width):
        """Each image's boxes followed by its partner's (`(B, 2N, 4)`):
        what is visible of both images is kept."""
        partner = {key: ops.take(value, draw["order"], axis=0)
                   for key, value in boxes.items()}
        partner = self.partner_boxes(partner, draw)
        return {key: ops.concatenate([boxes[key], partner[key]], axis=1)
                for key in boxes}

    def partner_boxes(self, boxes, draw):
        """The partner's boxes as they show in the mixed image."""
        return boxes

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing}
