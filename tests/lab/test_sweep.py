"""`lab sweep` trains what the recipe says: its step and its callbacks."""

import glob
import json
import os

import pytest

from keras_regkit import lab
from keras_regkit.lab.sweep import run_sweep

pytestmark = pytest.mark.slow


def _logged_metrics(folder):
    """Every metric KerasTuner recorded, over all trials."""
    names = set()
    for path in glob.glob(os.path.join(folder, "tuner", "trial_*",
                                       "trial.json")):
        with open(path) as f:
            names |= set(json.load(f)["metrics"]["metrics"])
    return names


def test_sweep_over_a_step_recipe_runs_the_step_and_its_callbacks(tmp_path):
    recipe = {
        "name": "sam_with_stopping",
        "step": [{"class_name": "SAM", "config": {"rho": 0.05}}],
        "callbacks": [{"class_name": "EarlyStopping",
                       "config": {"monitor": "val_loss", "patience": 5}}],
    }
    data = lab.load_dataset("digits", train_size=64)
    result = run_sweep(recipe, data, "l2", 1e-4, 1e-2, 2, str(tmp_path),
                       epochs=1, batch_size=32)
    assert len(result.scores) == 2
    logged = _logged_metrics(str(tmp_path))
    assert "sam_sharpness" in logged  # the SAM step ran
    assert "early_stopping/wait" in logged  # our EarlyStopping ran


def test_edge_warning_when_the_best_is_at_either_end_of_the_range():
    from keras_regkit.lab.sweep import SweepResult
    from keras_regkit.lab.sweep import edge_warning

    def result(best):
        return SweepResult("l2", [1e-6, 1e-4, 1e-2], [0.9, 0.8, 0.7], best,
                           0.9, "val_accuracy")

    assert "smallest value tried" in edge_warning(result(1e-6))
    assert "--min" in edge_warning(result(1e-6))
    assert "largest value tried" in edge_warning(result(1e-2))
    assert "--max" in edge_warning(result(1e-2))
    assert edge_warning(result(1e-4)) is None
