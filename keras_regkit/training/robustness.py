"""Measuring robustness: accuracy under FGSM and PGD attacks.

`evaluate_robustness` attacks a trained classifier batch by batch, each
batch's attack one compiled program (a TensorFlow graph, `jax.jit`; torch
eagerly), and reports clean and robust accuracy per attack and radius,
with the attack's strength (steps, restarts) and warnings where the
gradients look masked. `callbacks.RobustnessMonitor` logs the same during
`fit`.
"""

import dataclasses
import math
import warnings

import keras
import numpy as np
from keras import ops

from keras_regkit import _checks as checks
from keras_regkit.training.adversarial import _NORMS
from keras_regkit.training.adversarial import fgsm
from keras_regkit.training.adversarial import pgd
from keras_regkit.training.train_step import _executor

_ATTACKS = ("fgsm", "pgd")


@dataclasses.dataclass
class RobustnessResult:
    """What `evaluate_robustness` measured.

    Attributes:
        clean: accuracy on the clean examples.
        robust: `{(attack, epsilon): accuracy}` on the attacked examples
            (with restarts, an example counts as robust only if every
            restart fails).
        settings: the attack's strength: norm, steps, restarts, step size
            rule, examples.
        warnings: signs of masked gradients, one sentence each.
        per_example: `{"clean": bool array, (attack, epsilon): bool
            array}`, each example's outcome (for paired statistics).
    """

    clean: float
    robust: dict
    settings: dict
    warnings: list
    per_example: dict = dataclasses.field(default_factory=dict, repr=False)

    def logs(self, prefix="robust"):
        """Flat `{name: accuracy}` for `History`: `<prefix>/clean` and
        `<prefix>/<attack>@<epsilon>`."""
        out = {f"{prefix}/clean": self.clean}
        for (attack, epsilon), accuracy in self.robust.items():
            out[f"{prefix}/{attack}@{epsilon:g}"] = accuracy
        return out


def _labels(y):
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] > 1:
        return y.argmax(axis=-1).astype("int32")
    return y.reshape(len(y)).astype("int32")


def _masking_warnings(result):
    found = []
    epsilons = sorted({e for _, e in result.robust})
    for epsilon in epsilons:
        weak = result.robust.get(("fgsm", epsilon))
        strong = result.robust.get(("pgd", epsilon))
        if weak is not None and strong is not None and strong > weak:
            found.append(
                f"PGD is weaker than FGSM at epsilon={epsilon:g} "
                f"({strong:.3f} against {weak:.3f} robust accuracy): the "
                "gradients may be masked, or PGD's steps too few or too "
                "small.")
    for attack in _ATTACKS:
        values = [(e, result.robust[(attack, e)]) for e in epsilons
                  if (attack, e) in result.robust]
        for (e1, a1), (e2, a2) in zip(values, values[1:], strict=False):
            if a2 > a1:
                found.append(
                    f"{attack} robust accuracy rises with epsilon "
                    f"({a1:.3f} at {e1:g}, {a2:.3f} at {e2:g}): the "
                    "gradients may be masked.")
    return found


def check_settings(owner, epsilons, attacks, steps, restarts, step_size,
                   norm, value_range, batch_size, seed):
    """`evaluate_robustness`'s settings, checked (one error naming the
    argument), as a dict of its keyword arguments."""
    if not isinstance(attacks, (list, tuple)) or not attacks or any(
            a not in _ATTACKS for a in attacks):
        raise checks.invalid(owner, "attacks", attacks,
                             f"a non-empty list of {_ATTACKS}")
    if not isinstance(epsilons, (list, tuple)) or not epsilons or not all(
            checks.is_number(e) and math.isfinite(e) and e >= 0
            for e in epsilons):
        raise checks.invalid(owner, "epsilons", epsilons,
                             "a non-empty list of floats >= 0")
    steps = checks.integer(owner, "steps", steps, minimum=1, maximum=100)
    restarts = checks.integer(owner, "restarts", restarts, minimum=1,
                              maximum=100)
    norm = checks.choice(owner, "norm", norm, _NORMS)
    batch_size = checks.integer(owner, "batch_size", batch_size, minimum=1)
    seed = checks.integer(owner, "seed", seed)
    if step_size is not None:
        step_size = checks.number(owner, "step_size", step_size,
                                  lambda v: v > 0, "None or a float > 0")
    if value_range is not None:
        value_range = tuple(float(v)
                            for v in checks.value_range(owner, value_range))
    return {"epsilons": list(epsilons), "attacks": tuple(attacks),
            "steps": steps, "restarts": restarts, "step_size": step_size,
            "norm": norm, "value_range": value_range,
            "batch_size": batch_size, "seed": seed}


def evaluate_robustness(model, x, y, epsilons, attacks=("fgsm", "pgd"),
                        steps=10, restarts=1, step_size=None, norm="inf",
                        value_range=None, loss=None, batch_size=128,
                        seed=0):
    """Clean and robust accuracy of a classifier under FGSM and PGD.

    Args:
        model: a Keras classifier, in inference mode during the attacks.
        x: inputs, a NumPy array.
        y: integer labels `(n,)` or one-hot `(n, classes)`.
        epsilons: list of radii (input units), each attacked separately.
        attacks: subset of `("fgsm", "pgd")`. Defaults to both.
        steps: int >= 1, PGD's steps. Defaults to `10`.
        restarts: int >= 1, PGD's random starts; an example is robust
            only if every one fails. Defaults to `1`.
        step_size: float > 0 or None for `2.5 * epsilon / steps`.
            Defaults to `None`.
        norm: `"inf"` or `"2"`. Defaults to `"inf"`.
        value_range: `(low, high)` the attacked inputs are clipped to, or
            None. Defaults to `None`.
        loss: the loss the attacks ascend, or None for the model's
            compiled loss. Defaults to `None`.
        batch_size: int >= 1. Defaults to `128`.
        seed: int, for PGD's random starts. Defaults to `0`.

    Returns:
        A `RobustnessResult`; its warnings are also issued as
        `UserWarning`s.

    Raises:
        ValueError: an argument is out of range, or the model has no loss.

    Examples:

        >>> import numpy as np
        >>> inputs = keras.Input((2,))
        >>> model = keras.Model(inputs, keras.layers.Dense(
        ...     2, kernel_initializer="identity")(inputs))
        >>> model.compile(loss=keras.losses.SparseCategoricalCrossentropy(
        ...     from_logits=True))
        >>> x = np.array([[1.0, 0.0], [0.0, 0.3]], "float32")
        >>> result = evaluate_robustness(model, x, np.array([0, 1]), [0.2],
        ...                              attacks=("pgd",), steps=5)
        >>> result.clean, result.robust[("pgd", 0.2)]
        (1.0, 0.5)
    """
    owner = "evaluate_robustness"
    settings = check_settings(owner, epsilons, attacks, steps, restarts,
                              step_size, norm, value_range, batch_size, seed)
    epsilons, attacks, steps = (settings["epsilons"], settings["attacks"],
                                settings["steps"])
    restarts, step_size, norm = (settings["restarts"],
                                 settings["step_size"], settings["norm"])
    value_range, batch_size = settings["value_range"], settings["batch_size"]
    seed = settings["seed"]
    loss = loss if loss is not None else getattr(model, "loss", None)
    loss = keras.losses.get(loss) if isinstance(loss, str) else loss
    if not callable(loss):
        raise ValueError(
            f"{owner} needs a loss to attack: compile the model or pass "
            "`loss=` (e.g. keras.losses.SparseCategoricalCrossentropy("
            "from_logits=True)).")
    x = np.asarray(x, "float32")
    labels = _labels(y)
    if len(x) != len(labels) or len(x) == 0:
        raise ValueError(
            f"{owner}: x and y must hold the same number (> 0) of examples; "
            f"received {len(x)} and {len(labels)}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{owner}: x holds {np.sum(~np.isfinite(x))} "
                         "NaN or infinite values.")
    executor = _executor(owner).Executor

    def gradient(inputs, targets):
        def objective(v):
            return loss(targets, model(v, training=False)), None

        return executor.value_and_grad(objective, inputs)[1]

    def correct(inputs, targets):
        predicted = ops.argmax(model(inputs, training=False), axis=-1)
        return ops.equal(ops.cast(predicted, "int32"),
                         ops.cast(targets, "int32"))

    def attacked(inputs, targets, epsilon, noise, use_pgd):
        if not use_pgd:
            adversarial = fgsm(inputs, gradient(inputs, targets), epsilon,
                               value_range)
            return correct(adversarial, targets)
        size = (2.5 * epsilon / steps if step_size is None else step_size)
        robust = None
        for restart in range(restarts):
            start = inputs + epsilon * noise[restart]
            if value_range is not None:
                start = ops.clip(start, *value_range)
            adversarial = pgd(inputs, lambda v: gradient(v, targets),
                              epsilon, steps, size, norm, start, value_range)
            now = correct(adversarial, targets)
            robust = now if robust is None else ops.logical_and(robust, now)
        return robust

    fgsm_program = executor.compiled(
        lambda inputs, targets, epsilon: attacked(inputs, targets, epsilon,
                                                  None, False))
    pgd_program = executor.compiled(
        lambda inputs, targets, epsilon, noise: attacked(
            inputs, targets, epsilon, noise, True))
    clean_program = executor.compiled(correct)
    rng = np.random.default_rng(seed)
    outcomes = {"clean": []}
    outcomes.update({(a, float(e)): [] for a in attacks for e in epsilons})
    for begin in range(0, len(x), batch_size):
        xb = ops.convert_to_tensor(x[begin:begin + batch_size])
        yb = ops.convert_to_tensor(labels[begin:begin + batch_size])
        outcomes["clean"].append(clean_program(xb, yb))
        for epsilon in epsilons:
            eps = ops.convert_to_tensor(float(epsilon), "float32")
            if "fgsm" in attacks:
                outcomes[("fgsm", float(epsilon))].append(
                    fgsm_program(xb, yb, eps))
            if "pgd" in attacks:
                noise = _starts(rng, restarts, tuple(xb.shape), norm)
                outcomes[("pgd", float(epsilon))].append(
                    pgd_program(xb, yb, eps, noise))
    outcomes = {key: np.concatenate([ops.convert_to_numpy(v)
                                     for v in values])
                for key, values in outcomes.items()}
    clean = outcomes.pop("clean")
    result = RobustnessResult(
        clean=float(clean.mean()),
        robust={key: float(v.mean()) for key, v in outcomes.items()},
        per_example={"clean": clean, **outcomes},
        settings={"norm": norm, "steps": steps, "restarts": restarts,
                  "step_size": ("2.5 * epsilon / steps" if step_size is None
                                else step_size),
                  "examples": len(x)},
        warnings=[])
    result.warnings = _masking_warnings(result)
    for message in result.warnings:
        warnings.warn(message, stacklevel=2)
    return result


def _starts(rng, restarts, shape, norm):
    """PGD's random starts, as offsets in the unit ball (scaled by epsilon
    in the compiled attack): uniform in the L-inf cube, or a random
    direction at a uniform radius for L2."""
    if norm == "inf":
        noise = rng.uniform(-1.0, 1.0, size=(restarts, *shape))
    else:
        noise = rng.normal(size=(restarts, *shape))
        norms = np.sqrt(np.sum(noise.reshape(restarts, shape[0], -1) ** 2,
                               axis=-1))
        radius = rng.uniform(size=(restarts, shape[0]))
        noise = noise / np.maximum(norms, 1e-12).reshape(
            restarts, shape[0], *([1] * (len(shape) - 1)))
        noise = noise * radius.reshape(restarts, shape[0],
                                       *([1] * (len(shape) - 1)))
    return ops.convert_to_tensor(noise.astype("float32"))

