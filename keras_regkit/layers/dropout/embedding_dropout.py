"""Embedding dropout: drop whole words (rows of the embedding matrix).

References:
    Gal & Ghahramani, A Theoretically Grounded Application of Dropout in
    Recurrent Neural Networks, 2016. https://arxiv.org/abs/1512.05287
    Merity et al., Regularizing and Optimizing LSTM Language Models
    (AWD-LSTM), 2018. https://arxiv.org/abs/1708.02182
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.dropout._base import Stochastic
from keras_regkit.layers.dropout._base import check_function_args
from keras_regkit.layers.embedding import Embedding


def embedding_dropout(embedded, token_ids, rate, seed, vocabulary_size,
                      per_batch=False):
    """Zeroes the embeddings of randomly dropped token ids, rescaling the
    rest by `1 / (1 - rate)`.

    Each (sequence, token id) pair is dropped with probability `rate`, so
    every occurrence of a dropped word in a sequence is zeroed (with
    `per_batch=True`, a dropped id is dropped in the whole batch, as
    AWD-LSTM drops rows of the embedding matrix).

    Args:
        embedded: float tensor `token_ids.shape + (dim,)`.
        token_ids: integer tensor, first axis the batch.
        rate: float or scalar tensor in [0, 1).
        seed: a `keras.random.SeedGenerator` (or int).
        vocabulary_size: int, the number of ids (rows).
        per_batch: bool. Defaults to `False` (per sequence).

    Returns:
        A tensor like `embedded`.

    Examples:

        >>> ids = keras.ops.convert_to_tensor([[3, 5, 3, 3, 5, 7]])
        >>> out = embedding_dropout(keras.ops.ones((1, 6, 2)), ids, 0.5, 3, 10)
        >>> zeroed = keras.ops.convert_to_numpy(out)[0, :, 0] == 0
        >>> bool(zeroed[0] == zeroed[2] == zeroed[3])  # every "3" alike
        True
    """
    owner = "embedding_dropout"
    rate = check_function_args(owner, rate, seed)
    checks.integer(owner, "vocabulary_size", vocabulary_size, minimum=1)
    checks.boolean(owner, "per_batch", per_batch)
    ids = ops.cast(token_ids, "int32")
    if not per_batch:
        rows = ops.reshape(ops.arange(ops.shape(ids)[0], dtype="int32"),
                           (-1,) + (1,) * (len(ids.shape) - 1))
        ids = ids + rows * vocabulary_size
    keep_prob = 1.0 - ops.cast(rate, "float32")
    keep = _random.uniform_at(ids, seed) < keep_prob
    scale = ops.cast(1.0 / keep_prob, embedded.dtype)
    return ops.where(ops.expand_dims(keep, -1), embedded * scale,
                     ops.zeros((), embedded.dtype))


@keras.saving.register_keras_serializable(package="keras_regkit")
class EmbeddingDropout(Stochastic, Embedding):
    """`keras.layers.Embedding` that drops whole words while training.

    A drop-in for `Embedding` (same arguments, weights and masking) plus a
    `rate`: during training each token id is dropped, per sequence, with
    probability `rate`, and every occurrence of it gets a zero vector (the
    others are scaled by `1 / (1 - rate)`). Dropping the word, not
    independent entries of its vector, is what Gal & Ghahramani derive for
    recurrent models, and it keeps the model from leaning on any one word.

    Args:
        input_dim, output_dim, **kwargs: as for `keras.layers.Embedding`,
            plus our `Embedding`'s `rows_regularizer`, `rows_weighting`
            and `id_frequencies` (a penalty on the looked-up rows).
        rate: float in [0, 1) or `Schedule`, the fraction of words dropped.
            Defaults to `0.1`. May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        per_batch: bool, drop an id in the whole batch (rows of the
            matrix, as AWD-LSTM) instead of per sequence. Defaults to
            `False`.
        seed: int or None. Defaults to `None`.
        monte_carlo: bool, stay active at inference. Defaults to `False`.

    Call arguments:
        inputs: integer token ids `(batch, ...)`.
        training: bool. Defaults to `False` (the plain embedding).

    Examples:

        >>> layer = EmbeddingDropout(100, 8, rate=0.2, seed=0)
        >>> tuple(layer(keras.ops.ones((2, 5), "int32"), training=True).shape)
        (2, 5, 8)

    References:
        Gal & Ghahramani, 2016. https://arxiv.org/abs/1512.05287
    """

    def __init__(self, input_dim, output_dim, rate=0.1, per_batch=False,
                 seed=None, monte_carlo=False, weights=None, **kwargs):
        checks.boolean("EmbeddingDropout", "per_batch", per_batch)
        super().__init__(input_dim, output_dim, **kwargs)
        self.init_stochastic(rate, seed, monte_carlo)
        self.per_batch = per_batch
        self.set_initial_weights(weights)

    def compute_output_spec(self, inputs, training=False):
        return super().compute_output_spec(inputs)

    def call(self, inputs, training=False):
        embedded = super().call(inputs)
        if not self.is_active(training):
            return embedded
        if type(inputs).__name__ in ("SparseTensor", "RaggedTensor"):
            raise ValueError(
                "EmbeddingDropout drops words of dense batches of token ids; "
                f"received a {type(inputs).__name__}. Pad the batch (e.g. "
                "`ragged.to_tensor()`, with `mask_zero=True`) to train with "
                "it; inference takes sparse and ragged ids as Embedding does."
            )
        return embedding_dropout(embedded, inputs, self.strength("rate").value,
                                 self.seed_generator, self.input_dim,
                                 self.per_batch)

    def get_config(self):
        return {**super().get_config(), **self.stochastic_config(),
                "per_batch": self.per_batch}
