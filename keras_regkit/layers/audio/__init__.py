"""Audio augmentation: SpecAugment's layers on spectrograms (`TimeMasking`,
`FrequencyMasking`, `TimeWarp`, `SpecAugment`) and waveform layers
(`RandomGain`, `RandomNoise`, `RandomTimeShift`, `RandomSpeed`) that go
before `keras.layers.MelSpectrogram`."""

from keras_regkit.layers.audio.masking import FrequencyMasking
from keras_regkit.layers.audio.masking import TimeMasking
from keras_regkit.layers.audio.spec_augment import SpecAugment
from keras_regkit.layers.audio.time_warp import TimeWarp
from keras_regkit.layers.audio.waveform import RandomGain
from keras_regkit.layers.audio.waveform import RandomNoise
from keras_regkit.layers.audio.waveform import RandomSpeed
from keras_regkit.layers.audio.waveform import RandomTimeShift

__all__ = [
    "FrequencyMasking",
    "RandomGain",
    "RandomNoise",
    "RandomSpeed",
    "RandomTimeShift",
    "SpecAugment",
    "TimeMasking",
    "TimeWarp",
]
