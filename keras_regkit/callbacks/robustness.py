"""`RobustnessMonitor`: robust accuracy on validation data during `fit`."""

import keras

from keras_regkit import _checks as checks
from keras_regkit.training.robustness import check_settings
from keras_regkit.training.robustness import evaluate_robustness


class RobustnessMonitor(keras.callbacks.Callback):
    """Logs clean and robust accuracy on held-out data every few epochs.

    Every `every` epochs (and at the last one `fit` runs, if `fit` ends on
    it) runs `training.evaluate_robustness` on `(x, y)` and writes
    `robust/clean` and `robust/<attack>@<epsilon>` into the epoch's logs,
    so they reach `History`, CSV and TensorBoard; the other epochs log NaN,
    so `History` stays one value per epoch. Warnings of masked gradients
    are issued as the evaluation finds them.

    Args:
        x: held-out inputs (NumPy).
        y: their integer or one-hot labels.
        epsilons: list of radii to attack with.
        every: int >= 1, epochs between evaluations. Defaults to `1`.
        attacks: subset of `("fgsm", "pgd")`. Defaults to `("pgd",)`.
        steps: int >= 1, PGD's steps. Defaults to `10`.
        restarts: int >= 1, PGD's random starts. Defaults to `1`.
        norm: `"inf"` or `"2"`. Defaults to `"inf"`.
        value_range: `(low, high)` or None. Defaults to `None`.
        batch_size: int >= 1. Defaults to `128`.
        seed: int, PGD's random starts. Defaults to `0`.

    Examples:

        >>> import numpy as np
        >>> monitor = RobustnessMonitor(np.zeros((4, 2)), np.zeros(4),
        ...                             epsilons=[0.1], every=2)
        >>> sorted(monitor.names)
        ['robust/clean', 'robust/pgd@0.1']
    """

    def __init__(self, x, y, epsilons, every=1, attacks=("pgd",), steps=10,
                 restarts=1, norm="inf", value_range=None, batch_size=128,
                 seed=0):
        super().__init__()
        self.every = checks.integer("RobustnessMonitor", "every", every,
                                    minimum=1)
        self.data = (x, y)
        self.settings = check_settings(
            "RobustnessMonitor", epsilons, attacks, steps, restarts, None,
            norm, value_range, batch_size, seed)
        self.names = ["robust/clean"] + [
            f"robust/{attack}@{float(epsilon):g}"
            for attack in self.settings["attacks"]
            for epsilon in self.settings["epsilons"]]

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        last = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every == 0 or epoch + 1 == last:
            result = evaluate_robustness(self.model, *self.data,
                                         **self.settings)
            logs.update(result.logs())
        else:
            logs.update({name: float("nan") for name in self.names})
