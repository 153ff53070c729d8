"""How sure the lab is: spread over seeds and paired bootstrap intervals.

Every recipe is trained with the same seeds as the baseline (seed `s` gives
both the same initial weights and data order), so a recipe is compared
with the baseline seed by seed, on the same test images. The interval of a
difference comes from a two-level bootstrap: seeds and test images are
both resampled with replacement, so it covers the noise of training (which
seed) and of the test set (which images). A difference is called
significant when its 95% interval excludes 0.

Examples:

    >>> import numpy as np
    >>> base = np.array([[1, 1, 0, 1]] * 3, bool)     # 3 seeds x 4 images
    >>> better = np.ones((3, 4), bool)
    >>> low, high = paired_interval(better, base, seed=0)
    >>> bool(low >= 0 and high > 0)
    True
"""

import dataclasses

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    values = np.asarray(values, dtype="float64")
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), std


def paired_interval(outcome, baseline, level=LEVEL, resamples=RESAMPLES,
                    seed=0):
    """Bootstrap interval of `mean(outcome) - mean(baseline)`.

    Args:
        outcome, baseline: arrays of shape (seeds, test images): a per-image
            outcome (correct or not, cross-entropy) of each run; row `s` of
            both comes from the same seed.
        level: coverage of the interval.
        resamples: bootstrap resamples.
        seed: seed of the resampling (the interval is reproducible).

    Returns:
        (low, high) of the difference of means.
    """
    difference = (np.asarray(outcome, "float64")
                  - np.asarray(baseline, "float64"))
    seeds, images = difference.shape
    rng = np.random.default_rng(seed)
    # Resampling weights: how often each seed / image is drawn.
    seed_weights = rng.multinomial(seeds, [1 / seeds] * seeds, resamples)
    image_weights = rng.multinomial(images, [1 / images] * images, resamples)
    estimates = ((seed_weights @ difference) * image_weights).sum(axis=1)
    estimates /= seeds * images
    tail = (1 - level) / 2
    low, high = np.quantile(estimates, [tail, 1 - tail])
    return float(low), float(high)


@dataclasses.dataclass
class Comparison:
    """A recipe against the baseline over the same seeds.

    `accuracy` and `loss` are the mean paired differences of test accuracy
    and test cross-entropy; `*_interval` their bootstrap intervals.
    """

    accuracy: float
    accuracy_interval: tuple
    loss: float
    loss_interval: tuple
    robust: float = None
    robust_interval: tuple = None

    @property
    def robust_verdict(self):
        """As `accuracy_verdict`, for robust accuracy (None when it was
        not measured)."""
        if self.robust_interval is None:
            return None
        return _verdict(self.robust_interval, higher_is_better=True)

    @property
    def accuracy_verdict(self):
        """"better", "worse" or "noise" (the interval includes 0)."""
        return _verdict(self.accuracy_interval, higher_is_better=True)

    @property
    def loss_verdict(self):
        return _verdict(self.loss_interval, higher_is_better=False)


def _verdict(interval, higher_is_better):
    low, high = interval
    if low > 0:
        return "better" if higher_is_better else "worse"
    if high < 0:
        return "worse" if higher_is_better else "better"
    return "noise"


def compare(runs, baseline_runs, seed=0):
    """`Comparison` of a recipe's runs with the baseline's (same seeds)."""
    by_seed = {r.seed: r for r in baseline_runs}
    pairs = [(r, by_seed[r.seed]) for r in runs if r.seed in by_seed]
    if not pairs:
        raise ValueError("no seed in common with the baseline")

    def stack(attr):
        mine = np.stack([getattr(r, attr) for r, _ in pairs])
        theirs = np.stack([getattr(b, attr) for _, b in pairs])
        return mine, theirs

    correct, base_correct = stack("test_correct")
    nll, base_nll = stack("test_nll")
    robust = robust_interval = None
    if all(getattr(r, "test_robust", None) is not None
           and getattr(b, "test_robust", None) is not None for r, b in pairs):
        mine, theirs = stack("test_robust")
        robust = float(mine.mean() - theirs.mean())
        robust_interval = paired_interval(mine, theirs, seed=seed)
    return Comparison(
        accuracy=float(correct.mean() - base_correct.mean()),
        accuracy_interval=paired_interval(correct, base_correct, seed=seed),
        loss=float(nll.mean() - base_nll.mean()),
        loss_interval=paired_interval(nll, base_nll, seed=seed),
        robust=robust,
        robust_interval=robust_interval,
    )
