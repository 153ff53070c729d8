"""The lab's models, with slots for a recipe's parts: a small residual CNN
for images, an embedding + Conv1D network for token ids, and a mel front
end before the same CNN for audio."""

import keras

FILTERS = (32, 64)
DENSE_UNITS = 128


def build_model(input_shape, num_classes, components):
    """The lab's small CNN with the recipe's layers in their slots.

    input -> augment -> 2 stages of [Conv -> x + residual(Conv(x)) -> block
    -> MaxPool] with 32 and 64 filters -> Flatten -> Dense 128 -> head ->
    Dense(num_classes). Every Conv2D/Dense kernel gets the recipe's kernel
    regularizer. Layers have fixed names (`conv1`, `conv1_branch`, `add1`,
    ..., `dense`, `classifier`), so every recipe's logs and weights line up.
    """
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for layer in components["augment"]:
        x = layer(x)
    outputs = _residual_cnn(x, num_classes, components)
    return keras.Model(inputs, outputs, name="lab_cnn")


def _residual_cnn(x, num_classes, components):
    """The CNN of `build_model` from its first convolution to the logits."""
    make_regularizer = components["kernel_regularizer"]

    def conv(filters, x, name):
        return keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu",
            kernel_regularizer=make_regularizer(),
            name=name,
        )(x)

    for stage, filters in enumerate(FILTERS, start=1):
        x = conv(filters, x, f"conv{stage}")
        branch = conv(filters, x, f"conv{stage}_branch")
        for layer in components["residual"](stage):
            branch = layer(branch)
        x = keras.layers.Add(name=f"add{stage}")([x, branch])
        for layer in components["block"](stage):
            x = layer(x)
        if x.shape[1] >= 2 and x.shape[2] >= 2:
            x = keras.layers.MaxPooling2D(name=f"pool{stage}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return _classifier(x, DENSE_UNITS, num_classes, components)


#: The audio front end: 25 ms frames every 10 ms, 40 mel bands.
MEL_BINS = 40
FRAME_SECONDS, HOP_SECONDS = 0.025, 0.010


def build_audio_model(samples, sample_rate, num_classes, components):
    """The lab's audio model with the recipe's layers in their slots.

    waveform `(samples,)` -> augment (waveform layers: `RandomNoise`,
    `RandomGain`, ...) -> `keras.layers.MelSpectrogram` (25 ms frames every
    10 ms, 40 mel bands, in dB) -> per-clip normalization -> spectrogram
    `(time, mels)` -> spectrogram slot (`SpecAugment`, `TimeMasking`, ...)
    -> the image model's residual CNN on `(time, mels, 1)`. Fixed layer
    names, as the other models.
    """
    frame = max(16, int(FRAME_SECONDS * sample_rate))
    fft_length = 1 << (frame - 1).bit_length()
    inputs = keras.Input((samples,), name="waveform")
    x = inputs
    for layer in components["augment"]:
        x = layer(x)
    x = keras.layers.MelSpectrogram(
        fft_length=fft_length, sequence_length=frame,
        sequence_stride=max(1, int(HOP_SECONDS * sample_rate)),
        sampling_rate=sample_rate, num_mel_bins=MEL_BINS,
        max_freq=sample_rate / 2, name="mel")(x)
    x = keras.layers.Permute((2, 1), name="time_major")(x)
    x = keras.layers.LayerNormalization(axis=(1, 2), center=False,
                                        scale=False, name="normalize")(x)
    for layer in components["spectrogram"]:
        x = layer(x)
    x = keras.layers.Reshape((*x.shape[1:], 1), name="channel")(x)
    outputs = _residual_cnn(x, num_classes, components)
    return keras.Model(inputs, outputs, name="lab_audio")


def _classifier(x, units, num_classes, components):
    """Dense(units, relu) -> the recipe's head layers -> Dense(num_classes),
    the kernels with the recipe's regularizer; shared by both models."""
    make_regularizer = components["kernel_regularizer"]
    x = keras.layers.Dense(units, activation="relu",
                           kernel_regularizer=make_regularizer(),
                           name="dense")(x)
    for layer in components["head"]:
        x = layer(x)
    # float32 logits under a mixed policy, as Keras's mixed-precision
    # guide advises: the softmax and loss stay exact.
    return keras.layers.Dense(
        num_classes, kernel_regularizer=make_regularizer(), name="classifier",
        dtype="float32",
    )(x)


EMBEDDING_DIM = 32
TEXT_FILTERS = 64


def build_text_model(sequence_length, vocabulary_size, num_classes,
                     components):
    """The lab's text model with the recipe's layers in their slots.

    token ids -> augment (on the ids: `TokenDropout`) -> embedding (the
    recipe's, e.g. `EmbeddingDropout`) -> Conv1D 64 (width 5) -> block ->
    global max pooling -> Dense 64 -> head -> Dense(num_classes). Conv1D and
    Dense kernels get the recipe's kernel regularizer. Fixed layer names
    (`embedding`, `conv1`, `dense`, `classifier`) as in the image model.
    """
    make_regularizer = components["kernel_regularizer"]
    inputs = keras.Input((sequence_length,), dtype="int32", name="tokens")
    x = inputs
    for layer in components["augment"]:
        x = layer(x)
    x = components["embedding"](vocabulary_size, EMBEDDING_DIM)(x)
    x = keras.layers.Conv1D(TEXT_FILTERS, 5, padding="same",
                            activation="relu",
                            kernel_regularizer=make_regularizer(),
                            name="conv1")(x)
    for layer in components["block"](1):
        x = layer(x)
    x = keras.layers.GlobalMaxPooling1D(name="pool")(x)
    outputs = _classifier(x, TEXT_FILTERS, num_classes, components)
    return keras.Model(inputs, outputs, name="lab_text")


def seed_everything(seed):
    """Seeds Python, NumPy and the backend.

    TensorFlow's op determinism is left off on purpose: Keras turns XLA off
    when it is on. On CPU the seeded runs are repeatable without it (a test
    checks that two runs with one seed give the same numbers).
    """
    keras.utils.set_random_seed(seed)
