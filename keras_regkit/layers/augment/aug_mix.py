"""AugMix: chains of random operations, mixed, then mixed with the image."""

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit import _random
from keras_regkit._fusion import kept_apart
from keras_regkit.layers.augment import geometry
from keras_regkit.layers.augment._base import BaseAugmentation
from keras_regkit.layers.augment.geometric import check_resampling
from keras_regkit.layers.augment.policies import GEOMETRIC_OPS
from keras_regkit.layers.augment.policies import MAX_OPS
from keras_regkit.layers.augment.policies import apply_chain
from keras_regkit.strengths import ScheduledRange

#: The paper's operations (`equalize` left out, as in `RandAugment`: a
#: per-image histogram is a scatter XLA runs slowly).
BASE_OPS = ("auto_contrast", "posterize", "solarize") + GEOMETRIC_OPS
#: `all_ops=True` adds those that overlap common test-set corruptions.
EXTRA_OPS = ("brightness", "color", "contrast", "sharpness")


@keras.saving.register_keras_serializable(package="keras_regkit")
class AugMix(BaseAugmentation):
    """AugMix: each image mixed with chains of random operations; XLA.

    A drop-in for `keras.layers.AugMix` (which claims `supports_jit` but
    fails under XLA, and applies one draw to the whole batch). Each image
    gets `num_chains` chains; each chain applies 1 to `chain_depth`
    operations (drawn per image and chain) with magnitudes from `factor`;
    the chains are mixed with Dirichlet(`alpha`) weights, and the result
    with the image by `m ~ Beta(alpha, alpha)`: `m * image + (1 - m) *
    mix`. Within a chain colour operations act first and the geometric
    ones are composed into one resampling (as `RandAugment`).

    Geometric chains move each copy differently, so boxes and masks have
    no single place in the mix: with `geometric=False` (colour operations
    only) boxes and masks pass through unchanged; otherwise they are
    refused with an error (Keras's layer returns boxes unmoved and blends
    class ids).

    Args:
        value_range: `(low, high)` of the pixel values. Defaults to
            `(0, 255)`.
        num_chains: int >= 1, chains mixed per image. Defaults to `3`.
        chain_depth: int >= 1, most operations per chain. Defaults to `3`.
        factor: float, pair, or Schedule in [0, 1]: the magnitude range,
            as in `RandAugment` (1 means rotate 30 degrees, shear 0.3,
            shift 45%, enhance 1 +- 0.9). Defaults to `0.3` (the paper's
            severity 3). May be a `Schedule` (moved by
            [`StrengthScheduler`][scheduled]).
        alpha: float > 0, the Dirichlet and Beta concentration. Defaults
            to `1.0`.
        all_ops: bool, add brightness, colour, contrast and sharpness to
            the paper's operations. Defaults to `True`.
        interpolation: `"bilinear"` or `"nearest"`. Defaults to
            `"bilinear"`.
        seed: int or None. Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        fill_mode: as in `RandomRotation`. Defaults to `"reflect"`.
        fill_value: as in `RandomRotation`. Defaults to `0.0`.
        geometric: bool, include rotate, shear and translate. Defaults to
            `True`.

    Examples:

        >>> import numpy as np
        >>> layer = AugMix(geometric=False, bounding_box_format="xyxy", seed=0)
        >>> batch = {"images": np.random.rand(1, 16, 16, 3) * 255,
        ...          "bounding_boxes": {"boxes": np.array([[[1.0, 2, 8, 9]]]),
        ...                             "labels": np.array([[4]])}}
        >>> out = layer(batch)  # colour chains only: boxes stay
        >>> keras.ops.convert_to_numpy(out["bounding_boxes"]["boxes"]).tolist()
        [[[1.0, 2.0, 8.0, 9.0]]]

    References:
        Hendrycks et al., AugMix: A Simple Data Processing Method to
        Improve Robustness and Uncertainty, 2020.
        https://arxiv.org/abs/1912.02781
    """

    accepted_channels = (1, 3)
    factor = ScheduledRange((0.0, 1.0))

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3,
                 factor=0.3, alpha=1.0, all_ops=True,
                 interpolation="bilinear", seed=None, data_format=None,
                 fill_mode="reflect", fill_value=0.0, geometric=True,
                 **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        owner = type(self).__name__
        self.value_range = checks.value_range(owner, value_range)
        # Each chain and op is unrolled in the compiled graph.
        self.num_chains = checks.integer(owner, "num_chains", num_chains, 1,
                                         maximum=MAX_OPS)
        self.chain_depth = checks.integer(owner, "chain_depth", chain_depth,
                                          1, maximum=MAX_OPS)
        self.factor = factor
        self.alpha = checks.number(owner, "alpha", alpha, lambda v: v > 0,
                                   "a float > 0")
        self.all_ops = checks.boolean(owner, "all_ops", all_ops)
        self.geometric = checks.boolean(owner, "geometric", geometric)
        self._resampling = check_resampling(owner, fill_mode, interpolation,
                                            fill_value)
        self.interpolation = interpolation
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        operations = BASE_OPS + (EXTRA_OPS if all_ops else ())
        self.operations = tuple(name for name in operations
                                if geometric or name not in GEOMETRIC_OPS)

    @property
    def supports_boxes_and_masks(self):
        return not self.geometric

    def _check_supports_boxes_and_masks(self):
        if self.geometric:
            raise NotImplementedError(
                f"{self.name}: AugMix mixes copies of each image that its "
                "geometric operations moved differently, so boxes and masks "
                "have no single place in the result. Pass geometric=False "
                "(colour operations only: boxes and masks then pass "
                "through), or move boxes with a geometric layer before it.")

    def draw(self, batch_size, height, width):
        chains, depth = self.num_chains, self.chain_depth
        u = _random.uniform((chains, depth + 1, 3, batch_size),
                            self.seed_generator)
        count = len(self.operations)
        index = ops.minimum(ops.cast(u[:, :depth, 0] * count, "int32"),
                            count - 1)
        # Each chain's length, 1 to chain_depth: later stages do nothing
        # (an index no operation has).
        length = ops.minimum(ops.cast(u[:, depth, 0] * depth, "int32"),
                             depth - 1) + 1
        stage = ops.arange(depth, dtype="int32")[None, :, None]
        index = ops.where(stage < length[:, None, :], index, -1)
        magnitude = self.strength("factor").sample(u[:, :depth, 1])
        signed = magnitude * ops.where(u[:, :depth, 2] < 0.5, -1.0, 1.0)
        weights = _random.gamma((batch_size, chains), self.alpha,
                                self.seed_generator)
        weights = weights / ops.sum(weights, axis=1, keepdims=True)
        return {"index": index, "magnitude": magnitude, "signed": signed,
                "chain_weights": weights,
                "mix": _random.beta((batch_size,), self.alpha,
                                    self.seed_generator)}

    def apply_images(self, images, draw):
        mixed = ops.zeros_like(images)
        for chain in range(self.num_chains):
            augmented, matrix = apply_chain(
                images, draw["index"][chain], draw["magnitude"][chain],
                draw["signed"][chain], self.value_range, self.operations)
            if self.geometric:
                augmented = kept_apart(
                    augmented, self.seed_generator.state)
                augmented = geometry.affine_transform(augmented, matrix,
                                                      **self._resampling)
            weight = draw["chain_weights"][:, chain]
            mixed = mixed + ops.reshape(weight, (-1, 1, 1, 1)) * augmented
        mix = ops.reshape(draw["mix"], (-1, 1, 1, 1))
        return ops.clip(mix * images + (1.0 - mix) * mixed,
                        *self.value_range)

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": list(self.value_range),
            "num_chains": self.num_chains,
            "chain_depth": self.chain_depth,
            "alpha": self.alpha,
            "all_ops": self.all_ops,
            "geometric": self.geometric,
            **self._resampling,
        }
