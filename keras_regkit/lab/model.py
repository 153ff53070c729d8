"""The lab's models, with slots for a recipe's parts: a small residual CNN
for images, an embedding + Conv1D network for token ids."""

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

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for layer in components["augment"]:
        x = layer(x)
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
    outputs = _classifier(x, DENSE_UNITS, num_classes, components)
    return keras.Model(inputs, outputs, name="lab_cnn")


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
