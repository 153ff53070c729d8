"""Embedding regularization that scales: a penalty on the rows a batch looks
up, not on the whole table.

Keras's `Embedding(embeddings_regularizer=L2(...))` penalizes all
`input_dim` rows every step, which costs as much as the table is large
(and, on TensorFlow, turns the table's sparse gradient dense). Recommender
systems penalize only the rows the batch used; with frequency-adaptive
strength, rarer ids are penalized more (Zhou et al.'s mini-batch aware
regularization).

References:
    Zhou et al., Deep Interest Network for Click-Through Rate Prediction,
    2018, section 4.3. https://arxiv.org/abs/1706.06978
"""

import keras
import numpy as np
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit.strengths import strengths_of

WEIGHTINGS = ("unique", "count")


def looked_up_rows_penalty(rows, ids, input_dim, l1=0.0, l2=0.0,
                           weighting="unique", id_weights=None,
                           padding_id=None, lookup_weights=None):
    """The L1/L2 penalty on the rows a batch of `ids` looked up.

    With `weighting="unique"` each distinct row counts once, however often
    the batch uses it: each lookup is weighted by one over its id's count
    in the batch, so the penalty's gradient on a used row is exactly the
    full-table penalty's (`2 * l2 * row` for L2), and rows the batch does
    not use get none. With `"count"` each lookup counts once: frequent ids
    are penalized in proportion to their use. The counts are a scatter
    into `input_dim` numbers (1/`output_dim` of the table's size; no op
    whose output size depends on the data, so it compiles under XLA), and
    the gradient flows through the lookup the layer made anyway.

    Args:
        rows: the looked-up rows, `ids.shape + (output_dim,)` (the
            lookup's output: `ops.take(table, ids, axis=0)`).
        ids: integer tensor of any shape.
        input_dim: int, the number of rows of the table.
        l1: float or scalar tensor, the L1 factor. Defaults to `0.0`.
        l2: float or scalar tensor, the L2 factor. Defaults to `0.0`.
        weighting: `"unique"` or `"count"`. Defaults to `"unique"`.
        id_weights: None or a float tensor `(input_dim,)`: each row's
            penalty is multiplied by its id's weight. Defaults to `None`.
        padding_id: None or an id never penalized (0 with `mask_zero`).
            Defaults to `None`.
        lookup_weights: None or a float tensor shaped like `ids`: each
            lookup's penalty multiplied by its own weight (what
            `id_weights` gives, computed for the looked-up ids only).
            Defaults to `None`.

    Returns:
        A float32 scalar.

    Examples:

        >>> table = keras.ops.ones((10, 2))
        >>> ids = keras.ops.convert_to_tensor([[1, 1, 2], [2, 3, 0]])
        >>> rows = keras.ops.take(table, ids, axis=0)
        >>> float(looked_up_rows_penalty(rows, ids, 10, l2=0.5, padding_id=0))
        3.0
    """
    owner = "looked_up_rows_penalty"
    checks.integer(owner, "input_dim", input_dim, 1)
    checks.choice(owner, "weighting", weighting, WEIGHTINGS)
    l1, l2 = (checks.scalar(owner, name, value, lambda v: v >= 0,
                            "a float >= 0 or a scalar tensor")
              for name, value in (("l1", l1), ("l2", l2)))
    ids = ops.reshape(ops.cast(ids, "int32"), (-1,))
    rows = ops.cast(ops.reshape(rows, (-1, rows.shape[-1])), "float32")
    weight = ops.ones(ops.shape(ids), "float32")
    if weighting == "unique":
        counts = ops.scatter(ops.expand_dims(ids, 1), weight, (input_dim,))
        weight = 1.0 / ops.maximum(ops.take(counts, ids), 1.0)
    if padding_id is not None:
        weight = weight * ops.cast(ops.not_equal(ids, padding_id), "float32")
    if id_weights is not None:
        weight = weight * ops.take(ops.cast(id_weights, "float32"), ids)
    if lookup_weights is not None:
        weight = weight * ops.reshape(ops.cast(lookup_weights, "float32"),
                                      (-1,))
    penalty = ops.zeros((), "float32")
    if not _is_zero(l2):
        penalty += ops.cast(l2, "float32") * ops.sum(
            weight * ops.sum(ops.square(rows), axis=-1))
    if not _is_zero(l1):
        penalty += ops.cast(l1, "float32") * ops.sum(
            weight * ops.sum(ops.absolute(rows), axis=-1))
    return penalty


def _is_zero(factor):
    return checks.is_number(factor) and factor == 0


def _factor(regularizer, name):
    """A regularizer's factor `name` as a float or scalar tensor (ours read
    their strength variable, so a schedule moves it without a retrace)."""
    if not hasattr(regularizer, name):
        return 0.0
    if hasattr(regularizer, "factor_of"):
        if regularizer.is_off(name):
            return 0.0
        return regularizer.factor_of(name, "float32")
    return float(getattr(regularizer, name))


def _check_rows_regularizer(owner, value):
    """None, or an `L1`/`L2`/`L1L2` (Keras's or ours, or their config)."""
    expected = ("None or an L1, L2 or L1L2 regularizer (Keras's or "
                "keras_regkit's)")
    try:
        regularizer = keras.regularizers.get(value)
    except (ValueError, TypeError):
        raise checks.invalid(owner, "rows_regularizer", value,
                             expected) from None
    if regularizer is not None and type(regularizer).__name__ not in (
            "L1", "L2", "L1L2"):
        raise checks.invalid(owner, "rows_regularizer", value, expected)
    return regularizer


def _check_frequencies(owner, frequencies, input_dim):
    if frequencies is None:
        return None
    try:
        array = np.asarray(frequencies, "float64")
    except (TypeError, ValueError):
        array = None
    if (array is None or array.shape != (input_dim,)
            or not np.all(np.isfinite(array)) or np.any(array < 0)):
        raise checks.invalid(
            owner, "id_frequencies", frequencies,
            f"None or {input_dim} (input_dim) finite counts >= 0, one per id",
            show=lambda v: f"an array of shape {np.shape(v)}"
            if hasattr(v, "__len__") else repr(v))
    return array.astype("float32")


@keras.saving.register_keras_serializable(package="keras_regkit")
class Embedding(keras.layers.Embedding):
    """`keras.layers.Embedding` with a penalty on the rows a batch looks up.

    A drop-in for Keras's `Embedding` (same arguments, weights, masking and
    saved files); `rows_regularizer` adds an L1/L2 penalty on only the
    rows the batch uses, instead of `embeddings_regularizer`'s whole table:
    its cost follows the batch, not the vocabulary (the benchmarks page
    measures a 1,000,000-row table). With the default `"unique"` weighting,
    each distinct row counts once per step, so its gradient on a used row
    equals the full-table penalty's. The penalty is added to the loss
    wherever the layer is called on a batch (training and evaluation, as
    Keras's activity regularizers).

    Args:
        input_dim, output_dim, **kwargs: as for `keras.layers.Embedding`
            (`embeddings_initializer`, `embeddings_regularizer`,
            `mask_zero`, `weights`, `lora_rank`, ...).
        rows_regularizer: None, or an `L1`, `L2` or `L1L2` (Keras's or
            ours; our factors may follow a `Schedule`, moved by
            [`StrengthScheduler`][scheduled]): the penalty on the looked-up
            rows. Defaults to `None`.
        rows_weighting: `"unique"` (each distinct row once per step) or
            `"count"` (each lookup: frequent ids penalized more). Defaults
            to `"unique"`.
        id_frequencies: None, or one count per id (`input_dim` numbers,
            e.g. `np.bincount(train_ids.ravel(), minlength=input_dim)`):
            frequency-adaptive strength, each row's penalty divided by its
            id's count (at least 1), so rare ids are regularized more
            (Zhou et al.). Kept as a non-trainable weight, saved with the
            model. Defaults to `None`.
        frequency_adaptive: bool or None, how a saved config asks for the
            `id_frequencies` weight (its values come from the weights
            file); set from `id_frequencies`, not by hand. Defaults to
            `None`.

    Examples:

        >>> from keras_regkit import regularizers
        >>> layer = Embedding(1000, 8, rows_regularizer=regularizers.L2(1e-3))
        >>> ids = keras.ops.convert_to_tensor([[4, 8, 15], [16, 23, 4]])
        >>> tuple(layer(ids).shape), len(layer.losses)
        ((2, 3, 8), 1)

    References:
        Zhou et al., Deep Interest Network for Click-Through Rate
        Prediction, 2018. https://arxiv.org/abs/1706.06978
    """

    def __init__(self, input_dim, output_dim, rows_regularizer=None,
                 rows_weighting="unique", id_frequencies=None, weights=None,
                 frequency_adaptive=None, **kwargs):
        super().__init__(input_dim, output_dim, **kwargs)
        owner = type(self).__name__
        self.rows_regularizer = _check_rows_regularizer(owner,
                                                        rows_regularizer)
        self.rows_weighting = checks.choice(owner, "rows_weighting",
                                            rows_weighting, WEIGHTINGS)
        self._initial_frequencies = _check_frequencies(
            owner, id_frequencies, input_dim)
        # `frequency_adaptive` is how a saved config asks for the weight
        # whose values the weights file holds.
        self.frequency_adaptive = (self._initial_frequencies is not None
                                   or bool(frequency_adaptive))
        if type(self) is Embedding:
            self.set_initial_weights(weights)

    def set_initial_weights(self, weights):
        """Keras's `weights=` argument, applied once the layer's own state
        exists (a subclass calls it at the end of its `__init__`)."""
        if weights is None:
            return
        self.build()
        if not (isinstance(weights, list) and len(weights) == 1):
            weights = [weights]
        self._embeddings.assign(weights[0])

    def build(self, input_shape=None):
        if self.built:
            return
        if self.frequency_adaptive:
            initial = self._initial_frequencies
            self.id_frequencies = self.add_weight(
                shape=(self.input_dim,), name="id_frequencies",
                initializer="ones" if initial is None else (
                    keras.initializers.Constant(initial)),
                trainable=False, dtype="float32")
        super().build(input_shape)

    def quantize(self, mode=None, type_check=True, **kwargs):
        # Keras's Embedding refuses subclasses (their `call` may differ);
        # ours only add a penalty or mask the lookup's output, so the
        # quantized lookup serves them. Subclasses of ours are refused.
        if type_check and type(self).__module__.split(".")[0] != (
                "keras_regkit"):
            raise NotImplementedError(
                f"Layer {type(self).__name__} does not have a `quantize` "
                "method implemented."
            )
        return super().quantize(mode, type_check=False, **kwargs)

    # Keras's Embedding saves its own variables by name (for quantized
    # modes); ours (strength variables, the row regularizer's too, and id
    # frequencies) go under names of their own, so a reloaded model
    # penalizes as the saved one did.

    def _own_variables(self):
        owners = {"": self, "rows_regularizer_": self.rows_regularizer}
        found = {f"regkit_{prefix}{name}": strength.variable
                 for prefix, owner in owners.items() if owner is not None
                 for name, strength in strengths_of(owner).items()
                 if strength.variable is not None}
        if self.frequency_adaptive:
            found["regkit_id_frequencies"] = self.id_frequencies
        return found

    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.built:
            for key, variable in self._own_variables().items():
                store[key] = variable

    def load_own_variables(self, store):
        # Keras checks the count against the layer's variables, which the
        # row regularizer's are not.
        super().load_own_variables({
            key: store[key] for key in store.keys()
            if not key.startswith("regkit_rows_regularizer_")})
        for key, variable in self._own_variables().items():
            if key in store:
                variable.assign(store[key])

    def rows_penalty(self, inputs, rows=None):
        """The `rows_regularizer` penalty for the ids `inputs` (whose rows
        `rows` the lookup gave, looked up again if not given)."""
        if rows is None:
            rows = ops.take(self.embeddings, ops.cast(inputs, "int32"),
                            axis=0)
        weights = None
        if self.frequency_adaptive:  # for the looked-up ids only
            weights = 1.0 / ops.maximum(
                ops.take(self.id_frequencies, ops.cast(inputs, "int32")),
                1.0)
        return looked_up_rows_penalty(
            rows, inputs, self.input_dim,
            l1=_factor(self.rows_regularizer, "l1"),
            l2=_factor(self.rows_regularizer, "l2"),
            weighting=self.rows_weighting,
            padding_id=0 if self.mask_zero else None,
            lookup_weights=weights)

    def call(self, inputs):
        if self.rows_regularizer is None:
            return super().call(inputs)
        if type(inputs).__name__ in ("SparseTensor", "RaggedTensor"):
            raise ValueError(
                f"{type(self).__name__}'s rows_regularizer takes dense "
                f"batches of ids; received a {type(inputs).__name__}. Pad "
                "the batch (e.g. `ragged.to_tensor()`, with "
                "`mask_zero=True`)."
            )
        if inputs.dtype not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        # One lookup for the output and the penalty: its gradient is one
        # scatter into the table, as without the penalty.
        rows = ops.take(self.embeddings, inputs, axis=0)
        self.add_loss(self.rows_penalty(inputs, rows))
        return ops.cast(rows, self.compute_dtype)

    def get_config(self):
        config = {**super().get_config(),
                  "rows_regularizer": keras.regularizers.serialize(
                      self.rows_regularizer)
                  if self.rows_regularizer is not None else None,
                  "rows_weighting": self.rows_weighting}
        if self.frequency_adaptive:
            config["frequency_adaptive"] = True
        return config
