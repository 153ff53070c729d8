"""R-Drop: consistency between two dropout passes of each example."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import Scheduled
from keras_regkit.training._component import StepComponent


def log_probabilities(y_pred, from_logits):
    """Per example, the log-probabilities of every outcome `(batch, k)`;
    one output unit is a Bernoulli (sigmoid) prediction."""
    y_pred = ops.cast(y_pred, "float32")
    if y_pred.shape[-1] == 1:
        if from_logits:
            return ops.concatenate(
                [ops.log_sigmoid(-y_pred), ops.log_sigmoid(y_pred)], -1)
        y_pred = ops.concatenate([1.0 - y_pred, y_pred], -1)
    elif from_logits:
        return ops.log_softmax(y_pred, axis=-1)
    return ops.log(ops.clip(y_pred, 1e-7, 1.0))


def symmetric_kl(first, second, from_logits=False):
    """Per example, `(KL(p1 || p2) + KL(p2 || p1)) / 2` of two predictions.

    Args:
        first, second: predictions `(batch, ..., classes)`: probabilities,
            or logits with `from_logits=True`; one unit is binary.
        from_logits: bool. Defaults to `False`.

    Returns:
        A tensor `(batch,)` (averaged over any axes between).

    Examples:

        >>> p = keras.ops.convert_to_tensor([[0.5, 0.5], [0.9, 0.1]])
        >>> keras.ops.convert_to_numpy(symmetric_kl(p, p)).tolist()
        [0.0, 0.0]
    """
    checks.boolean("symmetric_kl", "from_logits", from_logits)
    log_p = log_probabilities(first, from_logits)
    log_q = log_probabilities(second, from_logits)
    divergence = 0.5 * ops.sum((ops.exp(log_p) - ops.exp(log_q))
                               * (log_p - log_q), axis=-1)
    return ops.reshape(ops.mean(ops.reshape(
        divergence, (ops.shape(divergence)[0], -1)), axis=-1), (-1,))


@keras.saving.register_keras_serializable(package="keras_regkit")
class RDrop(StepComponent):
    """R-Drop: each example twice through the model, predictions pulled
    together.

    Every batch is duplicated, so each example passes the model twice with
    independent dropout masks (one forward pass of twice the batch); the
    loss is the model's loss averaged over both passes plus `alpha / 2`
    times the symmetric KL divergence between the two predictions, which
    is the paper's `L_nll(1) + L_nll(2) + alpha * L_kl` divided by two.
    Training metrics are computed over both passes. Use it with dropout
    (or any stochastic layer) in the model; without one the two passes
    agree and the term is zero.

    Args:
        alpha: float >= 0 or Schedule, weight of the consistency term (the
            paper uses 0.1 to 5). Defaults to `1.0`. May be a `Schedule` (moved
            by [`StrengthScheduler`][scheduled]).
        from_logits: bool, whether the model outputs logits (as the loss's
            `from_logits`). Defaults to `False` (probabilities).

    Examples:

        >>> from keras_regkit.training import RegularizedModel
        >>> import numpy as np
        >>> inputs = keras.Input((4,))
        >>> hidden = keras.layers.Dropout(0.5)(keras.layers.Dense(8)(inputs))
        >>> outputs = keras.layers.Dense(3, activation="softmax")(hidden)
        >>> model = RegularizedModel(inputs, outputs, components=[RDrop(1.0)])
        >>> model.compile("adam", "sparse_categorical_crossentropy")
        >>> history = model.fit(np.ones((8, 4)), np.zeros((8,)), verbose=0)
        >>> history.history["rdrop_kl"][0] > 0
        True

    References:
        Liang et al., R-Drop: Regularized Dropout for Neural Networks,
        2021. https://arxiv.org/abs/2106.14448
    """

    alpha = Scheduled(NON_NEGATIVE)
    logs = ("rdrop_kl",)
    order = 2  # after mixing and adversarial examples: both passes see them
    exclusive = "consistency (RDrop, AugMixConsistency)"

    def __init__(self, alpha=1.0, from_logits=False, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        checks.boolean("RDrop", "from_logits", from_logits)
        self.from_logits = from_logits

    def transform_batch(self, batch, step):
        return batch.repeated(2)

    def loss_term(self, y_pred, batch, step):
        first, second = ops.split(y_pred, 2, axis=0)
        divergence = symmetric_kl(first, second, self.from_logits)
        if batch.sample_weight is not None:
            weight = ops.reshape(ops.cast(batch.sample_weight, "float32"),
                                 (2, -1))[0]
            divergence = divergence * weight
        divergence = ops.mean(divergence)
        step.log("rdrop_kl", divergence)
        return 0.5 * self.strength("alpha").value * divergence

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
