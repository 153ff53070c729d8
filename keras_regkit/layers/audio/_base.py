"""Our audio augmentation base: lengths, layouts, dtypes, the probability.

Subclasses implement `augment(x, lengths)` on a float32 batch in one
canonical layout, `(batch, time, freq, channels)` for spectrograms and
`(batch, samples, channels)` for waveforms, with `lengths` the int32 count
of valid frames (samples) of each example: padding at the end of an example
is never augmented into, and sizes that follow the length (an adaptive time
mask) use the true one. The base converts layouts and dtypes around them and
applies the result to each example with the layer's `probability`.
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers._in_pipelines import RunsInPipelines
from keras_regkit.strengths import PROBABILITY
from keras_regkit.strengths import HasStrengths
from keras_regkit.strengths import Scheduled

LAYOUTS = ("time_freq", "freq_time")


class BaseAudioAugmentation(RunsInPipelines, HasStrengths,
                            keras.layers.Layer):
    """Base of keras_regkit's audio augmentation layers.

    Call arguments (every subclass):
        inputs: a batch of spectrograms or waveforms (see the subclass).
        training: bool; with `False` the inputs pass unchanged (in the
            layer's compute dtype). Defaults to `True`, as Keras's
            augmentation layers.
        lengths: None or an int tensor `(batch,)`: the valid frames (or
            samples) of each example; the rest is padding, left alone.
        mask: a Keras mask `(batch, time)` (from `Masking` or an
            `Embedding(mask_zero=True)` upstream), read as lengths when
            `lengths` is not given; passed on unchanged.

    Args:
        probability: float in [0, 1] or `Schedule`: the chance that an
            example is augmented. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        seed: int or None, seed of the layer's `SeedGenerator`.
    """

    probability = Scheduled(PROBABILITY)

    #: Ranks of a batch the layer takes, without and with channels.
    ranks = (2, 3)

    def __init__(self, probability=1.0, seed=None, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        checks.seed(type(self).__name__, seed)
        self.probability = probability
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    # -- subclass interface -------------------------------------------------

    def augment(self, x, lengths):
        """The augmented batch, canonical layout, float32."""
        raise NotImplementedError

    def to_canonical(self, x):
        """(canonical batch, function back to the input's layout)."""
        raise NotImplementedError

    # -- Keras layer plumbing ----------------------------------------------

    def build(self, input_shape):
        self._check_rank(input_shape)
        self.built = True

    def _check_rank(self, shape):
        if len(shape) not in self.ranks:
            raise ValueError(
                f"{type(self).__name__} takes a batch of shape "
                f"{self.describe_shapes()}. Received: inputs of shape "
                f"{tuple(shape)}"
            )

    def describe_shapes(self):
        raise NotImplementedError

    def call(self, inputs, training=True, lengths=None, mask=None):
        x = ops.convert_to_tensor(inputs)
        self._check_rank(x.shape)
        if not training:
            return ops.cast(x, self.compute_dtype)
        canonical, restore = self.to_canonical(ops.cast(x, "float32"))
        lengths = self._lengths(ops.shape(canonical)[0], canonical.shape[1],
                                lengths, mask)
        augmented = self.augment(canonical, lengths)
        chosen = _random.uniform((ops.shape(canonical)[0],),
                                 self.seed_generator) < self.strength(
            "probability").value
        chosen = ops.reshape(chosen, (-1,) + (1,) * (len(canonical.shape) - 1))
        result = ops.where(chosen, augmented, canonical)
        return ops.cast(restore(result), self.compute_dtype)

    def _lengths(self, batch_size, steps, lengths, mask):
        if lengths is None and mask is not None:
            mask = ops.convert_to_tensor(mask)
            if len(mask.shape) != 2 or mask.shape[1] not in (None, steps):
                raise ValueError(
                    f"{type(self).__name__}: a mask must be (batch, time) "
                    f"over the {steps} time steps. Received: a mask of shape "
                    f"{tuple(mask.shape)}"
                )
            lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        if lengths is None:
            return ops.full((batch_size,), steps, "int32")
        lengths = ops.convert_to_tensor(lengths)
        if len(lengths.shape) not in (1, 2) or (
                len(lengths.shape) == 2 and lengths.shape[1] != 1):
            raise ValueError(
                f"{type(self).__name__}: `lengths` must be (batch,), one "
                "length per example. Received: lengths of shape "
                f"{tuple(lengths.shape)}"
            )
        lengths = ops.reshape(ops.cast(lengths, "int32"), (-1,))
        return ops.clip(lengths, 0, steps)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), **self.declared_config(),
                "seed": self.seed}


class SpectrogramAugmentation(BaseAudioAugmentation):
    """Base of the layers on spectrograms `(batch, time, freq[, channels])`
    (`layout="time_freq"`) or `(batch, freq, time[, channels])`
    (`"freq_time"`: what `keras.layers.MelSpectrogram` gives).

    Args:
        layout: `"time_freq"` or `"freq_time"`. Defaults to `"time_freq"`.
    """

    ranks = (3, 4)

    def __init__(self, probability=1.0, seed=None, layout="time_freq",
                 **kwargs):
        super().__init__(probability=probability, seed=seed, **kwargs)
        self.layout = checks.choice(type(self).__name__, "layout", layout,
                                    LAYOUTS,
                                    expected='"time_freq" or "freq_time"')

    def describe_shapes(self):
        if self.layout == "time_freq":
            return "(batch, time, freq) or (batch, time, freq, channels)"
        return "(batch, freq, time) or (batch, freq, time, channels)"

    def to_canonical(self, x):
        rank = len(x.shape)
        if rank == 3:
            x = ops.expand_dims(x, -1)
        if self.layout == "freq_time":
            x = ops.transpose(x, (0, 2, 1, 3))

        def restore(result):
            if self.layout == "freq_time":
                result = ops.transpose(result, (0, 2, 1, 3))
            return ops.squeeze(result, -1) if rank == 3 else result

        return x, restore

    def get_config(self):
        return {**super().get_config(), "layout": self.layout}


class WaveformAugmentation(BaseAudioAugmentation):
    """Base of the layers on waveforms `(batch, samples[, channels])`, as
    `keras.layers.MelSpectrogram` takes them (without channels)."""

    def describe_shapes(self):
        return "(batch, samples) or (batch, samples, channels)"

    def to_canonical(self, x):
        if len(x.shape) == 3:
            return x, lambda result: result
        return ops.expand_dims(x, -1), lambda result: ops.squeeze(result, -1)


def positions(steps):
    """int32 `(1, steps)`: each time step's index, for comparisons with
    per-example `(batch, 1)` bounds."""
    return ops.expand_dims(ops.arange(steps, dtype="int32"), 0)


def interpolate_time(x, source, lengths):
    """`x` (batch, time, ...) read at the fractional time positions `source`
    (batch, time) by linear interpolation, positions clamped into each
    example's valid frames `[0, length)`; frames past the length keep `x`.
    Gathers, no matrix product: exact on every device."""
    steps = x.shape[1]
    last = ops.expand_dims(ops.maximum(lengths - 1, 0), 1)
    source = ops.clip(source, 0.0, ops.cast(last, "float32"))
    below = ops.cast(ops.floor(source), "int32")
    above = ops.minimum(below + 1, last)
    weight = source - ops.cast(below, "float32")
    extra = (1,) * (len(x.shape) - 2)

    def gather(index):
        index = ops.reshape(index, ops.shape(index) + extra)
        index = ops.broadcast_to(index, ops.shape(x))
        return ops.take_along_axis(x, index, axis=1)

    weight = ops.reshape(weight, ops.shape(weight) + extra)
    result = gather(below) * (1.0 - weight) + gather(above) * weight
    valid = positions(steps) < ops.expand_dims(lengths, 1)
    return ops.where(ops.reshape(valid, ops.shape(valid) + extra), result, x)
