"""Made-up lab results, for tests of what the lab writes."""

import numpy as np

from keras_regkit.lab.runner import RecipeResult


def fake_results(names=("baseline", "dropout", "augmentation")):
    """Two seeds of each recipe in `names`, with made-up histories."""
    rng = np.random.default_rng(0)
    results = []
    for name, rate in zip(names, (0.90, 0.95, 0.93, 0.92), strict=False):
        for seed in (0, 1):
            history = {
                "loss": list(np.linspace(1.0, 0.01, 12)),
                "val_loss": list(np.linspace(1.1, 0.3, 12)),
                "accuracy": list(np.linspace(0.5, 1.0, 12)),
                "val_accuracy": list(np.linspace(0.5, rate, 12)),
                "regkit/gap/loss": list(np.linspace(0.1, 0.29, 12)),
            }
            correct = rng.random(500) < rate
            results.append(RecipeResult(
                name, f"{name} recipe", 1.0, rate - 0.01, correct.mean(),
                0.01, 0.3, 0.3, 9, 12, 1234, 3.0, False, history, seed=seed,
                weights_epoch=12, test_correct=correct,
                test_nll=rng.random(500).astype("float32")))
    return results
