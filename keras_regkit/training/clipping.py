"""Gradient clipping by value, per-variable norm and global norm, and
adaptive gradient clipping (AGC, as in NFNets)."""

import fnmatch

import keras
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit.strengths import NON_NEGATIVE
from keras_regkit.strengths import Scheduled
from keras_regkit.training._component import StepComponent


def clip_gradients(gradients, clipvalue=None, clipnorm=None,
                   global_clipnorm=None, squares=None):
    """Clips by value, then each gradient's norm, then the global norm.

    Args:
        gradients: list of tensors.
        clipvalue, clipnorm, global_clipnorm: bounds or None.
        squares: optional list of each gradient's sum of squares (saves a
            pass over the gradients when the caller has them).

    Returns:
        `(clipped_gradients, changed, squares)`: `changed` is a boolean
        tensor, true when any of the three clipped something; `squares`
        are the clipped gradients' sums of squares.

    Examples:

        >>> g = [keras.ops.convert_to_tensor([3.0, 4.0])]
        >>> clipped, changed, _ = clip_gradients(g, global_clipnorm=1.0)
        >>> [round(float(v), 3) for v in clipped[0]], bool(changed)
        ([0.6, 0.8], True)
    """
    clipvalue, clipnorm, global_clipnorm = (
        checks.scalar("clip_gradients", name, value, lambda v: v > 0,
                      "a float > 0, a scalar tensor or None", optional=True)
        for name, value in (("clipvalue", clipvalue), ("clipnorm", clipnorm),
                            ("global_clipnorm", global_clipnorm)))
    changed = ops.convert_to_tensor(False)
    if clipvalue is not None:
        changed = changed | ops.any(ops.stack(
            [ops.max(ops.abs(g)) > clipvalue for g in gradients]))
        gradients = [ops.clip(g, -clipvalue, clipvalue) for g in gradients]
        squares = None
    if squares is None:
        squares = [ops.sum(ops.square(g)) for g in gradients]
    if clipnorm is not None:
        # Norms, not squares, are compared: a bound above 1.8e19 squared
        # overflows float32.
        norms = [ops.sqrt(q) for q in squares]
        changed = changed | ops.any(ops.stack(
            [n > clipnorm for n in norms]))
        scales = [ops.minimum(1.0, clipnorm / ops.maximum(n, 1e-12))
                  for n in norms]
        gradients = [g * k for g, k in zip(gradients, scales, strict=True)]
        squares = [q * k * k for q, k in zip(squares, scales, strict=True)]
    if global_clipnorm is not None:
        total = ops.sqrt(sum(squares))
        changed = changed | (total > global_clipnorm)
        scale = ops.minimum(1.0, global_clipnorm / ops.maximum(total, 1e-12))
        gradients = [g * scale for g in gradients]
        squares = [q * scale * scale for q in squares]
    return gradients, changed, squares


def adaptive_clip(gradient, weight, clipping, eps=1e-3):
    """Unit-wise AGC: each output unit's gradient norm is capped at
    `clipping * max(||weight unit||, eps)`.

    Units are slices along the last axis (a Dense or Conv kernel's output
    units); a vector (bias, scale) is clipped element by element.

    Examples:

        >>> w = keras.ops.convert_to_tensor([[1.0], [0.0]])
        >>> g = keras.ops.convert_to_tensor([[3.0], [4.0]])
        >>> clipped, acted = adaptive_clip(g, w, 0.1)  # ||g|| = 5 > 0.1 * 1
        >>> values = keras.ops.convert_to_numpy(clipped).astype(float)
        >>> values.round(3).tolist(), bool(acted)
        ([[0.06], [0.08]], True)
    """
    clipping = checks.scalar("adaptive_clip", "clipping", clipping,
                             lambda v: v > 0,
                             "a float > 0 or a scalar tensor")
    checks.number("adaptive_clip", "eps", eps, lambda v: v > 0,
                  "a float > 0")
    if len(gradient.shape) <= 1:
        g_norm = ops.abs(gradient)
        w_norm = ops.abs(weight)
    else:
        axes = tuple(range(len(gradient.shape) - 1))
        g_norm = ops.sqrt(ops.sum(ops.square(gradient), axis=axes,
                                  keepdims=True))
        w_norm = ops.sqrt(ops.sum(ops.square(weight), axis=axes,
                                  keepdims=True))
    max_norm = clipping * ops.maximum(w_norm, eps)
    scale = ops.where(g_norm > max_norm,
                      max_norm / ops.maximum(g_norm, 1e-12), 1.0)
    return gradient * scale, ops.any(g_norm > max_norm)


class _Clipper(StepComponent):
    """Clippers log the gradient norm before the first and after the last
    of them, and whether any acted; sums of squares are carried from one
    to the next, so the logs cost no extra pass."""

    logs = ("grad_norm", "grad_norm_clipped", "clipped")
    order = 1  # after gradient noise

    def clip(self, gradients, variables, squares):
        """`(gradients, changed, squares or None)`."""
        raise NotImplementedError

    def transform_gradients(self, gradients, step):
        squares = step.squares(gradients)
        if "grad_norm" not in step.logs:
            step.log("grad_norm", ops.sqrt(sum(squares)))
        gradients, changed, squares = self.clip(gradients, step.variables,
                                                squares)
        if squares is not None:
            step.remember_squares(gradients, squares)
        step.log("clipped", step.logs.get("clipped", False) | changed)
        step.log("grad_norm_clipped",
                 ops.sqrt(sum(step.squares(gradients))))
        return gradients


@keras.saving.register_keras_serializable(package="keras_regkit")
class GradientClipping(_Clipper):
    """Clips gradients by value, per-variable norm and/or global norm.

    Keras's optimizers take one of `clipvalue` / `clipnorm` /
    `global_clipnorm`; this takes any of them together (applied in that
    order), after gradients are summed across replicas, and each may follow
    a schedule. The step logs `grad_norm` (before), `grad_norm_clipped`
    (after) and `clipped` (the share of steps where clipping acted).

    Args:
        clipvalue: float > 0, Schedule or None: element-wise bound.
        clipnorm: float > 0, Schedule or None: bound on each gradient's
            norm (Keras's `clipnorm`).
        global_clipnorm: float > 0, Schedule or None: bound on the norm of
            all gradients together.

    Schedules need `StrengthScheduler` in `fit(callbacks=...)` to change
    over training.

    Examples:

        >>> clip = GradientClipping(global_clipnorm=1.0)
        >>> clip.get_config()["global_clipnorm"]
        1.0
    """

    _NAMES = ("clipvalue", "clipnorm", "global_clipnorm")

    clipvalue = Scheduled(NON_NEGATIVE, optional=True)
    clipnorm = Scheduled(NON_NEGATIVE, optional=True)
    global_clipnorm = Scheduled(NON_NEGATIVE, optional=True)

    def __init__(self, clipvalue=None, clipnorm=None, global_clipnorm=None,
                 **kwargs):
        super().__init__(**kwargs)
        given = dict(zip(self._NAMES, (clipvalue, clipnorm, global_clipnorm),
                         strict=True))
        if all(v is None for v in given.values()):
            raise ValueError(
                "GradientClipping needs at least one of `clipvalue`, "
                "`clipnorm`, `global_clipnorm`."
            )
        for name, value in given.items():
            checks.optional_positive("GradientClipping", name, value)
        self.clipvalue = clipvalue
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm

    def clip(self, gradients, variables, squares=None):
        """`(gradients, changed, squares)`; see `clip_gradients`."""
        values = {name: self.strength(name).value
                  for name in self._NAMES if self.strength(name) is not None}
        return clip_gradients(gradients, squares=squares, **values)


@keras.saving.register_keras_serializable(package="keras_regkit")
class AdaptiveGradientClipping(_Clipper):
    """Adaptive gradient clipping (AGC): unit-wise gradient-to-weight ratio.

    For each output unit of each weight, the gradient's norm is capped at
    `clipping * max(||w||, eps)`, so the update stays a bounded fraction of
    the weight. NFNets train without batch norm with it (clipping 0.01 for
    batch 4096, larger for smaller batches) and leave the classifier out.

    Args:
        clipping: float > 0 or Schedule. Defaults to `0.01`.
        eps: float > 0, the floor on weight norms (new weights start near
            0). Defaults to `1e-3`.
        exclude: list of glob patterns of variable paths left unclipped
            (e.g. `["classifier/*"]`). Defaults to `()`.

    Examples:

        >>> AdaptiveGradientClipping(0.02, exclude=["classifier/*"]).exclude
        ['classifier/*']

    References:
        Brock et al., High-Performance Large-Scale Image Recognition
        Without Normalization, 2021. https://arxiv.org/abs/2102.06171
    """

    clipping = Scheduled(NON_NEGATIVE)

    def __init__(self, clipping=0.01, eps=1e-3, exclude=(), **kwargs):
        super().__init__(**kwargs)
        owner = "AdaptiveGradientClipping"
        checks.optional_positive(owner, "clipping", clipping)
        checks.number(owner, "eps", eps, lambda v: v > 0, "a float > 0")
        self.exclude = checks.patterns(
            owner, "exclude", exclude, "a list of glob patterns",
            allow_empty=True, error=TypeError)
        self.clipping = clipping
        self.eps = float(eps)

    def clip(self, gradients, variables, squares=None):
        """`(gradients, changed, None)`: sums of squares not tracked."""
        clipped, changed = [], ops.convert_to_tensor(False)
        clipping = self.strength("clipping").value
        for gradient, variable in zip(gradients, variables, strict=True):
            if any(fnmatch.fnmatch(variable.path, p) for p in self.exclude):
                clipped.append(gradient)
                continue
            new, acted = adaptive_clip(gradient, variable.value,
                                       clipping, self.eps)
            clipped.append(new)
            changed = changed | acted
        return clipped, changed, None

    def get_config(self):
        return {**super().get_config(), "eps": self.eps,
                "exclude": self.exclude}
