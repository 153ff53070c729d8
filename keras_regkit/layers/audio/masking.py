"""SpecAugment's masks: blank random bands of frames or frequency bins."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.audio._base import SpectrogramAugmentation
from keras_regkit.layers.audio._base import positions
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import PROBABILITY
from keras_regkit.strengths import Scheduled


def check_mask_value(owner, value):
    """`mask_value`: a finite float or `"mean"`."""
    if isinstance(value, str) and value == "mean":
        return value
    return checks.real(owner, "mask_value", value, 'a finite float or "mean"')


class _Masking(SpectrogramAugmentation):
    """What both masks share: `num_masks` bands per example of a width
    uniform in `[0, cap]` at a uniform position inside the extent."""

    max_width = Scheduled(NON_NEGATIVE, optional=True)

    def __init__(self, max_width, num_masks=1, iid_masks=True,
                 mask_value=0.0, probability=1.0, seed=None,
                 layout="time_freq", **kwargs):
        super().__init__(probability=probability, seed=seed, layout=layout,
                         **kwargs)
        owner = type(self).__name__
        if max_width is None and not self.allows_no_width:
            raise checks.invalid(owner, "max_width", max_width,
                                 "an int >= 0 or a Schedule")
        if checks.is_number(max_width) and not (
                max_width >= 0 and float(max_width).is_integer()):
            raise checks.invalid(owner, "max_width", max_width,
                                 "an int >= 0 or a Schedule")
        self.max_width = max_width
        self.num_masks = checks.integer(owner, "num_masks", num_masks, 1)
        self.iid_masks = checks.boolean(owner, "iid_masks", iid_masks)
        self.mask_value = check_mask_value(owner, mask_value)

    allows_no_width = False

    def caps(self, lengths, extent):
        """The widest band per example, float32 `(batch,)`."""
        raise NotImplementedError

    def band_mask(self, lengths, extent, batch_size):
        """bool `(batch, extent)`: the union of the example's bands."""
        rows = batch_size if self.iid_masks else 1
        u = _random.uniform((rows, self.num_masks, 2), self.seed_generator)
        cap = ops.expand_dims(self.caps(lengths, extent), 1)
        width = ops.floor(u[..., 0] * (cap + 1.0))
        room = self.room(lengths, extent)
        start = ops.floor(u[..., 1] * ops.maximum(
            ops.expand_dims(room, 1) - width + 1.0, 1.0))
        index = ops.cast(ops.expand_dims(positions(extent), 1), "float32")
        inside = ops.logical_and(
            index >= ops.expand_dims(start, -1),
            index < ops.expand_dims(start + width, -1))
        return ops.any(inside, axis=1)

    def room(self, lengths, extent):
        """Where bands may lie, per example, float32 `(batch,)`."""
        raise NotImplementedError

    def fill(self, x, lengths):
        if self.mask_value != "mean":
            return ops.convert_to_tensor(self.mask_value, "float32")
        valid = ops.cast(
            positions(x.shape[1]) < ops.expand_dims(lengths, 1), "float32")
        valid = ops.reshape(valid, ops.shape(valid) + (1, 1))
        total = ops.sum(x * valid, axis=(1, 2, 3), keepdims=True)
        count = ops.sum(valid, axis=(1, 2, 3), keepdims=True) * (
            x.shape[2] * x.shape[3])
        return total / ops.maximum(count, 1.0)

    def get_config(self):
        return {**super().get_config(), "num_masks": self.num_masks,
                "iid_masks": self.iid_masks, "mask_value": self.mask_value}


@keras.saving.register_keras_serializable(package="keras_regkit")
class TimeMasking(_Masking):
    """Masks random bands of consecutive frames (SpecAugment's time masks).

    Each example gets `num_masks` bands, each `t` frames wide with `t`
    uniform in `[0, min(max_width, max_proportion * length)]` and placed
    uniformly inside the example's valid frames: with padded batches
    (`lengths`, or a Keras mask) no band falls in the padding, and
    `max_proportion` makes the width adaptive to each example's true
    length (Park et al. 2019; 2020). Arguments follow
    `torchaudio.transforms.TimeMasking` (`time_mask_param` is
    `max_width`, `p` is `max_proportion`), with masks per example by
    default.

    Args:
        max_width: int >= 0, None (only `max_proportion` limits the width)
            or `Schedule`: the widest band, in frames. May be a `Schedule`
            (moved by [`StrengthScheduler`][scheduled]).
        num_masks: int >= 1, bands per example. Defaults to `1`.
        max_proportion: float in [0, 1] or `Schedule`: the widest band as a
            fraction of the example's length. Defaults to `1.0`.
        iid_masks: bool, each example its own bands (`False`: one draw for
            the whole batch, torchaudio's default). Defaults to `True`.
        mask_value: float, or `"mean"` (the example's mean over its valid
            frames). Defaults to `0.0`.
        probability: float in [0, 1] or `Schedule`, the chance that an
            example is masked. Defaults to `1.0`.
        seed: int or None. Defaults to `None`.
        layout: `"time_freq"` (`(batch, time, freq[, channels])`) or
            `"freq_time"` (what `keras.layers.MelSpectrogram` gives).
            Defaults to `"time_freq"`.

    Examples:

        >>> import numpy as np
        >>> layer = TimeMasking(max_width=4, num_masks=2, seed=0)
        >>> out = keras.ops.convert_to_numpy(layer(np.ones((2, 50, 8))))
        >>> out.shape, bool(out.min() == 0.0)
        ((2, 50, 8), True)

    References:
        Park et al., SpecAugment: A Simple Data Augmentation Method for
        Automatic Speech Recognition, 2019. https://arxiv.org/abs/1904.08779
    """

    max_proportion = Scheduled(PROBABILITY)
    allows_no_width = True

    def __init__(self, max_width, num_masks=1, max_proportion=1.0,
                 iid_masks=True, mask_value=0.0, probability=1.0, seed=None,
                 layout="time_freq", **kwargs):
        super().__init__(max_width, num_masks=num_masks, iid_masks=iid_masks,
                         mask_value=mask_value, probability=probability,
                         seed=seed, layout=layout, **kwargs)
        self.max_proportion = max_proportion

    def caps(self, lengths, extent):
        cap = ops.floor(self.strength("max_proportion").value
                        * ops.cast(lengths, "float32"))
        if self.max_width is not None:
            cap = ops.minimum(cap, ops.floor(self.strength("max_width").value))
        return cap

    def room(self, lengths, extent):
        return ops.cast(lengths, "float32")

    def augment(self, x, lengths):
        masked = self.band_mask(lengths, x.shape[1], ops.shape(x)[0])
        masked = ops.reshape(masked, ops.shape(masked) + (1, 1))
        return ops.where(masked, self.fill(x, lengths), x)


@keras.saving.register_keras_serializable(package="keras_regkit")
class FrequencyMasking(_Masking):
    """Masks random bands of consecutive frequency bins (SpecAugment's
    frequency masks).

    Each example gets `num_masks` bands, each `f` bins wide with `f`
    uniform in `[0, max_width]`, placed uniformly among the bins, over the
    example's valid frames only (padding is left alone). Arguments follow
    `torchaudio.transforms.FrequencyMasking` (`freq_mask_param` is
    `max_width`), with masks per example by default.

    Args:
        max_width: int >= 0 or `Schedule`: the widest band, in bins. May be
            a `Schedule` (moved by [`StrengthScheduler`][scheduled]).
        num_masks: int >= 1, bands per example. Defaults to `1`.
        iid_masks: bool, each example its own bands (`False`: one draw for
            the whole batch). Defaults to `True`.
        mask_value: float, or `"mean"` (the example's mean over its valid
            frames). Defaults to `0.0`.
        probability: float in [0, 1] or `Schedule`, the chance that an
            example is masked. Defaults to `1.0`.
        seed: int or None. Defaults to `None`.
        layout: `"time_freq"` or `"freq_time"`. Defaults to `"time_freq"`.

    Examples:

        >>> import numpy as np
        >>> layer = FrequencyMasking(max_width=3, seed=0)
        >>> tuple(layer(np.ones((2, 50, 8))).shape)
        (2, 50, 8)

    References:
        Park et al., SpecAugment: A Simple Data Augmentation Method for
        Automatic Speech Recognition, 2019. https://arxiv.org/abs/1904.08779
    """

    def caps(self, lengths, extent):
        cap = ops.floor(self.strength("max_width").value)
        return ops.minimum(ops.zeros_like(lengths, "float32") + cap,
                           float(extent))

    def room(self, lengths, extent):
        return ops.zeros_like(lengths, "float32") + float(extent)

    def augment(self, x, lengths):
        masked = self.band_mask(lengths, x.shape[2], ops.shape(x)[0])
        valid = positions(x.shape[1]) < ops.expand_dims(lengths, 1)
        masked = ops.logical_and(ops.expand_dims(masked, 1),
                                 ops.expand_dims(valid, 2))
        masked = ops.expand_dims(masked, -1)
        return ops.where(masked, self.fill(x, lengths), x)
