"""`keras-regkit lab sweep`: tune one regularization strength with KerasTuner.

The search is KerasTuner's `GridSearch` over a log-spaced (or, for rates,
linear) grid of the chosen strength, on top of a base recipe; the objective
is validation accuracy. The result is the best value, a table of every trial
and a plot of the validation metric against the strength.
"""

import copy
import dataclasses
import json
import math
import os

from keras_regkit.lab.errors import LabError

# strength name -> (how to put a value into a recipe, log scale?, range)
PARAMS = {
    "l2": ("kernel_regularizer.l2", True, (0.0, math.inf)),
    "l1": ("kernel_regularizer.l1", True, (0.0, math.inf)),
    "dropout": ("head.Dropout.rate", False, (0.0, 1.0)),
}


def apply_strength(recipe, param, value):
    """A copy of `recipe` with strength `param` set to `value`."""
    recipe = copy.deepcopy(recipe)
    recipe["name"] = f"{recipe['name']}-{param}={value:.3g}"
    if param in ("l1", "l2"):
        recipe["kernel_regularizer"] = {
            "class_name": "L1L2",
            "config": {"l1": 0.0, "l2": 0.0, param: float(value)},
        }
    else:
        head = [c for c in recipe["head"] if c.get("class_name") != "Dropout"]
        recipe["head"] = head + [
            {"class_name": "Dropout", "config": {"rate": float(value)}}
        ]
    return recipe


def check_range(param, low, high, trials):
    if param not in PARAMS:
        raise LabError(
            f"--param {param!r} is not tunable; choose one of "
            f"{', '.join(PARAMS)}."
        )
    log, (lo, hi) = PARAMS[param][1], PARAMS[param][2]
    if not (lo <= low < high) or (param == "dropout" and high >= hi):
        allowed = "0 < min < max" if log else "0 <= min < max < 1"
        raise LabError(
            f"--min {low} --max {high} is not a valid range for {param}: "
            f"need {allowed}."
        )
    if log and low <= 0:
        raise LabError(f"--min must be > 0 for the log-scale {param} sweep.")
    if trials < 2:
        raise LabError(f"--trials must be >= 2; got {trials}.")


def grid(param, low, high, trials):
    """The values tried: log-spaced for factors, linear for rates."""
    if PARAMS[param][1]:
        ratio = (high / low) ** (1.0 / (trials - 1))
        return [low * ratio**i for i in range(trials)]
    step = (high - low) / (trials - 1)
    return [low + step * i for i in range(trials)]


@dataclasses.dataclass
class SweepResult:
    param: str
    values: list
    scores: list
    best_value: float
    best_score: float
    objective: str


def run_sweep(
    base_recipe,
    data,
    param,
    low,
    high,
    trials,
    folder,
    epochs=20,
    batch_size=32,
    seed=0,
    jit_compile=True,
):
    """Searches `param` over `trials` values with KerasTuner's GridSearch."""
    import keras_tuner

    from keras_regkit.lab.built_recipe import BuiltRecipe
    from keras_regkit.lab.recipes import validate

    check_range(param, low, high, trials)
    base_recipe = validate(base_recipe)
    values = grid(param, low, high, trials)

    class RecipeModel(keras_tuner.HyperModel):
        """Each trial: the recipe with the trial's strength, built, compiled
        and trained with its own callbacks, exactly as `lab` trains it."""

        def build(self, hp):
            value = hp.Choice(param, values, ordered=True)
            self.built = BuiltRecipe.build(
                apply_strength(base_recipe, param, value), seed)
            model = self.built.model(data.input_shape, data.num_classes,
                                     data.vocabulary_size,
                                     data.sample_rate)
            return self.built.compile(model, jit_compile)

        def fit(self, hp, model, *args, callbacks=(), **kwargs):
            recipe_callbacks = self.built.callbacks(model, monitor=False)
            return model.fit(*args, callbacks=[*recipe_callbacks,
                                               *callbacks], **kwargs)

    tuner = keras_tuner.GridSearch(
        RecipeModel(),
        objective="val_accuracy",
        max_trials=trials,
        seed=seed,
        directory=folder,
        project_name="tuner",
        overwrite=True,
    )
    tuner.search(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
    )
    trials_done = [
        t for t in tuner.oracle.trials.values() if t.score is not None
    ]
    trials_done.sort(key=lambda t: t.hyperparameters.get(param))
    best = tuner.oracle.get_best_trials(1)[0]
    return SweepResult(
        param=param,
        values=[float(t.hyperparameters.get(param)) for t in trials_done],
        scores=[float(t.score) for t in trials_done],
        best_value=float(best.hyperparameters.get(param)),
        best_score=float(best.score),
        objective="val_accuracy",
    )


def edge_warning(result):
    """A warning line when the best value is the smallest or largest one
    tried (the best may lie outside the range), else None."""
    if len(result.values) < 2:
        return None
    if result.best_value == result.values[0]:
        side, option = "smallest", "--min"
    elif result.best_value == result.values[-1]:
        side, option = "largest", "--max"
    else:
        return None
    return (f"warning: the best {result.param} ({result.best_value:.4g}) is "
            f"the {side} value tried; the best may lie beyond it: widen the "
            f"range ({option}).")


def write_sweep_report(result, folder, meta):
    """sweep.png (metric against strength), sweep.json, sweep.md."""
    from keras_regkit.lab.report import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(result.values, result.scores, marker="o")
    ax.axvline(result.best_value, color="grey", linestyle=":",
               label=f"best {result.param}={result.best_value:.3g}")
    if PARAMS[result.param][1]:
        ax.set_xscale("log")
    ax.set_xlabel(result.param)
    ax.set_ylabel(f"best {result.objective} in the trial")
    ax.set_title(f"sweep of {result.param}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "sweep.png"), dpi=100)
    plt.close(fig)
    payload = {"meta": meta, "sweep": dataclasses.asdict(result)}
    with open(os.path.join(folder, "sweep.json"), "w") as f:
        json.dump(payload, f, indent=1)
    with open(os.path.join(folder, "summary.json"), "w") as f:
        json.dump({"meta": meta}, f, indent=1)
    lines = [
        f"# Sweep of {result.param}",
        "",
        meta["data"],
        "",
        f"Best {result.param}: **{result.best_value:.4g}** "
        f"({result.objective} {result.best_score:.4f}). "
        + (edge_warning(result) or ""),
        "",
        f"| {result.param} | {result.objective} |",
        "|---|---|",
        *[f"| {v:.4g} | {s:.4f} |" for v, s in
          zip(result.values, result.scores, strict=True)],
        "",
        "![validation metric against strength](sweep.png)",
    ]
    with open(os.path.join(folder, "sweep.md"), "w") as f:
        f.write("\n".join(lines))
