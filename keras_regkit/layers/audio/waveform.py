"""Waveform augmentation: gain, noise at a signal-to-noise ratio, time
shift, speed perturbation; per example, before a spectrogram front end."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.audio._base import WaveformAugmentation
from keras_regkit.layers.audio._base import interpolate_time
from keras_regkit.layers.audio._base import positions
from keras_regkit.strengths import ScheduledRange


def _valid(x, lengths):
    """float32 `(batch, samples, 1)`: 1 on each example's valid samples."""
    valid = positions(x.shape[1]) < ops.expand_dims(lengths, 1)
    return ops.expand_dims(ops.cast(valid, "float32"), -1)


def _per_example(values):
    return ops.reshape(values, (-1, 1, 1))


def _draw(layer, name, x):
    """One value per example of `x`, uniform in the layer's range `name`."""
    u = _random.uniform((ops.shape(x)[0],), layer.seed_generator)
    low, high = getattr(layer, name)
    return low + (high - low) * u


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomGain(WaveformAugmentation):
    """Multiplies each waveform by a random gain, uniform in decibels.

    Args:
        gain_db: float (the range `(-g, g)`), a pair `(low, high)` in
            [-60, 60], or `Schedule`s for them: the gain in dB. Defaults to
            `6.0`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        probability: float in [0, 1] or `Schedule`, the chance that an
            example is changed. Defaults to `1.0`.
        seed: int or None. Defaults to `None`.

    Examples:

        >>> import numpy as np
        >>> out = RandomGain((-6.0, -6.0), seed=0)(np.ones((1, 4)))
        >>> [round(float(v), 3) for v in keras.ops.convert_to_numpy(out)[0]]
        [0.501, 0.501, 0.501, 0.501]
    """

    gain_db = ScheduledRange((-60.0, 60.0))

    def __init__(self, gain_db=6.0, probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.gain_db = gain_db

    def augment(self, x, lengths):
        gain = ops.power(10.0, _draw(self, "gain_db", x) / 20.0)
        return ops.where(_valid(x, lengths) > 0, x * _per_example(gain), x)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomNoise(WaveformAugmentation):
    """Adds white Gaussian noise at a random signal-to-noise ratio.

    Each example's SNR is uniform in `snr_db`; the noise's power is the
    example's mean power over its valid samples (padding excluded) divided
    by `10 ** (snr / 10)`, and the padding gets no noise. A silent example
    stays silent.

    Args:
        snr_db: a pair `(low, high)` in [0, 120] (a number `s` means
            `(0, s)`), or `Schedule`s for its ends: the SNR in dB (lower
            is noisier). Defaults to `(10.0, 40.0)`. May be a `Schedule`
            (moved by [`StrengthScheduler`][scheduled]).
        probability: float in [0, 1] or `Schedule`, the chance that an
            example gets noise. Defaults to `1.0`.
        seed: int or None. Defaults to `None`.

    Examples:

        >>> import numpy as np
        >>> tone = np.sin(np.linspace(0, 200, 8000))[None]
        >>> layer = RandomNoise((20, 20), seed=0)
        >>> noise = keras.ops.convert_to_numpy(layer(tone)) - tone
        >>> snr = 10 * np.log10((tone ** 2).mean() / (noise ** 2).mean())
        >>> bool(19 < snr < 21)
        True
    """

    snr_db = ScheduledRange((0.0, 120.0))

    def __init__(self, snr_db=(10.0, 40.0), probability=1.0, seed=None,
                 **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.snr_db = snr_db

    def augment(self, x, lengths):
        snr = _draw(self, "snr_db", x)
        valid = _valid(x, lengths)
        count = ops.maximum(ops.sum(valid, axis=(1, 2)) * x.shape[2], 1.0)
        power = ops.sum(ops.square(x) * valid, axis=(1, 2)) / count
        scale = ops.sqrt(power / ops.power(10.0, snr / 10.0))
        noise = _random.normal(ops.shape(x), self.seed_generator)
        return x + noise * _per_example(scale) * valid


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomTimeShift(WaveformAugmentation):
    """Shifts each waveform in time by a random fraction of its length.

    A shift of `s` samples moves sample `t` to `t + s` inside the
    example's valid samples; what leaves one end is dropped and the other
    end is filled with zeros, or, with `rollover=True`, comes back at the
    other end. Padding is left alone.

    Args:
        factor: float in [0, 1] (the range `(-f, f)`), a pair `(low, high)`
            in [-1, 1], or `Schedule`s: the shift as a fraction of the
            example's length (positive: later). Defaults to `0.1`. May be a
            `Schedule` (moved by [`StrengthScheduler`][scheduled]).
        rollover: bool. Defaults to `False`.
        probability: float in [0, 1] or `Schedule`, the chance that an
            example is shifted. Defaults to `1.0`.
        seed: int or None. Defaults to `None`.

    Examples:

        >>> import numpy as np
        >>> out = RandomTimeShift((0.5, 0.5), seed=0)(np.arange(1.0, 5.0)[None])
        >>> keras.ops.convert_to_numpy(out).tolist()
        [[0.0, 0.0, 1.0, 2.0]]
    """

    factor = ScheduledRange((-1.0, 1.0))

    def __init__(self, factor=0.1, rollover=False, probability=1.0,
                 seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.factor = factor
        self.rollover = checks.boolean("RandomTimeShift", "rollover",
                                       rollover)

    def augment(self, x, lengths):
        length = ops.expand_dims(lengths, 1)
        shift = ops.cast(ops.round(_draw(self, "factor", x)
                                   * ops.cast(lengths, "float32")), "int32")
        source = positions(x.shape[1]) - ops.expand_dims(shift, 1)
        inside = ops.logical_and(source >= 0, source < length)
        if self.rollover:
            source = ops.mod(source, ops.maximum(length, 1))
            inside = ops.ones_like(inside)
        index = ops.expand_dims(ops.clip(source, 0, x.shape[1] - 1), -1)
        moved = ops.take_along_axis(
            x, ops.broadcast_to(index, ops.shape(x)), axis=1)
        moved = ops.where(ops.expand_dims(inside, -1), moved, 0.0)
        valid = ops.expand_dims(positions(x.shape[1]) < length, -1)
        return ops.where(valid, moved, x)

    def get_config(self):
        return {**super().get_config(), "rollover": self.rollover}


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomSpeed(WaveformAugmentation):
    """Plays each waveform at a random speed (speed perturbation).

    At speed `r` the output's sample `t` is the input at `t * r`, read by
    linear interpolation: faster audio (`r > 1`) is shorter, its tail
    filled with zeros up to the example's length; slower audio is cut at
    it. Pitch moves with the speed, as in Kaldi's speed perturbation (Ko
    et al.); padding is left alone. Linear interpolation is not a
    band-limited resampler: for changes of a few percent, as used in
    practice, the aliasing is small.

    Args:
        factor: float in [0, 0.5] (the range `(-f, f)`), a pair
            `(low, high)` in [-0.5, 0.5], or `Schedule`s: the speed is
            `1 + change` with the change uniform in that range. Defaults to
            `0.1` (speeds 0.9 to 1.1). May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        probability: float in [0, 1] or `Schedule`, the chance that an
            example is changed. Defaults to `1.0`.
        seed: int or None. Defaults to `None`.

    Examples:

        >>> import numpy as np
        >>> out = RandomSpeed((0.5, 0.5), seed=0)(np.arange(6.0)[None])
        >>> keras.ops.convert_to_numpy(out).tolist()
        [[0.0, 1.5, 3.0, 4.5, 0.0, 0.0]]

    References:
        Ko et al., Audio Augmentation for Speech Recognition, 2015.
        https://www.isca-archive.org/interspeech_2015/ko15_interspeech.html
    """

    factor = ScheduledRange((-0.5, 0.5))

    def __init__(self, factor=0.1, probability=1.0, seed=None, **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.factor = factor

    def augment(self, x, lengths):
        speed = 1.0 + _draw(self, "factor", x)
        source = ops.cast(positions(x.shape[1]), "float32") * (
            ops.expand_dims(speed, 1))
        last = ops.cast(ops.expand_dims(lengths - 1, 1), "float32")
        resampled = interpolate_time(x, source, lengths)
        beyond = ops.logical_and(
            source > last + 1e-4,
            positions(x.shape[1]) < ops.expand_dims(lengths, 1))
        return ops.where(ops.expand_dims(beyond, -1), 0.0, resampled)
