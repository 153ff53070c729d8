"""Every public constructor and function, swept with arguments that no
argument of their kind accepts: each is refused at once with a
`TypeError` or `ValueError` that names the argument, never accepted and
never a raw error from deep inside.

The sweep is enumerated (every numeric, bool and string argument of every
public class and function, with NaN, infinities, a string, None, a list,
a bool where a number goes); `hypothesis` adds numbers of every size and
sign, as Python, NumPy scalars and 0-d arrays, for the function forms.
`python tests/test_argument_sweep.py` prints the counts.
"""

import inspect
import math
import warnings

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_regkit import callbacks
from keras_regkit import layers
from keras_regkit import regularizers
from keras_regkit import schedules
from keras_regkit import training

MODULES = (layers, regularizers, training, callbacks, schedules)


def _required():
    """Valid values for the arguments without a default."""
    x = keras.ops.ones((2, 4, 4, 1))
    ids = keras.ops.convert_to_tensor([[3, 5, 0]])
    g = [keras.ops.convert_to_tensor([3.0, 4.0])]
    return {
        "Augment": {"layers": [layers.RandomFlip()]},
        "DropConnect": {"layer": keras.layers.Dense(2)},
        "RandomApply": {"layer": layers.RandomFlip()},
        "RandomChoice": {"layers": [layers.RandomFlip()]},
        "StochasticResidual": {"layer": keras.layers.Dense(1)},
        "EmbeddingDropout": {"input_dim": 10, "output_dim": 2},
        "Embedding": {"input_dim": 10, "output_dim": 2},
        "looked_up_rows_penalty": {"rows": keras.ops.ones((1, 3, 2)),
                                   "ids": ids, "input_dim": 10},
        "TimeMasking": {"max_width": 2},
        "FrequencyMasking": {"max_width": 2},
        "TimeWarp": {"max_warp": 2},
        "RandomCrop": {"height": 2, "width": 2},
        "RandomResizedCrop": {"height": 2, "width": 2},
        "RandomTranslation": {"height_factor": 0.1, "width_factor": 0.1},
        "RandomZoom": {"height_factor": 0.1},
        "AdversarialTraining": {"epsilon": 0.1},
        "BackupAndRestore": {"backup_dir": "backup"},
        "SWA": {"start_epoch": 1},
        "RobustnessMonitor": {"x": np.zeros((2, 2)), "y": np.zeros(2),
                              "epsilons": [0.1]},
        "Linear": {"start": 0.0, "end": 1.0, "duration": 5},
        "Cosine": {"start": 0.0, "end": 1.0, "duration": 5},
        "Exponential": {"start": 1.0, "rate": 0.5},
        "InverseDecay": {"start": 1.0},
        "Piecewise": {"boundaries": [2], "values": [0.0, 1.0]},
        "drop_block_2d": {"inputs": x, "block_size": 2, "seed": 1},
        "drop_path": {"inputs": x, "seed": 1},
        "dropout": {"inputs": x, "seed": 1},
        "gaussian_dropout": {"inputs": x, "seed": 1},
        "embedding_dropout": {"embedded": keras.ops.ones((1, 3, 2)),
                              "token_ids": ids, "seed": 1,
                              "vocabulary_size": 10},
        "token_dropout": {"token_ids": ids, "seed": 1},
        "stochastic_residual": {"inputs": keras.ops.ones((4, 3)),
                                "branch": lambda t: t, "seed": 1},
        "drop_path_rates": {"max_rate": 0.2, "depth": 3},
        "clip_gradients": {"gradients": g},
        "adaptive_clip": {"gradient": g[0], "weight": g[0]},
        "sam_perturbation": {"gradients": g, "weights": g},
        "fgsm": {"inputs": g[0], "input_gradient": g[0]},
        "pgd": {"inputs": g[0], "gradient": lambda v: v, "steps": 1,
                "step_size": 0.1},
        "project": {"inputs": g[0], "adversarial": g[0]},
        "kl_divergence": {"clean": keras.ops.ones((2, 3)) / 3.0,
                          "adversarial": keras.ops.ones((2, 3)) / 3.0},
    }


# A rate or factor the call needs where the signature has no default.
_NUMERIC_REQUIRED = {
    "rate": 0.1, "factor": 0.1, "epsilon": 0.1, "clipping": 0.1,
    "rho": 0.05,
}
# Not swept: Keras's own base arguments, and arguments that take anything
# of several kinds (layers, models, data, configs).
_NOT_SWEPT = {"name", "dtype", "seed", "kwargs", "args", "value_range",
              "noise_shape", "exclude", "include", "boundaries", "values"}
# Callables whose arguments are objects, not settings.
_OBJECTS = {"get", "serialize", "deserialize", "regularize", "Regularized",
            "RegularizedModel", "StepBatch", "StepComponent", "Schedule",
            "Regularizer", "KerasSchedule", "Join", "mc_predict",
            "recompute_batch_norm", "affine_transform", "jensen_shannon",
            "evaluate_robustness", "RobustnessResult",
            "symmetric_kl"}


def _subjects():
    """`(name, callable, base_kwargs, parameters)` of every public
    constructor and function, `base_kwargs` valid."""
    required = _required()
    found = []
    for module in MODULES:
        for name in module.__all__:
            target = getattr(module, name)
            if name in _OBJECTS or not callable(target):
                continue
            signature = inspect.signature(target)
            base = dict(required.get(name, {}))
            for p in signature.parameters.values():
                if (p.default is p.empty and p.name not in base
                        and p.name in _NUMERIC_REQUIRED):
                    base[p.name] = _NUMERIC_REQUIRED[p.name]
            found.append((name, target, base, signature.parameters))
    return found


def _bad_values(default):
    """Values no argument with this default accepts."""
    if isinstance(default, bool):
        return ["yes", 1.5, float("nan"), [True]]
    if isinstance(default, (int, float)):
        return [float("nan"), float("inf"), -float("inf"), "1", [1]]
    if isinstance(default, str):
        return [123, 1.5, ["x"], "no-such-choice"]
    return []


# Free text, or a string argument that also takes a number.
_ANY_STRING = {"backup_dir", "monitor", "metric", "weights_path"}
_ALSO_VALID = {("BackupAndRestore", "save_freq"): (123,)}


def _cases():
    for name, target, base, parameters in _subjects():
        for p in parameters.values():
            if p.name in _NOT_SWEPT or p.kind in (p.VAR_KEYWORD,
                                                  p.VAR_POSITIONAL):
                continue
            default = base.get(p.name, p.default)
            for value in _bad_values(default):
                if value == "no-such-choice" and p.name in _ANY_STRING:
                    continue
                if value in _ALSO_VALID.get((name, p.name), ()):
                    continue
                yield name, target, base, p.name, value


def _outcome(target, base, argument, value):
    """`"refused"` (a TypeError or ValueError naming the argument),
    `"accepted"` or `"raw"` (any other error)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            target(**{**base, argument: value})
    except (TypeError, ValueError) as error:
        return "refused" if argument in str(error) else "raw"
    except Exception:  # noqa: BLE001 - anything else is the defect counted
        return "raw"
    return "accepted"


def sweep():
    """`{outcome: [(callable, argument, value), ...]}` over every case."""
    outcomes = {"refused": [], "accepted": [], "raw": []}
    for name, target, base, argument, value in _cases():
        outcome = _outcome(target, base, argument, value)
        outcomes[outcome].append((name, argument, value))
    return outcomes


def test_every_public_argument_refuses_values_of_no_kind(tmp_path,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)  # BackupAndRestore's folder, if made
    outcomes = sweep()
    # The callbacks guide says "over a thousand cases".
    assert len(outcomes["refused"]) > 1000
    assert outcomes["accepted"] == []
    assert outcomes["raw"] == []


_FUNCTIONS = {
    "dropout": (lambda r: layers.dropout(keras.ops.ones((2, 3)), r, 1),
                lambda r: 0 <= r < 1),
    "drop_path": (lambda r: layers.drop_path(keras.ops.ones((2, 3)), r, 1),
                  lambda r: 0 <= r < 1),
    "gaussian_dropout": (
        lambda r: layers.gaussian_dropout(keras.ops.ones((2, 3)), r, 1),
        lambda r: 0 <= r < 1),
    "clip_gradients": (
        lambda v: training.clip_gradients(
            [keras.ops.ones((2,))], clipnorm=v), lambda v: v > 0),
    "sam_perturbation": (
        lambda v: training.sam_perturbation(
            [keras.ops.ones((2,))], [keras.ops.ones((2,))], v),
        lambda v: 0 <= v <= 100),
    "fgsm": (lambda v: training.fgsm(keras.ops.ones((2,)),
                                     keras.ops.ones((2,)), v),
             lambda v: v >= 0),
}
# Numbers of every size float32 holds, and the non-finite ones.
_NUMBERS = st.one_of(
    st.floats(-1e30, 1e30),
    st.integers(-10**12, 10**12),
    st.sampled_from([0.0, -0.0, 1.0, 0.999999, 1e-30, -1e-9, float("nan"),
                     float("inf"), -float("inf")]))
_FORMS = st.sampled_from([float, np.float32, np.float64, np.array])


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(_FUNCTIONS)), _NUMBERS, _FORMS)
def test_function_forms_check_numbers_as_the_classes_do(name, number, form):
    """Python and NumPy numbers and 0-d arrays alike: a valid one gives a
    finite result, any other is refused naming the argument."""
    call, valid = _FUNCTIONS[name]
    value = form(number)
    if math.isfinite(number) and valid(float(np.float32(number))
                                       if form is np.float32 else number):
        result = call(value)
        result = result[0] if isinstance(result, (tuple, list)) else result
        result = result[0] if isinstance(result, (tuple, list)) else result
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(result)))
    else:
        with pytest.raises((TypeError, ValueError), match="argument `"):
            call(value)


if __name__ == "__main__":
    counts = sweep()
    for outcome, cases in counts.items():
        print(f"{outcome}: {len(cases)}")
        if outcome != "refused":
            for case in cases:
                print("   ", case)
