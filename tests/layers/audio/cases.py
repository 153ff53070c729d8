"""One set of constructor arguments per audio layer, shared by tests."""

import keras

from keras_regkit import layers

# (class, kwargs, input shape of one test batch)
WAVEFORM_CASES = [
    (layers.RandomGain, {}, (4, 800)),
    (layers.RandomNoise, {}, (4, 800)),
    (layers.RandomTimeShift, {"factor": 0.2}, (4, 800)),
    (layers.RandomSpeed, {}, (4, 800)),
]
SPECTROGRAM_CASES = [
    (layers.TimeMasking, {"max_width": 5, "num_masks": 2}, (4, 24, 16)),
    (layers.FrequencyMasking, {"max_width": 4}, (4, 24, 16)),
    (layers.TimeWarp, {"max_warp": 3}, (4, 24, 16)),
    (layers.SpecAugment, {"policy": "SM", "time_warp": 3,
                          "freq_mask_width": 4}, (4, 24, 16)),
]
CASES = WAVEFORM_CASES + SPECTROGRAM_CASES
IDS = [case[0].__name__ for case in CASES]


def every_audio_layer(waveforms):
    """Waveforms `(batch, 800)` through every waveform layer, Keras's
    `MelSpectrogram` and every spectrogram layer (on its `(batch, mels,
    time)` layout): a `(batch, 16)` feature."""
    x = waveforms
    for seed, (cls, kwargs, _) in enumerate(WAVEFORM_CASES):
        x = cls(**kwargs, seed=20 + seed)(x)
    x = keras.layers.MelSpectrogram(
        fft_length=64, sequence_stride=32, num_mel_bins=16,
        sampling_rate=8000)(x)
    for seed, (cls, kwargs, _) in enumerate(SPECTROGRAM_CASES):
        x = cls(**kwargs, seed=30 + seed, layout="freq_time")(x)
    return keras.layers.GlobalAveragePooling1D(data_format="channels_first")(x)
