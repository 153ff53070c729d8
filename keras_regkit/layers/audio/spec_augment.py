"""SpecAugment: time warping, frequency masks and time masks, by policy."""

import keras

from keras_regkit import _checks as checks
from keras_regkit.layers.audio._base import SpectrogramAugmentation
from keras_regkit.layers.audio.masking import FrequencyMasking
from keras_regkit.layers.audio.masking import TimeMasking
from keras_regkit.layers.audio.masking import check_mask_value
from keras_regkit.layers.audio.time_warp import TimeWarp

#: Park et al. 2019, table 1: W (time warp), F and m_F (frequency mask width
#: and count), T, p and m_T (time mask width, largest fraction of the
#: length, count); in frames of 10 ms and bins of an 80-mel spectrogram.
POLICIES = {
    "LB": {"time_warp": 80, "freq_mask_width": 27, "freq_masks": 1,
           "time_mask_width": 100, "time_mask_proportion": 1.0,
           "time_masks": 1},
    "LD": {"time_warp": 80, "freq_mask_width": 27, "freq_masks": 2,
           "time_mask_width": 100, "time_mask_proportion": 1.0,
           "time_masks": 2},
    "SM": {"time_warp": 40, "freq_mask_width": 15, "freq_masks": 2,
           "time_mask_width": 70, "time_mask_proportion": 0.2,
           "time_masks": 2},
    "SS": {"time_warp": 40, "freq_mask_width": 27, "freq_masks": 2,
           "time_mask_width": 70, "time_mask_proportion": 0.2,
           "time_masks": 2},
}


@keras.saving.register_keras_serializable(package="keras_regkit")
class SpecAugment(SpectrogramAugmentation):
    """SpecAugment (Park et al.): `TimeWarp`, then `FrequencyMasking`,
    then `TimeMasking`, with a policy of the paper's.

    | policy | W | F | m_F | T | p | m_T |
    |---|---|---|---|---|---|---|
    | `"LB"` | 80 | 27 | 1 | 100 | 1.0 | 1 |
    | `"LD"` | 80 | 27 | 2 | 100 | 1.0 | 2 |
    | `"SM"` | 40 | 15 | 2 | 70 | 0.2 | 2 |
    | `"SS"` | 40 | 27 | 2 | 70 | 0.2 | 2 |

    The sizes are in the paper's units: frames of 10 ms and bins of an
    80-mel spectrogram; for other front ends, override them. The time masks
    are adaptive: at most `p` of each example's true length (padding
    excluded, from `lengths` or a Keras mask), so a short utterance is not
    wiped out. Any of the sizes may be a `Schedule` (moved by
    [`StrengthScheduler`][scheduled]); 0 turns a part off.

    Args:
        policy: `"LB"`, `"LD"`, `"SM"` or `"SS"`. Defaults to `"LB"`.
        time_warp: None (the policy's) or the largest warp `W`, in frames.
        freq_mask_width: None or `F`, the widest frequency band, in bins.
        freq_masks: None or `m_F`, frequency bands per example.
        time_mask_width: None or `T`, the widest time band, in frames.
        time_mask_proportion: None or `p`, the widest time band as a
            fraction of the example's length.
        time_masks: None or `m_T`, time bands per example.
        mask_value: float or `"mean"`. Defaults to `0.0`.
        probability: float in [0, 1] or `Schedule`, the chance that an
            example is augmented. Defaults to `1.0`.
        seed: int or None. Defaults to `None`.
        layout: `"time_freq"` or `"freq_time"` (what
            `keras.layers.MelSpectrogram` gives). Defaults to `"time_freq"`.

    Examples:

        >>> import numpy as np
        >>> layer = SpecAugment("LD", time_warp=5, time_mask_width=10, seed=0)
        >>> tuple(layer(np.ones((2, 100, 80))).shape)
        (2, 100, 80)

    References:
        Park et al., SpecAugment: A Simple Data Augmentation Method for
        Automatic Speech Recognition, 2019. https://arxiv.org/abs/1904.08779
    """

    def __init__(self, policy="LB", time_warp=None, freq_mask_width=None,
                 freq_masks=None, time_mask_width=None,
                 time_mask_proportion=None, time_masks=None, mask_value=0.0,
                 probability=1.0, seed=None, layout="time_freq", **kwargs):
        super().__init__(probability=probability, seed=seed, layout=layout,
                         **kwargs)
        self.policy = checks.choice("SpecAugment", "policy", policy,
                                    tuple(POLICIES))
        self.overrides = {
            "time_warp": time_warp, "freq_mask_width": freq_mask_width,
            "freq_masks": freq_masks, "time_mask_width": time_mask_width,
            "time_mask_proportion": time_mask_proportion,
            "time_masks": time_masks}
        settings = {**POLICIES[policy], **{
            key: value for key, value in self.overrides.items()
            if value is not None}}
        self.mask_value = check_mask_value("SpecAugment", mask_value)

        def sub_seed(offset):
            return None if seed is None else seed + offset

        self.time_warp = TimeWarp(settings["time_warp"], seed=sub_seed(1),
                                  layout=layout, name=f"{self.name}_time_warp")
        self.freq_masking = FrequencyMasking(
            settings["freq_mask_width"], num_masks=settings["freq_masks"],
            mask_value=mask_value, seed=sub_seed(2), layout=layout,
            name=f"{self.name}_freq_masking")
        self.time_masking = TimeMasking(
            settings["time_mask_width"], num_masks=settings["time_masks"],
            max_proportion=settings["time_mask_proportion"],
            mask_value=mask_value, seed=sub_seed(3), layout=layout,
            name=f"{self.name}_time_masking")

    def build(self, input_shape):
        super().build(input_shape)
        for layer in (self.time_warp, self.freq_masking, self.time_masking):
            layer.build(input_shape)

    def augment(self, x, lengths):
        x = self.time_warp.augment(x, lengths)
        x = self.freq_masking.augment(x, lengths)
        return self.time_masking.augment(x, lengths)

    def get_config(self):
        config = {**super().get_config(), "policy": self.policy,
                  "mask_value": self.mask_value}
        parts = {"time_warp": (self.time_warp, "max_warp"),
                 "freq_mask_width": (self.freq_masking, "max_width"),
                 "time_mask_width": (self.time_masking, "max_width"),
                 "time_mask_proportion": (self.time_masking,
                                          "max_proportion")}
        for key, value in self.overrides.items():
            if value is not None and key in parts:
                layer, name = parts[key]
                value = layer.declared_config()[name]
            config[key] = value
        return config
