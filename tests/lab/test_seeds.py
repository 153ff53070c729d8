"""Several seeds per recipe: one compiled model, the same numbers as fresh
runs, and statistics that tell an effect from noise."""

import numpy as np
import pytest

from keras_regkit.lab import load_dataset
from keras_regkit.lab import load_recipes
from keras_regkit.lab.runner import SeedRunner
from keras_regkit.lab.runner import run_recipe
from keras_regkit.lab.stats import compare
from keras_regkit.lab.stats import mean_std
from keras_regkit.lab.stats import paired_interval


@pytest.mark.slow
@pytest.mark.parametrize("name", ["combined", "gap_controller"])
def test_reused_model_gives_the_numbers_of_a_fresh_one(name):
    # combined: augmentation, dropout, a scheduled L2 and early stopping;
    # gap_controller: a controller that moves strengths (reset per seed).
    data = load_dataset("digits", train_size=64)
    recipe = load_recipes(name)[0]
    runner = SeedRunner(recipe, data, epochs=3)
    reused = [runner.run(seed) for seed in (0, 1)]
    model = runner._model
    fresh = run_recipe(recipe, data, epochs=3, seed=1)
    assert runner._model is model  # compiled once
    assert reused[1].seed == 1
    for key in ("loss", "val_loss", "accuracy"):
        np.testing.assert_allclose(reused[1].history[key],
                                   fresh.history[key], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(reused[1].test_correct, fresh.test_correct)
    np.testing.assert_allclose(reused[1].test_nll, fresh.test_nll,
                               rtol=1e-4, atol=1e-6)
    # Different seeds really differ.
    assert reused[0].history["loss"] != reused[1].history["loss"]


def test_paired_interval_separates_an_effect_from_noise():
    rng = np.random.default_rng(0)
    base = rng.random((3, 2000)) < 0.90
    better = base | (rng.random((3, 2000)) < 0.5)  # fixes half the errors
    low, high = paired_interval(better, base)
    assert 0 < low < better.mean() - base.mean() < high
    same = rng.random((3, 2000)) < 0.90  # another draw at the same rate
    low, high = paired_interval(same, base)
    assert low < 0 < high
    # Reproducible from its seed.
    assert paired_interval(same, base, seed=3) == paired_interval(
        same, base, seed=3)


def test_interval_is_wider_when_seeds_disagree():
    rng = np.random.default_rng(1)
    base = rng.random((4, 1000)) < 0.9
    steady = base.copy()
    steady[:, :20] = True  # +2 points on every seed
    shaky = base.copy()
    shaky[:2, :40] = True  # +4 points on two seeds, 0 on two
    width = [np.subtract(*paired_interval(x, base)[::-1])
             for x in (steady, shaky)]
    assert width[1] > width[0]


def test_compare_pairs_runs_by_seed():
    class Run:
        def __init__(self, seed, correct, nll):
            self.seed = seed
            self.test_correct = np.array(correct, bool)
            self.test_nll = np.array(nll, "float32")

    base = [Run(0, [1, 0, 0, 1], [0.1, 2.0, 2.0, 0.1]),
            Run(1, [1, 1, 0, 1], [0.1, 0.2, 2.0, 0.1])]
    runs = [Run(1, [1, 1, 1, 1], [0.1] * 4), Run(0, [1, 1, 0, 1], [0.1] * 4)]
    result = compare(runs, base)
    assert result.accuracy == pytest.approx(7 / 8 - 5 / 8)
    assert result.loss < 0 and result.loss_verdict in {"better", "noise"}
    assert result.accuracy_interval[0] <= result.accuracy
    with pytest.raises(ValueError, match="no seed in common"):
        compare([Run(5, [1], [0.1])], base)


def test_mean_std():
    assert mean_std([0.5]) == (0.5, 0.0)
    mean, std = mean_std([1.0, 3.0])
    assert (mean, std) == (2.0, pytest.approx(np.sqrt(2)))
