"""`GapController`: hold the generalization gap near a target by adjusting
regularization strengths during training."""

import fnmatch

import keras

from keras_regkit import _checks as checks
from keras_regkit.strengths import StrengthWriter


class GapController(keras.callbacks.Callback):
    """Raises or lowers chosen strengths to keep the generalization gap near
    a target.

    After every epoch it measures the gap, `logs["val_" + metric] -
    logs[metric]` (for a loss; the other way round for a metric to maximize,
    so a positive gap always means overfitting). If the gap is above
    `target + tolerance` it multiplies every controlled strength by `factor`;
    below `target - tolerance` it divides by `factor`; each stays within
    `[min_value, max_value]`. Controlled strengths are those whose path
    (as `StrengthScheduler` logs them, e.g.
    `"dense/kernel_regularizer/l2"` or `"dropout/rate"`) matches one of
    `strengths` (shell-style patterns). They must be variables: give them as
    a `Schedule` (`schedules.Constant(1e-4)` for a fixed start).

    The controller sets a multiplier per strength (`StrengthWriter.adjust`);
    `StrengthScheduler` writes `schedule(t) * multiplier`, so a schedule
    and the controller compose (put both in `callbacks`). While a schedule
    gives 0, the controller's value is held as it is (a multiple of 0
    would undo it). The new value takes effect from the next epoch.
    Decisions go into `logs`: `regkit/controller/gap`,
    `regkit/controller/action` (+1 raised, -1 lowered, 0 kept) and
    `regkit/controller/<path>` (the value now in force).

    Args:
        strengths: list of path patterns to control. Defaults to `["*"]`
            (every scheduled strength).
        target: float, the gap to hold. Defaults to `0.05`.
        tolerance: float >= 0, dead band around `target`. Defaults to `0.02`.
        factor: float > 1, multiplicative step. Defaults to `1.5`.
        min_value: float >= 0, lower bound of every controlled value.
            Defaults to `0.0`.
        max_value: float > min_value, upper bound. Defaults to `1.0`.
        metric: `"loss"` or a compiled metric name. Defaults to `"loss"`.
        start_from_epoch: int >= 0, first epoch that may act. Defaults to `1`.
        verbose: 0 or 1. Defaults to `0`.

    Raises:
        ValueError: a bad argument (at construction); at train begin, no
            strength matches, or a match is a plain number.

    Examples:

        >>> from keras_regkit import regularizers, schedules
        >>> controller = GapController(["*/kernel_regularizer/l2"], target=0.1)
    """

    def __init__(
        self,
        strengths=("*",),
        target=0.05,
        tolerance=0.02,
        factor=1.5,
        min_value=0.0,
        max_value=1.0,
        metric="loss",
        start_from_epoch=1,
        verbose=0,
    ):
        super().__init__()

        owner = "GapController"
        self.strengths = checks.patterns(
            owner, "strengths", strengths,
            "a non-empty list of path patterns")
        self.target = checks.number(owner, "target", target)
        self.tolerance = checks.number(owner, "tolerance", tolerance,
                                       lambda v: v >= 0, "a float >= 0")
        self.factor = checks.number(owner, "factor", factor,
                                    lambda v: v > 1, "a float > 1")
        self.min_value = checks.number(owner, "min_value", min_value,
                                       lambda v: v >= 0, "a float >= 0")
        self.max_value = checks.number(owner, "max_value", max_value,
                                       lambda v: v > self.min_value,
                                       f"a float > min_value={self.min_value}")
        if not isinstance(metric, str) or not metric:
            raise checks.invalid(owner, "metric", metric, "a metric name")
        self.metric = metric
        self.start_from_epoch = checks.integer(owner, "start_from_epoch",
                                               start_from_epoch)
        self.verbose = checks.verbose(owner, verbose)
        self.writer = None
        self.controlled = {}
        self.history = []

    def on_train_begin(self, logs=None):
        self.writer = StrengthWriter.of(self.model, "GapController")
        found = self.writer.strengths
        self.controlled = {
            path: strength
            for path, strength in found.items()
            if any(fnmatch.fnmatchcase(path, p) for p in self.strengths)
        }
        if not self.controlled:
            raise ValueError(
                f"GapController found no strength matching {self.strengths}; "
                f"the model has {sorted(found) or 'none'}."
            )
        for path, strength in self.controlled.items():
            for name in ("min_value", "max_value"):
                value = getattr(self, name)
                if value not in strength.bounds:
                    raise ValueError(
                        f"GapController's {name}={value} is outside the "
                        f"range of {path}: {strength.bounds.describe()}."
                    )
        plain = sorted(p for p, s in self.controlled.items()
                       if s.variable is None)
        if plain:
            raise ValueError(
                f"GapController cannot adjust {plain}: they were given as "
                "plain numbers; pass a Schedule (e.g. "
                "schedules.Constant(1e-4)) to make them adjustable."
            )

    def _gap(self, logs):
        train, val = logs.get(self.metric), logs.get(f"val_{self.metric}")
        if train is None or val is None:
            return None
        maximize = self.metric not in ("loss",) and not self.metric.endswith(
            ("loss", "error", "crossentropy")
        )
        return float(train - val) if maximize else float(val - train)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        gap = self._gap(logs)
        if gap is None:
            raise ValueError(
                f"GapController needs `{self.metric}` and `val_{self.metric}` "
                "in the logs; pass validation data to fit()."
            )
        self.writer.refresh()
        action = 0
        if epoch >= self.start_from_epoch:
            if gap > self.target + self.tolerance:
                action = 1
            elif gap < self.target - self.tolerance:
                action = -1
        for path, strength in self.controlled.items():
            if action:
                proposed = strength.current * self.factor**action
                if proposed == 0.0 and action > 0:
                    # Nothing to multiply: start from the bottom of the range
                    # or a small fraction of the top.
                    proposed = self.min_value or self.max_value * 1e-3
                value = min(max(proposed, self.min_value), self.max_value)
                if self.writer.adjust(strength, value) and self.verbose:
                    print(f"Epoch {epoch + 1}: GapController set {path} to "
                          f"{value:.6g} (gap {gap:.4f})")
            logs[f"regkit/controller/{path}"] = strength.current
        logs["regkit/controller/gap"] = gap
        logs["regkit/controller/action"] = action
        self.history.append({"epoch": epoch, "gap": gap, "action": action})
