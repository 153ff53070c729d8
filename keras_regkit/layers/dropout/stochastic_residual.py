"""`StochasticResidual`: stochastic depth that skips the dropped compute.

`DropPath` masks a branch's output, so the branch still runs on every
sample. Here the branch runs only on a random, fixed-size subset of the
batch; the result is scattered back and rescaled, so the expected output is
the same and a step at `rate=0.3` costs about 70% of the branch's compute.

References:
    Huang et al., 2016, Deep Networks with Stochastic Depth,
    https://arxiv.org/abs/1603.09382
    The batch-subset form follows timm's proposal for compute-skipping
    stochastic depth (huggingface/pytorch-image-models).
"""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit.layers.dropout._base import check_rate
from keras_regkit.layers.dropout.drop_path import drop_path


def kept_count(rate, batch_size):
    """How many samples of a batch run the branch: `round((1 - rate) * B)`,
    at least 1.

    Examples:

        >>> kept_count(0.3, 10)
        7
    """
    return max(1, min(batch_size, round((1.0 - rate) * batch_size)))


def stochastic_residual(inputs, branch, rate, seed, scale_by_keep=True):
    """`inputs + branch(inputs)`, the branch run on a random subset of rows.

    `kept_count(rate, B)` distinct rows are drawn uniformly (the largest of
    `B` uniforms), gathered, passed through `branch`, scaled by `B / kept`
    (so every row's expected output is `inputs + branch(inputs)`) and
    scattered back; the other rows are `inputs` exactly, and no gradient
    reaches the branch from them. The subset's size is static, so XLA
    compiles it once. When the batch size is unknown to the graph (a
    retrace for a smaller last batch in TensorFlow), the branch runs on
    every row and is masked per row with the same keep probability.

    Args:
        inputs: tensor whose first axis is the batch.
        branch: callable, the residual branch; returns a tensor shaped like
            its input.
        rate: float in [0, 1), probability of skipping the branch.
        seed: a `keras.random.SeedGenerator` (or int).
        scale_by_keep: bool, rescale the kept rows. Defaults to `True`.

    Returns:
        A tensor like `inputs`.

    Examples:

        >>> x = keras.ops.ones((4, 3))
        >>> y = stochastic_residual(x, lambda t: 2.0 * t, 0.5, seed=1)
        >>> sorted(set(keras.ops.convert_to_numpy(y)[:, 0].tolist()))
        [1.0, 5.0]
    """
    owner = "stochastic_residual"
    rate = checks.number(owner, "rate", rate, lambda r: 0 <= r < 1,
                         "a float in [0, 1) (not a tensor: the subset's "
                         "size is static)")
    checks.seed_source(owner, seed)
    checks.boolean(owner, "scale_by_keep", scale_by_keep)
    if not callable(branch):
        raise checks.invalid(owner, "branch", branch, "a callable",
                             error=TypeError)
    batch_size = inputs.shape[0]
    if batch_size is None:
        return inputs + drop_path(branch(inputs), rate, seed, scale_by_keep)
    kept = kept_count(rate, batch_size)
    if kept == batch_size:
        return inputs + branch(inputs)
    _, rows = ops.top_k(_random.uniform((batch_size,), seed), kept)
    outputs = branch(ops.take(inputs, rows, axis=0))
    if scale_by_keep:
        outputs = outputs * ops.cast(batch_size / kept, outputs.dtype)
    residual = ops.scatter(ops.expand_dims(rows, 1), outputs,
                           (batch_size,) + tuple(outputs.shape[1:]))
    return inputs + ops.cast(residual, inputs.dtype)


@keras.saving.register_keras_serializable(package="keras_regkit")
class StochasticResidual(keras.layers.Wrapper):
    """A residual block `x + branch(x)` whose branch skips dropped samples.

    Stochastic depth as `DropPath` does it, but the dropped samples cost
    nothing: in training the branch runs on `round((1 - rate) * B)` random
    samples of each batch (a static size, so XLA compiles it), the result
    is rescaled and scattered back. Same expected output as
    `x + DropPath(rate)(branch(x))`; at inference the branch runs on every
    sample. Batch statistics inside the branch (BatchNormalization) are
    taken over the kept samples.

    `rate` is a plain float: it fixes how many samples are computed (an
    array shape). For a scheduled rate use `DropPath`, which masks.

    Args:
        layer: the residual branch, a Keras layer (or model) whose output
            has its input's shape.
        rate: float in [0, 1), probability of skipping the branch for a
            sample. Defaults to `0.1`.
        scale_by_keep: bool, scale computed samples by `B / kept` so the
            expected output is unchanged. Defaults to `True`.
        seed: int or None. Defaults to `None`.

    Call arguments:
        inputs: tensor whose first axis is the batch.
        training: bool. Defaults to `False`.

    Raises:
        ValueError: `rate` outside [0, 1) or a `Schedule`; at build, a
            branch whose output shape differs from its input's.
        TypeError: `layer` is not a Keras layer.

    Examples:

        >>> block = StochasticResidual(keras.layers.Dense(8), rate=0.25, seed=0)
        >>> tuple(block(keras.ops.ones((4, 8)), training=True).shape)
        (4, 8)
    """

    def __init__(self, layer, rate=0.1, scale_by_keep=True, seed=None,
                 **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise checks.invalid("StochasticResidual", "layer", layer,
                                 "a Keras layer (the residual branch)",
                                 error=TypeError)
        super().__init__(layer, **kwargs)
        if not checks.is_number(rate):
            raise checks.invalid(
                "StochasticResidual", "rate", rate,
                "a float in [0, 1) (it sets how many samples run the branch; "
                "for a scheduled rate use DropPath)")
        check_rate("StochasticResidual", rate)
        self.rate = float(rate)
        self.scale_by_keep = checks.boolean(
            "StochasticResidual", "scale_by_keep", scale_by_keep)
        self.seed = checks.seed("StochasticResidual", seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
        output_shape = tuple(self.layer.compute_output_spec(
            keras.KerasTensor(input_shape)).shape)
        if output_shape[1:] != tuple(input_shape)[1:]:
            raise ValueError(
                f"StochasticResidual needs a branch whose output has its "
                f"input's shape (it is added to it); "
                f"{type(self.layer).__name__} {self.layer.name!r} maps "
                f"{tuple(input_shape)} to {output_shape}."
            )
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs + self.layer(inputs, training=training)
        return stochastic_residual(
            inputs, lambda x: self.layer(x, training=training), self.rate,
            self.seed_generator, self.scale_by_keep,
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "scale_by_keep": self.scale_by_keep, "seed": self.seed}
