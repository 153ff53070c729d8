"""SpecAugment's time warping: stretch one side of a random frame and
squeeze the other."""

import keras
from keras import ops

from keras_regkit import _random
from keras_regkit.layers.audio._base import SpectrogramAugmentation
from keras_regkit.layers.audio._base import interpolate_time
from keras_regkit.layers.audio._base import positions
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import Scheduled


@keras.saving.register_keras_serializable(package="keras_regkit")
class TimeWarp(SpectrogramAugmentation):
    """Warps each spectrogram along time (SpecAugment's time warping).

    A frame `c` is drawn uniformly in `[W, length - 1 - W]` and moved by
    `w`, uniform in `[-W, W]`: the frames before it are stretched
    linearly onto `[0, c + w]`, those after it onto `[c + w, length - 1]`
    (linear interpolation between frames). `W` is `max_warp`, lowered for
    an example shorter than `2 * max_warp + 2` frames so that the warp
    stays inside it; padding frames are left alone.

    Args:
        max_warp: float >= 0 or `Schedule`: `W`, in frames. May be a
            `Schedule` (moved by [`StrengthScheduler`][scheduled]).
        probability: float in [0, 1] or `Schedule`, the chance that an
            example is warped. Defaults to `1.0`.
        seed: int or None. Defaults to `None`.
        layout: `"time_freq"` or `"freq_time"`. Defaults to `"time_freq"`.

    Examples:

        >>> import numpy as np
        >>> ramp = np.tile(np.arange(40.0)[None, :, None], (1, 1, 4))
        >>> out = keras.ops.convert_to_numpy(TimeWarp(5, seed=0)(ramp))
        >>> bool((np.diff(out[0, :, 0]) >= 0).all())  # still increasing
        True

    References:
        Park et al., SpecAugment: A Simple Data Augmentation Method for
        Automatic Speech Recognition, 2019. https://arxiv.org/abs/1904.08779
    """

    max_warp = Scheduled(NON_NEGATIVE)

    def __init__(self, max_warp, probability=1.0, seed=None,
                 layout="time_freq", **kwargs):
        super().__init__(probability=probability, seed=seed, layout=layout,
                         **kwargs)
        self.max_warp = max_warp

    def augment(self, x, lengths):
        batch_size = ops.shape(x)[0]
        u = _random.uniform((batch_size, 2), self.seed_generator)
        last = ops.cast(ops.maximum(lengths - 1, 0), "float32")
        warp = ops.minimum(self.strength("max_warp").value,
                           ops.maximum(ops.floor(last / 2.0) - 1.0, 0.0))
        centre = warp + u[:, 0] * (last - 2.0 * warp)
        shift = (2.0 * u[:, 1] - 1.0) * warp
        moved = centre + shift
        t = ops.cast(positions(x.shape[1]), "float32")
        shift, moved, last = (ops.expand_dims(v, 1)
                              for v in (shift, moved, last))
        # Each output frame reads `t - displacement`, a tent that is 0 at
        # both ends and `shift` at the moved frame (exactly `t` when the
        # warp is 0).
        rising = t / ops.maximum(moved, 1e-6)
        falling = (last - t) / ops.maximum(last - moved, 1e-6)
        source = t - shift * ops.where(t < moved, rising, falling)
        return interpolate_time(x, source, lengths)
