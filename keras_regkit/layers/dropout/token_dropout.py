"""Token dropout: replace random token ids by an unknown/mask id."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.dropout._base import StochasticLayer
from keras_regkit.layers.dropout._base import check_function_args


def token_dropout(token_ids, rate, seed, mask_id=1, padding_id=0):
    """Replaces each token id, with probability `rate`, by `mask_id`;
    `padding_id` positions are never replaced.

    Args:
        token_ids: integer tensor of any shape.
        rate: float or scalar tensor in [0, 1).
        seed: a `keras.random.SeedGenerator` (or int).
        mask_id: int, the id put in. Defaults to `1` (the out-of-vocabulary
            id of `TextVectorization` and `StringLookup`).
        padding_id: int or None, the id never replaced. Defaults to `0`.

    Returns:
        A tensor like `token_ids`.

    Examples:

        >>> ids = keras.ops.convert_to_tensor([[5, 6, 7, 0, 0]])
        >>> out = keras.ops.convert_to_numpy(token_dropout(ids, 0.99, seed=1))
        >>> out.tolist()
        [[1, 1, 1, 0, 0]]
    """
    rate = check_function_args("token_dropout", rate, seed)
    _check_ids("token_dropout", mask_id, padding_id)
    replace = _random.uniform(ops.shape(token_ids), seed) < ops.cast(
        rate, "float32")
    if padding_id is not None:
        replace = ops.logical_and(replace, token_ids != padding_id)
    return ops.where(replace, ops.cast(mask_id, token_ids.dtype), token_ids)


def _check_ids(owner, mask_id, padding_id):
    """`mask_id` an int >= 0; `padding_id` None or another int >= 0 (were
    they equal, every replaced token would read as padding)."""
    checks.integer(owner, "mask_id", mask_id)
    if padding_id is not None:
        checks.integer(owner, "padding_id", padding_id, 0,
                       f"None or an int >= 0 other than mask_id={mask_id}")
        if padding_id == mask_id:
            raise checks.invalid(
                owner, "padding_id", padding_id,
                f"None or an int >= 0 other than mask_id={mask_id}")
    return mask_id, padding_id


@keras.saving.register_keras_serializable(package="keras_regkit")
class TokenDropout(StochasticLayer):
    """Replaces a random fraction of token ids by an unknown/mask id.

    Sequence augmentation for text models: put it on the token ids before
    the embedding, and the model learns not to rely on any single word
    (word dropout, Iyyer et al.; BERT's masking without the prediction).
    Works on integer ids of any shape; padding is left alone.

    Args:
        rate: float in [0, 1) or `Schedule`, the fraction of ids replaced.
            May be a `Schedule` (moved by [`StrengthScheduler`][scheduled]).
        mask_id: int >= 0, the id put in. Defaults to `1` (the
            out-of-vocabulary id of `TextVectorization`/`StringLookup`).
        padding_id: int >= 0 or None, never replaced. Defaults to `0`.
        seed: int or None. Defaults to `None`.
        monte_carlo: bool, stay active at inference. Defaults to `False`.

    Examples:

        >>> layer = TokenDropout(0.15, seed=0)
        >>> ids = keras.ops.convert_to_tensor([[4, 8, 15, 16, 23, 42, 0, 0]])
        >>> tuple(layer(ids, training=True).shape)
        (1, 8)

    References:
        Iyyer et al., Deep Unordered Composition Rivals Syntactic Methods
        for Text Classification, 2015. https://aclanthology.org/P15-1162
    """

    def __init__(self, rate, mask_id=1, padding_id=0, seed=None,
                 monte_carlo=False, **kwargs):
        super().__init__(rate, seed=seed, monte_carlo=monte_carlo, **kwargs)
        self.mask_id, self.padding_id = _check_ids("TokenDropout", mask_id,
                                                   padding_id)
        self.mark_built_if_stateless()

    def drop(self, inputs, rate):
        if "int" not in str(inputs.dtype):
            raise TypeError(
                "TokenDropout takes integer token ids. Received inputs of "
                f"dtype {inputs.dtype}."
            )
        return token_dropout(inputs, rate, self.seed_generator,
                             self.mask_id, self.padding_id)

    def get_config(self):
        return {**super().get_config(), "mask_id": self.mask_id,
                "padding_id": self.padding_id}
