"""The regularization lab: train under several recipes, report overfitting.

Run it from the shell (`keras-regkit lab`) or from Python:

    from keras_regkit.lab import load_dataset, load_recipes, run_recipe
    data = load_dataset("digits", train_size=300)
    results = [run_recipe(r, data, epochs=20) for r in load_recipes("l2")]
    # several seeds, compiled once; write_report compares with "baseline"
    runs = run_recipe_seeds(load_recipes("baseline")[0], data, [0, 1, 2])

Nothing heavy is imported until these functions are used.
"""

from keras_regkit import _registration
from keras_regkit.lab.errors import LabError


def load_dataset(*args, **kwargs):
    """See `keras_regkit.lab.data.load_dataset`."""
    from keras_regkit.lab.data import load_dataset as load

    return load(*args, **kwargs)


def load_recipes(spec=None):
    """See `keras_regkit.lab.recipes.load`."""
    from keras_regkit.lab.recipes import load

    return load(spec)


def run_recipe(*args, **kwargs):
    """See `keras_regkit.lab.runner.run_recipe`."""
    from keras_regkit.lab.runner import run_recipe as run

    return run(*args, **kwargs)


def run_recipe_seeds(*args, **kwargs):
    """See `keras_regkit.lab.runner.run_recipe_seeds`."""
    from keras_regkit.lab.runner import run_recipe_seeds as run

    return run(*args, **kwargs)


def write_report(folder, results, recipes, meta):
    """See `keras_regkit.lab.report.write_report`."""
    from keras_regkit.lab.report import write_report as write

    return write(folder, results, recipes, meta)


__all__ = [
    "LabError",
    "load_dataset",
    "load_recipes",
    "run_recipe",
    "run_recipe_seeds",
    "write_report",
]

# Last: registers our classes with Keras if this import loaded it.
_registration.package_loaded(__name__)
